"""The input spike-train representation shared by datasets, encoders, trainer and gradient engines.

A **sample** is a pair of 1-D arrays ``(times, channels)``: ``times`` in seconds (float64), ``channels``
input-channel ids (int64), sorted by time (ties by channel). A **batch** is a list of samples.

On the chip, time is a grid of steps of length ``dt``: an event at step ``k`` is delivered at the start
of step ``k`` (before that step's decay), which the continuous model sees as an event at ``t = k * dt``.
A **raster** holds the chip's view: integer event counts ``(T, C)``, at most 16 channels and at most
15 events per channel per step (the chip clips beyond 15; we refuse instead).
"""

from __future__ import annotations

import numpy as np

from hw_models.chips import XYLO_AUDIO2
from hw_models.errors import InputError

SpikeTrain = tuple[np.ndarray, np.ndarray]

#: Input channels of every Xylo chip.
MAX_CHANNELS = XYLO_AUDIO2.n_inputs
#: Events per channel per step the chip accepts (it silently clips beyond).
MAX_EVENTS_PER_STEP = XYLO_AUDIO2.max_input_spikes


def make_spike_train(times: np.ndarray, channels: np.ndarray) -> SpikeTrain:
    """Sort events by time, then channel, and return them in the canonical dtypes."""
    times = np.asarray(times, dtype=np.float64).ravel()
    channels = np.asarray(channels, dtype=np.int64).ravel()
    order = np.lexsort((channels, times))
    return times[order], channels[order]


def check_spike_train(sample: object, n_channels: int | None = None, what: str = "sample") -> SpikeTrain:
    """Return ``sample`` if it is a valid spike train, else raise :class:`InputError` saying why.

    Valid: a pair of 1-D arrays of equal length, finite non-negative float times sorted ascending,
    integer channels in ``[0, n_channels)``.
    """
    if not isinstance(sample, (tuple, list)) or len(sample) != 2:
        raise InputError(f"{what}: a spike train is a pair (times_seconds, channels), "
                         f"got {type(sample).__name__}")
    times, channels = (np.asarray(a) for a in sample)
    if times.ndim != 1 or channels.ndim != 1 or times.shape != channels.shape:
        raise InputError(f"{what}: times and channels must be 1-D arrays of equal length, "
                         f"got shapes {times.shape} and {channels.shape}")
    if times.dtype != np.float64:
        raise InputError(f"{what}: times must be float64 seconds, got {times.dtype} "
                         "(build samples with toolchain.data.spikes.make_spike_train)")
    if not np.issubdtype(channels.dtype, np.integer):
        raise InputError(f"{what}: channels must be integers, got {channels.dtype}")
    if times.size:
        if not np.all(np.isfinite(times)):
            k = int(np.flatnonzero(~np.isfinite(times))[0])
            raise InputError(f"{what}: event {k} has time {times[k]} (times must be finite)")
        if times.min() < 0:
            k = int(np.argmin(times))
            raise InputError(f"{what}: event {k} has negative time {times[k]} s")
        if np.any(np.diff(times) < 0):
            k = int(np.flatnonzero(np.diff(times) < 0)[0]) + 1
            raise InputError(f"{what}: events are not sorted by time (event {k} at {times[k]} s comes "
                             f"after {times[k - 1]} s); use make_spike_train")
        bad = (channels < 0) | (channels >= n_channels if n_channels is not None else False)
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            limit = f"[0, {n_channels})" if n_channels is not None else "the non-negative integers"
            raise InputError(f"{what}: event {k} has channel {int(channels[k])}, outside {limit}")
    return times, channels


def check_batch(batch: object, n_channels: int | None = None) -> list[SpikeTrain]:
    """Validate a batch (a list of spike trains); errors name the sample."""
    if not isinstance(batch, (list, tuple)):
        raise InputError(f"a batch is a list of (times, channels) pairs, got {type(batch).__name__}")
    return [check_spike_train(s, n_channels, what=f"sample {i}") for i, s in enumerate(batch)]


def time_steps(times: np.ndarray, dt: float) -> np.ndarray:
    """Step index of each time on the ``dt`` grid: ``k = floor(t / dt + 1/2)`` (nearest step)."""
    _check_dt(dt)
    return np.floor(np.asarray(times, dtype=np.float64) / dt + 0.5).astype(np.int64)


def snap_times(times: np.ndarray, dt: float) -> np.ndarray:
    """Move each time to the nearest point ``k * dt`` of the chip's time grid."""
    return time_steps(times, dt) * dt


def snap_spike_train(sample: SpikeTrain, dt: float) -> SpikeTrain:
    """The spike train with every event moved to its chip step time ``k * dt``."""
    times, channels = sample
    return make_spike_train(snap_times(times, dt), channels)


def to_raster(sample: SpikeTrain, dt: float, n_channels: int, n_steps: int | None = None,
              max_channels: int = MAX_CHANNELS, max_count: int = MAX_EVENTS_PER_STEP) -> np.ndarray:
    """Count raster ``(T, n_channels)`` of a spike train on the ``dt`` grid (chip input format).

    Raises :class:`InputError` (never clips) if there are more than ``max_channels`` channels, more
    than ``max_count`` events of one channel in one step, or events beyond ``n_steps``.
    """
    if not 1 <= n_channels <= max_channels:
        raise InputError(f"{n_channels} input channels; the chip has {max_channels} "
                         "(choose an encoding with fewer channels)")
    times, channels = check_spike_train(sample, n_channels)
    steps = time_steps(times, dt)
    needed = int(steps.max()) + 1 if steps.size else 0
    if n_steps is None:
        n_steps = needed
    elif needed > n_steps:
        k = int(np.argmax(steps))
        raise InputError(f"event at {times[k]:.6g} s falls in step {steps[k]}, beyond the "
                         f"{n_steps} steps asked for (raise n_steps)")
    raster = np.zeros((n_steps, n_channels), dtype=np.int64)
    np.add.at(raster, (steps, channels), 1)
    check_raster(raster, max_channels=max_channels, max_count=max_count)
    return raster


def check_raster(raster: np.ndarray, max_channels: int = MAX_CHANNELS,
                 max_count: int = MAX_EVENTS_PER_STEP) -> np.ndarray:
    """Refuse a raster the chip would not take as is: wrong shape, non-integer, negative, too many
    channels, or more than ``max_count`` events of one channel in one step (the chip would clip)."""
    raster = np.asarray(raster)
    if raster.ndim not in (2, 3):
        raise InputError(f"a raster is (T, C) or (B, T, C), got shape {raster.shape}")
    if not np.issubdtype(raster.dtype, np.integer):
        raise InputError(f"a raster holds integer event counts, got dtype {raster.dtype}")
    if raster.shape[-1] > max_channels:
        raise InputError(f"raster has {raster.shape[-1]} channels; the chip has {max_channels}")
    if raster.size and raster.min() < 0:
        idx = tuple(int(i) for i in np.argwhere(raster < 0)[0])
        raise InputError(f"raster{list(idx)} = {raster[idx]}: event counts cannot be negative")
    if raster.size and raster.max() > max_count:
        idx = tuple(int(i) for i in np.argwhere(raster > max_count)[0])
        raise InputError(f"raster{list(idx)} = {raster[idx]} events in one step on channel {idx[-1]}; "
                         f"the chip takes at most {max_count} (use a smaller dt or a sparser encoding)")
    return raster


def from_raster(raster: np.ndarray, dt: float) -> SpikeTrain:
    """Spike train of a ``(T, C)`` count raster: ``count`` events at ``t = k * dt`` for each cell."""
    _check_dt(dt)
    raster = np.asarray(raster)
    if raster.ndim != 2 or not np.issubdtype(raster.dtype, np.integer):
        raise InputError(f"from_raster takes one (T, C) integer raster, got {raster.dtype} {raster.shape}")
    if raster.size and raster.min() < 0:
        raise InputError("event counts cannot be negative")
    steps, channels = np.nonzero(raster)
    counts = raster[steps, channels]
    return make_spike_train(np.repeat(steps * dt, counts), np.repeat(channels, counts))


def _check_dt(dt: float) -> None:
    if not (isinstance(dt, (int, float, np.floating)) and np.isfinite(dt) and dt > 0):
        raise InputError(f"dt must be a positive number of seconds, got {dt!r}")
