"""A task's samples as a network sees them: the data channels plus optional clock channels, as spike trains
for the float model and as count rasters on the chip's step grid.

The trainer, the compiler's calibration and ``verify`` all build their inputs here, so a sample flows
data -> compile -> simulate exactly as it was trained on.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from hw_models.chips import get_chip
from hw_models.errors import InputError, Violation
from toolchain.data.spikes import to_raster
from toolchain.data.tasks import Task, load_task
from toolchain.lif.forward import as_sample
from toolchain.network import Network


class ClockSettings(Protocol):
    """What the clock channels depend on (a :class:`~toolchain.train.trainer.TrainConfig` has all three)."""

    clock: bool
    chip: str
    dt: float


def clock_period(config: ClockSettings, task: Task) -> float:
    """Seconds between clock ticks: the task's frame, else one step."""
    return task.frame if task.frame is not None else config.dt


def clock_ticks(config: ClockSettings, task: Task) -> int:
    """Number of clock channels (0 without ``config.clock``): one per frame of the input window (the
    task's ``frame``; one per step for tasks without frames)."""
    if not config.clock:
        return 0
    n_ticks = int(round(task.duration / clock_period(config, task)))
    limit = get_chip(config.chip).n_inputs
    if task.n_inputs + n_ticks > limit:
        from toolchain.train.errors import raise_hyperparameter_violations

        raise_hyperparameter_violations([Violation(
            "clock", f"{task.n_inputs} data channels + {n_ticks} clock channels exceed {config.chip}'s {limit} "
            "inputs", value=task.n_inputs + n_ticks, limit=limit, hint="train without the clock")])
    return n_ticks


def with_clock(sample, first_channel: int, n_ticks: int, period: float) -> tuple[np.ndarray, np.ndarray]:
    """``sample`` plus one spike on channel ``first_channel + k`` at ``k * period`` for every tick ``k``: a
    clock that tells hidden neurons *when* (which row, which frame) an input event arrives."""
    times, channels = sample
    times = np.concatenate([np.asarray(times, np.float64), np.arange(n_ticks) * period])
    channels = np.concatenate([np.asarray(channels, np.int64), first_channel + np.arange(n_ticks)])
    order = np.lexsort((channels, times))
    return times[order], channels[order]


def task_inputs(config: ClockSettings, task: Task, split: str, limit: int | None = None) -> tuple[list, np.ndarray]:
    """Validated samples (with the clock, if configured) and labels of a split (first ``limit`` only)."""
    data = task.split(split)
    n = len(data) if limit is None else min(len(data), limit)
    n_clock = clock_ticks(config, task)
    samples = []
    for i in range(n):
        sample = data.inputs[i]
        if n_clock:
            sample = with_clock(sample, task.n_inputs, n_clock, clock_period(config, task))
        samples.append(as_sample(sample, task.n_inputs + n_clock, i))
    return samples, np.asarray(data.labels[:n])


def trial_rasters(samples, dt: float, n_inputs: int, t_end: float) -> np.ndarray:
    """Count rasters ``(B, ceil(t_end / dt), n_inputs)`` of spike trains (``(times, channels)`` pairs or
    :class:`~toolchain.lif.forward.Spikes`) on the chip's step grid."""
    n_steps = math.ceil(t_end / dt - 1e-9)
    pairs = [(s.times, s.neurons) if hasattr(s, "neurons") else s for s in samples]
    # the chip's input count is the design rules' business (a custom chip may have more than 16)
    return np.stack([to_raster(p, dt, n_inputs, n_steps, max_channels=n_inputs) for p in pairs])


def network_inputs(net: Network, split: str = "test", limit: int | None = None, task: str | None = None,
                   task_options: dict | None = None, dt: float | None = None):
    """``(samples, labels, rasters)`` of ``split`` of the task a trained network names in its metadata (the
    trainer's inputs, clock channels included): samples ``(times, channels)``, rasters ``(B, T, N_in)``."""
    return metadata_inputs(net.metadata, net.layer_sizes[0], dt or net.dt, split, limit, task, task_options)


def metadata_inputs(meta: dict, n_inputs: int, dt: float, split: str = "test", limit: int | None = None,
                    task: str | None = None, task_options: dict | None = None):
    """:func:`network_inputs` from the metadata alone (``task``, ``task_options``, ``t_end``, ``clock``), as
    ``spikeline train`` records it; ``n_inputs`` counts the clock channels."""
    task = task or meta.get("task")
    t_end = meta.get("t_end")
    if not task or t_end is None:
        raise InputError("the network's metadata names no task and/or t_end; networks from `spikeline train` "
                         "carry both (or pass task=...)")
    options = dict(meta.get("task_options") or {}) if task_options is None else dict(task_options)
    loaded = load_task(task, **options)
    data_channels = meta["clock"].get("first_channel") if meta.get("clock") else n_inputs
    if loaded.n_inputs != data_channels:
        raise InputError(f"task {task!r} has {loaded.n_inputs} input channels, the network takes {data_channels} "
                         f"data channels: it was not trained on {task!r} (pass the task it was trained on"
                         f"{', ' + repr(meta['task']) if meta.get('task') else ''})")
    part = loaded.split(split)
    n = len(part.labels) if limit is None else min(limit, len(part.labels))
    clock = meta.get("clock")
    if clock:  # networks trained before clock periods were recorded tick once per step ("n_steps")
        ticks, period = clock.get("n_ticks", clock.get("n_steps")), clock.get("period", dt)
    samples = [part.inputs[i] if not clock else with_clock(part.inputs[i], clock["first_channel"], ticks, period)
               for i in range(n)]
    return samples, np.asarray(part.labels[:n]), trial_rasters(samples, dt, n_inputs, t_end)
