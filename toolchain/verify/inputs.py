"""A trained network's inputs, rebuilt exactly as the trainer built them (task, options, clock channels),
as spike trains for the float model and as count rasters on the chip's step grid."""

from __future__ import annotations

import math

import numpy as np

from hw_models.errors import InputError
from toolchain.data import load_task
from toolchain.data.spikes import to_raster
from toolchain.network import Network
from toolchain.train.trainer import with_clock


def trial_rasters(samples, dt: float, n_inputs: int, t_end: float) -> np.ndarray:
    """Count rasters ``(B, ceil(t_end / dt), n_inputs)`` of spike trains (``(times, channels)`` pairs or
    :class:`~toolchain.lif.forward.Spikes`) on the chip's step grid."""
    n_steps = math.ceil(t_end / dt - 1e-9)
    pairs = [(s.times, s.neurons) if hasattr(s, "neurons") else s for s in samples]
    # the chip's input count is the design rules' business (a custom chip may have more than 16)
    return np.stack([to_raster(p, dt, n_inputs, n_steps, max_channels=n_inputs) for p in pairs])


def network_inputs(net: Network, split: str = "test", limit: int | None = None, task: str | None = None,
                   task_options: dict | None = None, dt: float | None = None):
    """``(samples, labels, rasters)`` of ``split``: samples ``(times, channels)``, rasters ``(B, T, N_in)``."""
    meta = net.metadata
    task = task or meta.get("task")
    t_end = meta.get("t_end")
    if not task or t_end is None:
        raise InputError("the network's metadata names no task and/or t_end; networks from `spikeline train` "
                         "carry both (or pass task=...)")
    dt = dt or net.dt
    options = dict(meta.get("task_options") or {}) if task_options is None else dict(task_options)
    part = load_task(task, **options).split(split)
    n = len(part.labels) if limit is None else min(limit, len(part.labels))
    clock = meta.get("clock")
    if clock:  # networks trained before clock periods were recorded tick once per step ("n_steps")
        ticks, period = clock.get("n_ticks", clock.get("n_steps")), clock.get("period", dt)
    samples = [part.inputs[i] if not clock else with_clock(part.inputs[i], clock["first_channel"], ticks, period)
               for i in range(n)]
    return samples, np.asarray(part.labels[:n]), trial_rasters(samples, dt, net.layer_sizes[0], t_end)
