"""The chip grid: which float networks a Xylo chip can realise, and how to stay on that set in training.

Quantization-aware ("chip-grid") training keeps float *latent* parameters and runs the forward pass on
their projection onto the grid (straight-through rounding):

* **weights**: each matrix is ``W_q = s * round(W / s)`` with one scale per matrix,
  ``s = max|W| / 127``, so the integers ``round(W / s)`` use the whole int8 range
  (:func:`quantize_weights`, :func:`on_grid`). The gradient is computed at ``W_q`` and applied to the
  latent ``W`` unchanged (``dL/dW := dL/dW_q``), so small updates accumulate until they cross a step;
* **thresholds** lie on the integer grid of the voltage unit of their incoming matrix. In the float
  model's normalisation (``dV/dt = -V/tau_mem + I``, a spike adds ``W`` to ``I``) one chip weight LSB
  ``w = 1`` corresponds to ``W = s`` and the chip's ``v`` counts units of ``u = s * dt``
  (gradients.md §8.3: ``W = w / dt``), so ``theta_q = u * round(theta / u)`` with the integer in
  ``[1, 32767]`` (:func:`threshold_on_grid`);
* **time constants** come from ``tau(dash) = -dt / ln(1 - 2**-dash)`` (:func:`dash_for_tau`);
* **delays**: input reaches the first hidden layer in the same step, every later hop costs one ``dt``
  (:func:`chip_delays`);
* **input times** lie on the ``dt`` grid (:func:`snap_times`, from :mod:`toolchain.data.spikes`);
* **sizes** fit the chip (:func:`check_layer_plan`).
"""

from __future__ import annotations

import math

import numpy as np

from hw_models.chips import ChipSpec, get_chip, tau_from_dash
from hw_models.errors import ConfigError, InputError, Violation
from toolchain.data.spikes import snap_spike_train, snap_times

__all__ = [
    "chip_delays", "check_layer_plan", "dash_for_tau", "on_grid", "project", "quantize_weights",
    "shared_scales", "snap_spike_train", "snap_times", "tau_on_grid", "threshold_on_grid", "voltage_unit",
]

WEIGHT_BITS = 8
THRESHOLD_BITS = 16


def _int_max(bits: int) -> int:
    if not (isinstance(bits, int) and 2 <= bits <= 32):
        raise InputError(f"bits must be an integer in [2, 32], got {bits!r}")
    return 2 ** (bits - 1) - 1


def _finite_array(values: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise InputError(f"{what}{list(idx)} is {a[idx]}; parameters must be finite")
    return a


def quantize_weights(W: np.ndarray, bits: int = WEIGHT_BITS, scale: float | None = None
                     ) -> tuple[np.ndarray, float]:
    """Integers ``q`` (int64, in ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]``) and ``s`` with ``W ~ s * q``.

    Default ``s = max|W| / (2**(bits-1) - 1)``: the largest weight maps to +-127. An all-zero matrix
    gets ``s = 1``. With an explicit ``scale``, weights that would fall outside the range raise
    :class:`InputError` (nothing is clipped).
    """
    W = _finite_array(W, "W")
    q_max = _int_max(bits)
    if scale is None:
        peak = float(np.max(np.abs(W), initial=0.0))
        scale = peak / q_max if peak > 0 else 1.0
        if scale == 0.0:
            raise InputError(f"the largest weight, {peak!r}, is too small to give a scale (float underflow); "
                             "set such a matrix to zero")
    elif not (math.isfinite(scale) and scale > 0):
        raise InputError(f"a weight scale must be a positive number, got {scale!r}")
    with np.errstate(over="ignore"):
        q = np.rint(W / scale)
    over = ~(np.abs(q) <= q_max)
    if np.any(over):
        idx = tuple(int(i) for i in np.argwhere(over)[0])
        raise InputError(f"W{list(idx)} = {W[idx]} needs {q[idx]:.6g} steps of {scale:.6g}; {bits}-bit "
                         f"weights reach +-{q_max} (use a larger scale)")
    return q.astype(np.int64), float(scale)


def shared_scales(matrices: list[np.ndarray], bits: int = WEIGHT_BITS,
                  chip: str | ChipSpec = "xylo-audio2") -> list[float]:
    """Scales for matrices that feed the same neurons (e.g. a layer's input and recurrent weights).

    On the chip such matrices share the neurons' voltage unit and differ only by their weight shift:
    ``s_m = s_0 * 2**k_m`` with ``k_m`` in the chip's shift range. The finest matrix gets
    ``s_0 = max|W| / 127`` (``k = 0``); every other gets the smallest power-of-two multiple that holds
    its largest weight, so it uses at least half of the int8 range. Matrices in the same chip weight
    bank (several hidden->hidden hops into one layer) share one shift: pass them concatenated.
    """
    if not matrices:
        raise InputError("shared_scales needs at least one matrix")
    q_max, max_shift = _int_max(bits), get_chip(chip).shift_range[1]
    peaks = [float(np.max(np.abs(_finite_array(W, f"matrices[{i}]")), initial=0.0))
             for i, W in enumerate(matrices)]
    nonzero = [p for p in peaks if p > 0]
    if not nonzero:
        return [1.0] * len(peaks)
    base = min(nonzero) / q_max
    shifts = [0 if p == 0 else max(0, math.ceil(math.log2(p / q_max / base) - 1e-12)) for p in peaks]
    if max(shifts) > max_shift:
        i = int(np.argmax(shifts))
        raise InputError(f"matrices[{i}] is {peaks[i] / min(nonzero):.3g} times larger than the finest "
                         "matrix feeding the same neurons; the chip's weight shift spans "
                         f"2**0..2**{max_shift} (rescale the weights so the matrices are closer in "
                         "magnitude)")
    return [base * 2.0**k for k in shifts]


def on_grid(W: np.ndarray, bits: int = WEIGHT_BITS) -> np.ndarray:
    """The forward value of a weight matrix in chip-grid mode: ``s * round(W / s)``."""
    q, s = quantize_weights(W, bits)
    return q * s


def project(params: dict[str, np.ndarray], names: list[str], bits: int = WEIGHT_BITS,
            scales: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Copy of ``params`` with the weight matrices ``names`` replaced by their on-grid values (the
    straight-through forward pass; gradients at the result are applied to the latent ``params``).
    A matrix listed in ``scales`` uses that scale (e.g. from :func:`shared_scales`), others their own."""
    scales = scales or {}
    unknown = sorted((set(names) | set(scales)) - set(params))
    if unknown:
        raise InputError(f"no parameters named {unknown}; have {sorted(params)}")

    def grid(name: str) -> np.ndarray:
        q, s = quantize_weights(params[name], bits, scales.get(name))
        return q * s

    return {k: (grid(k) if k in names else np.array(v)) for k, v in params.items()}


def voltage_unit(weight_scale: float, dt: float) -> float:
    """Float-model voltage of one chip ``v`` LSB for neurons fed by a matrix of scale ``s``: ``u = s dt``."""
    if not (math.isfinite(weight_scale) and weight_scale > 0 and math.isfinite(dt) and dt > 0):
        raise InputError(f"weight scale and dt must be positive, got {weight_scale!r} and {dt!r}")
    return weight_scale * dt


def threshold_on_grid(theta: np.ndarray, unit: float, bits: int = THRESHOLD_BITS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Integer thresholds ``round(theta / u)`` and their float values ``u * round(theta / u)``.

    Raises :class:`InputError` if an integer threshold falls outside ``[1, 2**(bits-1) - 1]``: the
    threshold is too large (or too small) for the weights feeding the neuron.
    """
    theta = _finite_array(theta, "threshold")
    if not (isinstance(unit, (int, float)) and math.isfinite(unit) and unit > 0):
        raise InputError(f"the voltage unit must be a positive number, got {unit!r} (see voltage_unit)")
    with np.errstate(over="ignore"):
        q = np.rint(theta / unit)
    q_max = _int_max(bits)
    bad = (q < 1) | (q > q_max)
    if np.any(bad):
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        hint = ("the weights are too small for this threshold: raise the weights or lower the threshold"
                if q[i] > q_max else "thresholds must be positive and at least one voltage unit")
        raise InputError(f"threshold{list(i)} = {theta[i]:.6g} is {q[i]:.6g} voltage units of {unit:.6g}; "
                         f"the chip takes 1..{q_max} ({hint})")
    return q.astype(np.int64), q * unit


def dash_for_tau(tau: float | np.ndarray, dt: float, chip: str | ChipSpec = "xylo-audio2"
                 ) -> int | np.ndarray:
    """The dash whose ``tau(dash) = -dt / ln(1 - 2**-dash)`` is nearest to ``tau`` on a log scale.

    ``tau`` may be a scalar (returns an int) or an array, e.g. one per neuron (returns int64 array).
    Dash 0 (state erased every step) is never chosen. A ``tau`` farther outside the realisable range
    ``[tau(1), tau(dash_max)]`` than half a step of that range raises :class:`InputError`.
    """
    taus = np.asarray(tau, dtype=np.float64)
    if not (math.isfinite(dt) and dt > 0):
        raise InputError(f"dt must be a positive number of seconds, got {dt!r}")
    bad = ~(np.isfinite(taus) & (taus > 0))
    if np.any(bad):
        where = "" if taus.ndim == 0 else f"{[int(i) for i in np.argwhere(bad)[0]]} "
        raise InputError(f"tau {where}must be a positive number of seconds, got {taus[bad].flat[0]!r}")
    lo, hi = 1, get_chip(chip).dash_range[1]
    log_table = np.log([tau_from_dash(d, dt) for d in range(lo, hi + 1)])
    log_tau = np.log(taus)
    below = log_table[0] - (log_table[1] - log_table[0]) / 2
    above = log_table[-1] + (log_table[-1] - log_table[-2]) / 2
    outside = (log_tau < below) | (log_tau > above)
    if np.any(outside):
        value = float(taus[outside].flat[0])
        raise InputError(f"tau = {value:.6g} s is not realisable with dt = {dt:.6g} s: the chip's time "
                         f"constants span {math.exp(log_table[0]):.6g} .. {math.exp(log_table[-1]):.6g} s "
                         f"(dash {lo}..{hi}); change dt or tau")
    dash = lo + np.argmin(np.abs(log_table[None, :] - log_tau.reshape(-1, 1)), axis=1)
    return int(dash[0]) if taus.ndim == 0 else dash.reshape(taus.shape).astype(np.int64)


def tau_on_grid(tau: float | np.ndarray, dt: float, chip: str | ChipSpec = "xylo-audio2"
                ) -> float | np.ndarray:
    """The realisable time constant nearest to ``tau``: ``tau(dash_for_tau(tau, dt))``."""
    dash = dash_for_tau(tau, dt, chip)
    if isinstance(dash, int):
        return tau_from_dash(dash, dt)
    return np.vectorize(lambda d: tau_from_dash(int(d), dt), otypes=[np.float64])(dash)


def chip_delays(n_hops: int, dt: float) -> list[float]:
    """Transmission delay of each hop on the chip: 0 for input -> first hidden layer, ``dt`` after."""
    if not (isinstance(n_hops, int) and n_hops >= 1):
        raise InputError(f"a network has at least one hop, got n_hops={n_hops!r}")
    return [0.0] + [float(dt)] * (n_hops - 1)


def check_layer_plan(layer_sizes: list[int], chip: str | ChipSpec, recurrent: list[bool] | None = None
                     ) -> None:
    """Raise :class:`ConfigError` listing every way ``layer_sizes = [inputs, hidden..., outputs]`` (with
    optional all-to-all ``recurrent`` weights per hidden layer) does not fit ``chip``."""
    spec = get_chip(chip)
    sizes = list(layer_sizes)
    v: list[Violation] = []
    if len(sizes) < 3 or any(not isinstance(n, (int, np.integer)) or n < 1 for n in sizes):
        raise ConfigError([Violation("layer_sizes", "need [inputs, hidden..., outputs] with positive "
                                     f"integer sizes, got {sizes}", value=str(sizes),
                                     hint="e.g. [5, 120, 3]")], source=f"layer plan for {spec.name}")
    hidden = sizes[1:-1]
    recurrent = list(recurrent) if recurrent is not None else [False] * len(hidden)
    if len(recurrent) != len(hidden):
        raise ConfigError([Violation("recurrent", f"need one flag per hidden layer ({len(hidden)}), "
                                     f"got {len(recurrent)}")], source=f"layer plan for {spec.name}")

    def over(field: str, what: str, value: int, limit: int, hint: str) -> None:
        if value > limit:
            v.append(Violation(field, f"{what} {value}; {spec.name} allows {limit}", value=value,
                               limit=limit, hint=hint))

    over("layer 0 (input)", "input channels:", sizes[0], spec.n_inputs, "encode the data into fewer channels")
    over(f"layer {len(sizes) - 1} (readout)", "readout neurons:", sizes[-1], spec.n_outputs,
         "use fewer classes or outputs")
    over("hidden layers", "hidden neurons in total:", sum(hidden), spec.n_hidden, "use smaller hidden layers")
    if spec.input_window is not None:
        over("layer 1 (hidden)", "neurons receiving input:", hidden[0], spec.input_window,
             "make the first hidden layer smaller")
    if spec.output_window is not None:
        over(f"layer {len(hidden)} (hidden)", "neurons driving the readout:", hidden[-1], spec.output_window,
             "make the last hidden layer smaller")
    total_rec = 0
    for k, n in enumerate(hidden):
        fan_out = (hidden[k + 1] if k + 1 < len(hidden) else 0) + (n if recurrent[k] else 0)
        total_rec += n * fan_out
        over(f"layer {k + 1} (hidden)", f"fan-out of each of its {n} neurons:", fan_out, spec.max_fanout,
             "make the next layer smaller or drop recurrent weights")
    over("hidden layers", "recurrent connections in total:", total_rec, spec.max_recurrent_weights,
         "use smaller hidden layers")
    if v:
        raise ConfigError(v, source=f"layer plan {sizes} on {spec.name}")
