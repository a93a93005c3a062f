"""Compiled pieces of the batched engine (:mod:`toolchain.grad.batched`): the losses, the decision rules and a
cheap leaky-integrator readout, each the numba twin of a readable Python reference that the tests hold it to.

=========================  =====================================================================
kernel                     reference
=========================  =====================================================================
:func:`softmax_ce`         :func:`toolchain.losses._softmax_ce`
:func:`voltage_loss`       :class:`~toolchain.train.coding.CodedVoltageCE` (and ``MaxVoltageCE``,
                           ``IntegratedVoltageCE``: the identity code without normalisation)
:func:`first_spike_loss`   :class:`~toolchain.losses.FirstSpikeCE`
:func:`spike_count_loss`   :class:`~toolchain.losses.SpikeCountCE`
:func:`decide`             :func:`toolchain.decode.decide`
:func:`integrated_readout` ``vint`` of ``forward._leaky_readout``
:func:`integrated_reverse` ``fp_reverse._reverse_leaky`` with ``d_vmax = 0``
=========================  =====================================================================

:func:`count_penalty` (the count losses' penalties on spike counts) has no twin: both paths call it.

The integrated readout needs no maximum search: ``vint_o = sum_m W[j_m, o] H_o(T - t_m)``, and outputs that
share their time constants (the usual case) share ``H(T - t_m)`` and ``h(T - t_m)``, one evaluation per arrival
instead of one per arrival and output.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hw_models.jitcache import drop_stale_cache
from toolchain.lif.forward import tau_runs
from toolchain.lif.kernels import psp, psp_integral

#: loss kinds of :func:`toolchain.grad.batched.loss_spec`
LOSS_VOLTAGE, LOSS_FIRST_SPIKE, LOSS_SPIKE_COUNT, LOSS_COUNT_MSE = 0, 1, 2, 3
#: decision rules, in the order of :data:`toolchain.decode.RULES`
RULE_FIRST_SPIKE, RULE_SPIKE_COUNT, RULE_MAX_VOLTAGE, RULE_INTEGRATED_VOLTAGE = 0, 1, 2, 3
#: status codes a sample can end with (0: fine)
STATUS_OK, STATUS_OVERFLOW = 0, -1


@njit(cache=True)
def softmax_ce(logits: np.ndarray, label: int) -> tuple[float, np.ndarray]:
    """-log softmax(logits)[label] and its gradient softmax - onehot, with log(sum) through log1p."""
    n = logits.shape[0]
    top = 0
    for c in range(1, n):
        if logits[c] > logits[top]:
            top = c
    others = 0.0
    for c in range(n):
        if c != top:
            others += math.exp(logits[c] - logits[top])
    log_z = math.log1p(others)
    grad = np.empty(n)
    for c in range(n):
        grad[c] = math.exp((logits[c] - logits[top]) - log_z)
    grad[label] -= 1.0
    return log_z - (logits[label] - logits[top]), grad


@njit(cache=True)
def voltage_loss(y: np.ndarray, label: int, code: np.ndarray, gain: float, normalize: bool, eps: float
                 ) -> tuple[float, np.ndarray]:
    """Coded cross-entropy on readout observables ``y``: logits = gain C z, z = y (or y / rms(y)); returns the
    loss and dL/dy."""
    n = y.shape[0]
    r = 1.0
    z = y.copy()
    if normalize:
        r = math.sqrt(np.dot(y, y) / n + eps * eps)
        z = y / r
    value, grad = softmax_ce(gain * (code @ z), label)
    d_z = gain * (code.T @ grad)
    if normalize:
        return value, (d_z - z * np.dot(z, d_z) / n) / r
    return value, d_z


@njit(cache=True)
def first_spikes(times: np.ndarray, neurons: np.ndarray, n_out: int) -> np.ndarray:
    """Index of each output's first spike (-1 if silent); the spikes are in time order."""
    first = np.full(n_out, -1, np.int64)
    for k in range(times.shape[0] - 1, -1, -1):
        first[neurons[k]] = k
    return first


@njit(cache=True)
def first_spike_loss(times, neurons, label, n_out, t_end, tau0, tau1, alpha):
    """First-spike CE with the EventProp regulariser; returns (loss, dL/dt per spike, status)."""
    first = first_spikes(times, neurons, n_out)
    t = np.full(n_out, t_end)
    for c in range(n_out):
        if first[c] >= 0:
            t[c] = times[first[c]]
    ce, grad_logits = softmax_ce(-t / tau0, label)
    d_times = np.zeros(times.shape[0])
    if not t[label] / tau1 < 700.0:
        return 0.0, d_times, STATUS_OVERFLOW
    growth = math.exp(t[label] / tau1)
    d_first = -grad_logits / tau0
    d_first[label] += alpha / tau1 * growth
    for c in range(n_out):
        if first[c] >= 0:
            d_times[first[c]] = d_first[c]
    return ce + alpha * (growth - 1.0), d_times, STATUS_OK


@njit(cache=True)
def spike_count_loss(times, neurons, label, n_out, tau_count, gain):
    """CE on (time-weighted, if ``tau_count`` is finite) spike counts; returns (loss, dL/dt per spike, dL/do per
    readout: ``gain (softmax - onehot)`` for plain counts, what HM2-BP back-propagates; zeros when weighted)."""
    weighted = math.isfinite(tau_count)
    counts = np.zeros(n_out)
    weight = np.ones(times.shape[0])
    for k in range(times.shape[0]):
        if weighted:
            weight[k] = math.exp(-times[k] / tau_count)
        counts[neurons[k]] += weight[k]
    value, grad_logits = softmax_ce(gain * counts, label)
    d_times = np.zeros(times.shape[0])
    if weighted:
        for k in range(times.shape[0]):
            d_times[k] = -grad_logits[neurons[k]] * gain * weight[k] / tau_count
        return value, d_times, np.zeros(n_out)
    return value, d_times, gain * grad_logits


@njit(cache=True)
def count_penalty(counts, weight, ceiling):
    """The count losses' penalty on one layer's spike counts ``o`` (HM2-BP only, docs/training.md)::

        P = weight / 2 sum_j max(0, o_j - ceiling)^2,      dP/do_j = weight max(0, o_j - ceiling)

    returns ``(P, dP/do)``."""
    excess = np.maximum(counts - ceiling, 0.0)
    return 0.5 * weight * np.sum(excess**2), weight * excess


@njit(cache=True)
def count_mse_loss(neurons, label, n_out, desired, undesired, margin):
    """HM2-BP's count loss (:class:`toolchain.losses.CountMSE` without a code): ``err_c = o_c - y_c`` outside
    the margin, else 0; returns (``sum err^2 / 2``, ``dE/do = err``)."""
    err = np.zeros(n_out)
    for k in range(neurons.shape[0]):
        err[neurons[k]] += 1.0
    for c in range(n_out):
        err[c] -= desired if c == label else undesired
        if abs(err[c]) <= margin:
            err[c] = 0.0
    return 0.5 * np.sum(err**2), err


@njit(cache=True)
def _argmax(x: np.ndarray) -> int:
    best = 0
    for c in range(1, x.shape[0]):
        if x[c] > x[best]:
            best = c
    return best


@njit(cache=True)
def decide(rule, times, neurons, n_out, vmax, vint, code):
    """The decision rules of :mod:`toolchain.decode` (ties: lowest index; no output spike: -1). ``code``:
    the output code (the identity when there is none)."""
    if rule == RULE_MAX_VOLTAGE:
        return _argmax(code @ vmax)
    if rule == RULE_INTEGRATED_VOLTAGE:
        return _argmax(code @ vint)
    if times.shape[0] == 0:
        return -1
    first_t = np.full(n_out, np.inf)
    counts = np.zeros(n_out, np.int64)
    for k in range(times.shape[0]):
        first_t[neurons[k]] = min(first_t[neurons[k]], times[k])
        counts[neurons[k]] += 1
    if rule == RULE_FIRST_SPIKE:
        best = 0
        for c in range(1, n_out):
            if first_t[c] < first_t[best]:
                best = c
        return best
    best = 0
    for c in range(1, n_out):  # most spikes, then the earlier first spike, then the lower index
        if counts[c] > counts[best] or (counts[c] == counts[best] and first_t[c] < first_t[best]):
            best = c
    return best


@njit(cache=True)
def integrated_readout(arr_t, arr_src, w, a, b, t_end):
    """vint_o = integral_0^T V_o dt = sum_{arrivals m < T} W[j_m, o] H_o(T - t_m), H evaluated once per arrival
    and run of outputs with equal time constants."""
    n = w.shape[1]
    vint = np.zeros(n)
    runs = tau_runs(a, b)
    for r in range(runs.shape[0] - 1):
        o0, o1 = runs[r], runs[r + 1]
        for m in range(arr_t.shape[0]):
            if arr_t[m] >= t_end:
                break
            big_h = psp_integral(t_end - arr_t[m], a[o0], b[o0])
            for o in range(o0, o1):
                vint[o] += w[arr_src[m], o] * big_h
    return vint


@njit(cache=True)
def integrated_reverse(arr_t, arr_src, w, a, b, t_end, c_int):
    """dL/dW of the readout hop and dL/dt of every arrival for a loss on vint only (``c_int = dL/dvint``):
    dL/dW[j, o] = sum_{m: j_m = j} c_o H_o(T - t_m),  dL/dt_m = -sum_o c_o W[j_m, o] h_o(T - t_m)."""
    n_pre, n = w.shape
    dw = np.zeros((n_pre, n))
    a_pre = np.zeros(arr_t.shape[0])
    runs = tau_runs(a, b)
    for r in range(runs.shape[0] - 1):
        o0, o1 = runs[r], runs[r + 1]
        for m in range(arr_t.shape[0]):
            t = arr_t[m]
            if t >= t_end:
                break
            j = arr_src[m]
            s = t_end - t
            big_h = psp_integral(s, a[o0], b[o0])
            h = psp(s, a[o0], b[o0])
            acc = 0.0
            for o in range(o0, o1):
                dw[j, o] += c_int[o] * big_h
                acc -= c_int[o] * w[j, o] * h
            a_pre[m] += acc
    return dw, a_pre


drop_stale_cache(softmax_ce)  # numba's disk cache, dropped when any kernel source changes
