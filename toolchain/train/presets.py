"""Default training settings per task (used by ``spikeline train`` and benchmarks/train_accuracy.py).

Each preset is a dict of :class:`~toolchain.train.trainer.TrainConfig` fields; anything can be
overridden. The values were chosen with short runs on the validation split (never the test split).
"""

from __future__ import annotations

from typing import Any

from hw_models.errors import InputError
from toolchain.data import task_names
from toolchain.train.trainer import TrainConfig

PRESETS: dict[str, dict[str, Any]] = {
    # Yin-Yang on a 0.25 ms grid (the latency code 10-40 ms gets 120 levels; on a 1 ms grid an SVM on
    # the snapped features tops out near 96.6 %), tau_syn = tau(4) = 3.9 ms, tau_mem = tau(6) = 15.9 ms
    # (EventProp's 5 / 20 ms ratio), leaky-integrator readout (tau(7) = 31.9 ms) with the
    # integrated-voltage CE; readout weights start near zero so the hidden layer is not silenced early.
    "yinyang": {"dt": 0.25e-3, "hidden": [200], "dash_syn": [4, 4], "dash_mem": [6, 7],
                "init_psp": [[0.25, 0.12], [0.0, 0.001]], "loss": "integrated-voltage",
                "loss_options": {"gain": 5.0}, "t_end": 0.06, "epochs": 60, "batch_size": 32,
                "lr": 1e-3, "gamma": 0.97},
    # digits: 8 rows as 8 steps of 1 ms, leaky-integrator readout, max-voltage CE (10 classes on
    # 8 readouts through the Hadamard output code of toolchain.train.coding).
    "digits": {"dt": 1e-3, "hidden": [200], "dash_syn": [1, 2], "dash_mem": [2, 4],
               "init_psp": [[0.15, 0.15], [0.0, 0.05]], "loss": "max-voltage",
               "loss_options": {"gain": 2.0}, "t_end": 0.02, "epochs": 40, "batch_size": 32, "lr": 1e-3,
               "gamma": 0.97},
    # FSDD: 13 MFCCs rate coded, one 10 ms frame per step, integrated-voltage CE on 8 coded readouts.
    "fsdd": {"dt": 10e-3, "hidden": [200], "dash_syn": [1, 2], "dash_mem": [2, 4],
             "init_psp": [[0.1, 0.1], [0.0, 0.05]], "loss": "integrated-voltage",
             "loss_options": {"gain": 2.0}, "t_end": 0.95, "epochs": 30, "batch_size": 32, "lr": 1e-3,
             "gamma": 0.97},
}


def preset_config(task: str, **overrides: Any) -> TrainConfig:
    """The preset of ``task`` with ``overrides`` applied (unknown names raise HyperparameterError)."""
    if task not in PRESETS:
        raise InputError(f"unknown task {task!r}; valid tasks: {', '.join(task_names())}")
    return TrainConfig.from_dict({"task": task, **PRESETS[task], **overrides})
