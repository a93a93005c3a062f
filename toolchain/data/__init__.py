"""Data sets and encoders: Yin-Yang, scikit-learn digits and FSDD, encoded to input spike trains.

    >>> from toolchain.data import load_task
    >>> task = load_task("yinyang")
    >>> times, channels = task.train.inputs[0]
"""

from toolchain.data.errors import DatasetUnavailable
from toolchain.data.spikes import (
                                   SpikeTrain,
                                   check_batch,
                                   check_spike_train,
                                   from_raster,
                                   make_spike_train,
                                   snap_spike_train,
                                   snap_times,
                                   to_raster,
)
from toolchain.data.tasks import Split, Task, class_names, load_task, task_names, task_options

__all__ = [
    "DatasetUnavailable", "SpikeTrain", "Split", "Task", "check_batch", "check_spike_train", "class_names",
    "from_raster", "load_task", "make_spike_train", "snap_spike_train", "snap_times", "task_names", "task_options",
    "to_raster",
]
