"""Encoders: feature vectors and time series to input spike trains (see :mod:`toolchain.data.spikes`).

* :func:`latency_encode`: one spike per feature, earlier for larger values (gradients.md §6.2),
  ``t = t_early + v * (t_late - t_early)`` for ``v`` in [0, 1]; optionally one bias spike on an extra
  channel. Exact times, for the continuous model; :func:`toolchain.data.spikes.snap_spike_train`
  moves them onto the chip's ``dt`` grid.
* Time series ``(T_frames, C)``, one frame per chip step of length ``dt``:

  - :func:`rate_code`: values normalised to [0, 1] become ``round(v * max_count)`` events per step
    (deterministic, no random sampling; ``max_count <= 15``);
  - :func:`delta_code`: send-on-delta (threshold crossing). Per channel a reference level starts at 0;
    whenever the signal is ``n >= 1`` thresholds above (below) the reference, ``n`` events go to the
    channel's UP (DOWN) line and the reference moves by ``n`` thresholds. ``2 C`` channels: UP of
    channel ``c`` is ``2 c``, DOWN is ``2 c + 1``. Sparse: only changes produce events.

  Normalisation is fitted on the training split only: :class:`Standardizer` (per-channel mean and
  standard deviation), then :func:`squash` (the logistic function) maps z-scores into (0, 1) for rate
  coding without clipping anything.

Nothing is clipped: values outside the declared range, NaN, or more than 15 events per channel and
step raise :class:`InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw_models.errors import InputError
from toolchain.data.spikes import MAX_EVENTS_PER_STEP, SpikeTrain, make_spike_train


def _check_finite(values: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(values)
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{what}{list(idx)} is {values[idx]}; data must be finite "
                         "(remove or impute NaN/inf)")


def latency_encode(features: np.ndarray, t_early: float, t_late: float, *, lo: float = 0.0, hi: float = 1.0,
                   bias_time: float | None = None) -> list[SpikeTrain]:
    """One spike per feature at ``t_early + (x - lo) / (hi - lo) * (t_late - t_early)`` seconds.

    ``features`` is ``(N, F)`` with every value in ``[lo, hi]``; channel ``f`` carries feature ``f``.
    With ``bias_time``, each sample also gets one spike on channel ``F`` at that time.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"latency_encode takes features (N, F), got shape {x.shape}")
    if not (0.0 <= t_early < t_late and np.isfinite(t_late)):
        raise InputError(f"need 0 <= t_early < t_late (seconds), got t_early={t_early}, t_late={t_late}")
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise InputError(f"need finite lo < hi, got lo={lo}, hi={hi}")
    if bias_time is not None and not (np.isfinite(bias_time) and bias_time >= 0):
        raise InputError(f"bias_time must be a non-negative number of seconds, got {bias_time}")
    _check_finite(x, "features")
    outside = (x < lo) | (x > hi)
    if np.any(outside):
        n, f = (int(i) for i in np.argwhere(outside)[0])
        raise InputError(f"features[{n}, {f}] = {x[n, f]} is outside [{lo}, {hi}]; rescale the data or "
                         "pass the data's range as lo/hi (values are never clipped)")
    times = t_early + (x - lo) / (hi - lo) * (t_late - t_early)
    channels = np.arange(x.shape[1], dtype=np.int64)
    if bias_time is not None:
        times = np.concatenate([times, np.full((x.shape[0], 1), float(bias_time))], axis=1)
        channels = np.append(channels, x.shape[1])
    return [make_spike_train(t, channels) for t in times]


def rate_code(values: np.ndarray, max_count: int) -> np.ndarray:
    """Count raster ``(T, C)``: ``floor(v * max_count + 1/2)`` events per step for ``v`` in [0, 1]."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise InputError(f"rate_code takes a series (T_frames, C), got shape {v.shape}")
    if not (isinstance(max_count, (int, np.integer)) and 1 <= max_count <= MAX_EVENTS_PER_STEP):
        raise InputError(f"max_count must be an integer in [1, {MAX_EVENTS_PER_STEP}], got {max_count!r}")
    _check_finite(v, "series")
    outside = (v < 0) | (v > 1)
    if np.any(outside):
        t, c = (int(i) for i in np.argwhere(outside)[0])
        raise InputError(f"series[{t}, {c}] = {v[t, c]} is outside [0, 1]; normalise before rate coding")
    return np.floor(v * max_count + 0.5).astype(np.int64)


def delta_code(series: np.ndarray, threshold: float) -> np.ndarray:
    """Send-on-delta count raster ``(T, 2 C)`` (UP on ``2 c``, DOWN on ``2 c + 1``).

    With reference ``r_c`` (initially 0): ``n = trunc((x[t, c] - r_c) / threshold)``; ``|n|`` events on
    the UP (``n > 0``) or DOWN (``n < 0``) line at step ``t``, then ``r_c += n * threshold``.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"delta_code takes a series (T_frames, C), got shape {x.shape}")
    if not (np.isfinite(threshold) and threshold > 0):
        raise InputError(f"the delta threshold must be a positive number, got {threshold}")
    _check_finite(x, "series")
    raster = np.zeros((x.shape[0], 2 * x.shape[1]), dtype=np.int64)
    reference = np.zeros(x.shape[1])
    for t in range(x.shape[0]):
        n = np.trunc((x[t] - reference) / threshold)
        raster[t, 0::2] = np.maximum(n, 0)
        raster[t, 1::2] = np.maximum(-n, 0)
        reference += n * threshold
    return raster


def squash(z: np.ndarray) -> np.ndarray:
    """Logistic map of z-scores into (0, 1): ``v = 1 / (1 + exp(-z))`` (monotone, nothing clipped)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


@dataclass(frozen=True)
class Standardizer:
    """Per-channel ``z = (x - mean) / std``, fitted on the training series only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, series: list[np.ndarray]) -> Standardizer:
        if not series:
            raise InputError("cannot fit a standardizer on no data")
        frames = np.concatenate([np.asarray(s, dtype=np.float64) for s in series], axis=0)
        if frames.ndim != 2:
            raise InputError(f"each series must be (T_frames, C), got stacked shape {frames.shape}")
        _check_finite(frames, "training frames")
        std = frames.std(axis=0)
        if np.any(std == 0):
            c = int(np.flatnonzero(std == 0)[0])
            raise InputError(f"channel {c} is constant in the training data; drop it before encoding")
        return cls(mean=frames.mean(axis=0), std=std)

    def transform(self, series: np.ndarray) -> np.ndarray:
        x = np.asarray(series, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.size:
            raise InputError(f"series must be (T_frames, {self.mean.size}), got shape {x.shape}")
        _check_finite(x, "series")
        return (x - self.mean) / self.std

