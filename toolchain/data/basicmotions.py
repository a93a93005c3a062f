"""BasicMotions (UEA archive): a smartwatch's 3-axis accelerometer and 3-axis gyroscope, 10 Hz for 10 s
(100 frames x 6 channels), 4 activities, 40 training / 40 test recordings (the archive's split), read
from the ``aeon`` package's bundled copy (offline; ``pip install aeon``)."""

from __future__ import annotations

import numpy as np

from toolchain.data.errors import DatasetUnavailable

#: the archive's class labels, in the order of our integer labels
CLASSES = ("standing", "walking", "running", "badminton")
CHANNELS = ("accel x", "accel y", "accel z", "gyro x", "gyro y", "gyro z")
FRAME = 0.1  # seconds between frames (10 Hz)
INSTALL = "pip install aeon"


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(series (n, 100, 6) float64, labels (n,) int64)`` of the archive's ``"train"`` or ``"test"`` split."""
    try:
        from aeon.datasets import load_classification
    except ImportError:
        raise DatasetUnavailable(f"BasicMotions ships inside the aeon package, which is not installed; install "
                                 f"it with: {INSTALL}") from None
    x, y = load_classification("BasicMotions", split=split)
    labels = np.array([CLASSES.index(str(v).lower()) for v in y], np.int64)
    return np.transpose(np.asarray(x, np.float64), (0, 2, 1)), labels
