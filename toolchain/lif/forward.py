"""Exact event-driven forward pass of a :class:`~toolchain.network.Network` (reference/gradients.md §1, §7.3).

There is no time step: between events every neuron evolves in closed form (:func:`kernels.advance`),
and each neuron's next threshold crossing before the next event is solved exactly
(:func:`kernels.next_crossing`). Events of one layer are processed in time order: arrivals of delayed
presynaptic spikes, arrivals of the layer's own spikes through recurrent weights, and crossings.

Conventions kept by every engine:

- **strict causality**: a spike at ``t`` is caused by arrivals at ``a < t`` only; an arrival at exactly
  the crossing time acts after the spike;
- a spike records ``I`` just before it (``I(t^-)``), so ``dV/dt(t^-) = I - theta / tau_mem``;
- after a spike ``V`` is set to ``V(t) - theta = 0`` (subtractive reset, ``V(t) = theta`` at the root);
- spikes after ``t_end`` are not produced; arrivals at or after ``t_end`` act on nothing.

Input samples are ``(times, channels)``: two equal-length 1-D arrays (seconds, channel index). They
need not be sorted; ties are allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from hw_models.errors import InputError
from toolchain.lif.kernels import (
    METHOD_AUTO,
    METHOD_NUMERIC,
    advance,
    crossing_from,
    decay,
    next_crossing,
    psp,
    psp_integral,
    psp_many,
    stationary_time,
)
from toolchain.network import Network

#: Default cap on the spikes of one layer in one sample (raise it with ``max_spikes``).
MAX_SPIKES = 1_000_000


@dataclass
class Spikes:
    """Spikes of one layer, sorted by time: ``times``, ``neurons`` and ``current`` = I(t^-) per spike."""

    times: np.ndarray
    neurons: np.ndarray
    current: np.ndarray

    def counts(self, n: int) -> np.ndarray:
        return np.bincount(self.neurons, minlength=n)


@dataclass
class LeakyReadout:
    """Observables of a leaky-integrator readout, per output neuron.

    ``vmax``/``tmax``: maximum of V over [0, t_end] and where (V(0) = 0 counts); ``kink``: index of the
    arrival at ``tmax`` when the maximum sits on an arrival (else -1) and ``kink_slope`` = dV/dt just
    before it; ``vint``: integral of V over [0, t_end].
    """

    vmax: np.ndarray
    tmax: np.ndarray
    kink: np.ndarray
    kink_slope: np.ndarray
    vint: np.ndarray


@dataclass
class Forward:
    """Result of :func:`forward` for one sample. ``layers[l]`` are the spikes of network layer l + 1."""

    inputs: Spikes
    layers: list[Spikes]
    readout: LeakyReadout | None
    t_end: float

    def arrivals(self, net: Network, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrival times, source neurons and source spike indices at network layer ``layer + 1``."""
        pre = self.inputs if layer == 0 else self.layers[layer - 1]
        return pre.times + net.delays[layer], pre.neurons, np.arange(len(pre.times))

    def spike_counts(self, net: Network) -> list[np.ndarray]:
        return [s.counts(net.layer_sizes[k + 1]) for k, s in enumerate(self.layers)]


# -- compiled kernels -------------------------------------------------------------------------------
@njit(cache=False)
def _grow(out_t, out_n, out_i):
    """Double the spike buffers."""
    n = out_t.shape[0]
    return (np.concatenate((out_t, np.empty(n))), np.concatenate((out_n, np.empty(n, np.int64))),
            np.concatenate((out_i, np.empty(n))))


@njit(cache=False)
def _simulate_layer(arr_t, arr_src, w, rec_w, has_rec, rec_delay, a, b, theta, t_end, method,
                    max_spikes):
    """A layer with recurrent weights: one event queue for the whole layer.

    ``tc[j]`` is neuron j's next crossing before the next arrival (external or recurrent); the earliest
    crossing is emitted first, then arrivals are applied and the crossings recomputed.
    """
    n = w.shape[1]
    v = np.zeros(n)
    cur = np.zeros(n)
    tref = np.zeros(n)
    tc = np.full(n, np.inf)
    out_t = np.empty(256)
    out_n = np.empty(256, np.int64)
    out_i = np.empty(256)
    n_out = 0
    p = 0
    q = 0
    n_arr = arr_t.shape[0]
    while True:
        t_ext = arr_t[p] if p < n_arr else np.inf
        t_rec = out_t[q] + rec_delay if (has_rec and q < n_out) else np.inf
        t_next = min(t_ext, t_rec, t_end)
        k = 0
        for j in range(1, n):
            if tc[j] < tc[k]:
                k = j
        if tc[k] <= t_next:  # the earliest crossing comes first
            if n_out >= max_spikes:
                return out_t[:n_out], out_n[:n_out], out_i[:n_out], False
            ts = tc[k]
            _, i_s = advance(v[k], cur[k], ts - tref[k], a[k], b[k])
            if n_out == out_t.shape[0]:
                out_t, out_n, out_i = _grow(out_t, out_n, out_i)
            out_t[n_out] = ts
            out_n[n_out] = k
            out_i[n_out] = i_s
            n_out += 1
            v[k] = 0.0
            cur[k] = i_s
            tref[k] = ts
            tc[k] = ts + next_crossing(0.0, i_s, theta[k], a[k], b[k], t_next - ts, method)
            continue
        if t_next >= t_end:
            break
        for j in range(n):  # bring every neuron to t_next
            v[j], cur[j] = advance(v[j], cur[j], t_next - tref[j], a[j], b[j])
            tref[j] = t_next
            if v[j] >= theta[j]:  # a crossing at t_next lost to round-off: it precedes the arrivals
                tc[j] = t_next
        if tc.min() <= t_next:
            continue
        while p < n_arr and arr_t[p] == t_next:
            src = arr_src[p]
            for j in range(n):
                cur[j] += w[src, j]
            p += 1
        while has_rec and q < n_out and out_t[q] + rec_delay == t_next:
            src = out_n[q]
            for j in range(n):
                cur[j] += rec_w[src, j]
            q += 1
        t_ext = arr_t[p] if p < n_arr else np.inf
        t_rec = out_t[q] + rec_delay if (has_rec and q < n_out) else np.inf
        span = min(t_ext, t_rec, t_end) - t_next
        for j in range(n):
            tc[j] = t_next + next_crossing(v[j], cur[j], theta[j], a[j], b[j], span, method)
    return out_t[:n_out], out_n[:n_out], out_i[:n_out], True


@njit(cache=False)
def _simulate_independent(arr_t, arr_src, w, a, b, theta, t_end, method, max_spikes):
    """A layer without recurrent weights, interval by interval between arrivals.

    All neurons share the reference time of the last arrival, so the decay factors of an interval are
    computed once per distinct (tau_syn, tau_mem), and one branch-free pass moves every neuron to the end
    of the interval. V has at most one extremum per interval, so from V and dV/dt at both ends: V(end) >=
    theta means a crossing; rising at the end, or falling from the start, means none. Only the remaining
    neurons get a cheap bound and then an exact search (:func:`kernels.crossing_from`).
    """
    n = w.shape[1]
    n_arr = arr_t.shape[0]
    h_peak = np.empty(n)  # maximum of the unit PSP (slightly inflated: a safe bound)
    s_peak = np.empty(n)
    for j in range(n):
        s_peak[j] = stationary_time(0.0, 1.0, a[j], b[j])
        h_peak[j] = psp(s_peak[j], a[j], b[j]) * (1.0 + 1e-9)
    v = np.zeros(n)
    cur = np.zeros(n)
    v_new = np.zeros(n)
    c_new = np.zeros(n)
    uniform = np.all(a == a[0]) and np.all(b == b[0])  # one set of decay factors serves every neuron
    f_a = np.empty(n)
    f_b = np.empty(n)
    f_h = np.empty(n)
    check = np.zeros(n, np.bool_)
    out_t = np.empty(256)
    out_n = np.empty(256, np.int64)
    out_i = np.empty(256)
    n_out = 0
    t_prev = 0.0
    p = 0
    while True:
        t_next = min(arr_t[p], t_end) if p < n_arr else t_end
        span = t_next - t_prev
        ea, eb, hd = decay(span, a[0], b[0])
        if not uniform:  # decay factors, computed once per distinct (a, b)
            a_c = -1.0
            b_c = -1.0
            for j in range(n):
                if a[j] != a_c or b[j] != b_c:
                    a_c, b_c = a[j], b[j]
                    ea, eb, hd = decay(span, a_c, b_c)
                f_a[j] = ea
                f_b[j] = eb
                f_h[j] = hd
        for j in range(n):  # every neuron to t_next, assuming no spike; flag the ones that may cross
            v_end = v[j] * (eb if uniform else f_b[j]) + cur[j] * (hd if uniform else f_h[j])
            c_end = cur[j] * (ea if uniform else f_a[j])
            v_new[j] = v_end
            c_new[j] = c_end
            check[j] = v_end >= theta[j] or (c_end - b[j] * v_end < 0.0 and cur[j] - b[j] * v[j] > 0.0)
        block = n_out  # spikes of this interval start here
        hb_a = hb_b = h_bound = -1.0  # max of h on [0, span] for the last (a, b) that needed it
        for j in range(n):
            if not check[j]:
                continue
            vj = v[j]
            cj = cur[j]
            v_end = v_new[j]
            c_end = c_new[j]
            if v_end < theta[j]:  # an interior maximum; V <= max(V0, 0) + I0 max_{s <= span} h(s)
                if a[j] != hb_a or b[j] != hb_b:
                    hb_a, hb_b = a[j], b[j]
                    h_bound = h_peak[j] if span >= s_peak[j] else psp(span, a[j], b[j]) * (1.0 + 1e-9)
                if max(vj, 0.0) + cj * h_bound < theta[j]:
                    continue
            t = t_prev
            while True:  # (v_end, c_end): the state at t_next if no further spike comes
                s = crossing_from(vj, cj, v_end, c_end, theta[j], a[j], b[j], t_next - t, method)
                if s == np.inf:
                    break
                if n_out >= max_spikes:
                    return out_t[:n_out], out_n[:n_out], out_i[:n_out], False
                cj = cj * math.exp(-a[j] * s)
                t = t + s
                if n_out == out_t.shape[0]:
                    out_t, out_n, out_i = _grow(out_t, out_n, out_i)
                out_t[n_out] = t
                out_n[n_out] = j
                out_i[n_out] = cj
                n_out += 1
                vj = 0.0
                v_end, c_end = advance(0.0, cj, t_next - t, a[j], b[j])
                if cj * h_peak[j] < theta[j]:
                    break  # from V = 0 the voltage stays below I h(s_peak) < theta
            if v_end >= theta[j]:  # a crossing at t_next lost to round-off: it precedes the arrivals
                if n_out == out_t.shape[0]:
                    out_t, out_n, out_i = _grow(out_t, out_n, out_i)
                out_t[n_out] = t_next
                out_n[n_out] = j
                out_i[n_out] = c_end
                n_out += 1
                v_end = 0.0
            v_new[j] = v_end
            c_new[j] = c_end
        # this interval's spikes follow all earlier ones; order them by time (stable: ties keep neuron order)
        for q in range(block + 1, n_out):
            tq, nq, iq = out_t[q], out_n[q], out_i[q]
            r = q
            while r > block and out_t[r - 1] > tq:
                out_t[r], out_n[r], out_i[r] = out_t[r - 1], out_n[r - 1], out_i[r - 1]
                r -= 1
            out_t[r], out_n[r], out_i[r] = tq, nq, iq
        v, v_new = v_new, v
        cur, c_new = c_new, cur
        if t_next >= t_end:
            break
        while p < n_arr and arr_t[p] == t_next:
            src = arr_src[p]
            for j in range(n):
                cur[j] += w[src, j]
            p += 1
        t_prev = t_next
    return out_t[:n_out], out_n[:n_out], out_i[:n_out], True


@njit(cache=False)
def _leaky_readout(arr_t, arr_src, w, a, b, t_end):
    n = w.shape[1]
    vmax = np.zeros(n)
    tmax = np.zeros(n)
    kink = np.full(n, -1, np.int64)
    kink_slope = np.zeros(n)
    vint = np.zeros(n)
    for o in range(n):
        v = 0.0
        cur = 0.0
        t = 0.0
        for m in range(arr_t.shape[0] + 1):
            t_b = arr_t[m] if m < arr_t.shape[0] else t_end
            if t_b > t_end:
                t_b = t_end
            if cur > 0.0 and cur - b[o] * v > 0.0:  # an interior maximum of this interval?
                s = stationary_time(v, cur, a[o], b[o])
                if t + s < t_b:
                    vs, _ = advance(v, cur, s, a[o], b[o])
                    if vs > vmax[o]:
                        vmax[o], tmax[o], kink[o], kink_slope[o] = vs, t + s, -1, 0.0
            v, cur = advance(v, cur, t_b - t, a[o], b[o])
            t = t_b
            if v > vmax[o]:
                at_arrival = m < arr_t.shape[0] and t_b < t_end
                vmax[o], tmax[o] = v, t
                kink[o] = m if at_arrival else -1
                kink_slope[o] = cur - b[o] * v if at_arrival else 0.0
            if m == arr_t.shape[0] or arr_t[m] >= t_end:
                break
            cur += w[arr_src[m], o]
            vint[o] += w[arr_src[m], o] * psp_integral(t_end - arr_t[m], a[o], b[o])
    return vmax, tmax, kink, kink_slope, vint


# -- Python entry points ----------------------------------------------------------------------------
def as_sample(sample, n_inputs: int, index: int = 0) -> Spikes:
    """Validate one input sample ``(times, channels)`` and sort it by (time, channel)."""
    try:
        times, channels = sample
    except (TypeError, ValueError):
        raise InputError(f"sample {index}: expected a pair (times, channels) of 1-D arrays") from None
    times = np.asarray(times, dtype=np.float64).ravel()
    channels_arr = np.asarray(channels)
    if channels_arr.size and not np.issubdtype(channels_arr.dtype, np.integer):
        if not np.all(channels_arr == np.round(channels_arr)):
            raise InputError(f"sample {index}: channels must be integers")
    channels_arr = channels_arr.astype(np.int64).ravel()
    if times.shape != channels_arr.shape:
        raise InputError(f"sample {index}: {times.size} times but {channels_arr.size} channels; "
                         "give one channel per spike time")
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise InputError(f"sample {index}: spike times must be finite and >= 0 seconds")
    if channels_arr.size and (channels_arr.min() < 0 or channels_arr.max() >= n_inputs):
        raise InputError(f"sample {index}: channels must lie in [0, {n_inputs - 1}] "
                         f"(got {channels_arr.min()}..{channels_arr.max()})")
    order = np.lexsort((channels_arr, times))
    return Spikes(times[order], channels_arr[order], np.zeros(times.size))


def check_t_end(t_end: float) -> float:
    if not (isinstance(t_end, (int, float)) and math.isfinite(t_end) and t_end > 0):
        raise InputError(f"t_end must be a positive finite number of seconds, got {t_end!r}")
    return float(t_end)


def forward(net: Network, sample, t_end: float, numeric: bool = False,
            max_spikes: int = MAX_SPIKES) -> Forward:
    """Exact spike times of every layer for one input sample ``(times, channels)`` over [0, t_end].

    ``numeric=True`` disables the closed-form crossings (for testing them against the root finder).
    """
    t_end = check_t_end(t_end)
    inputs = sample if isinstance(sample, Spikes) else as_sample(sample, net.layer_sizes[0])
    method = METHOD_NUMERIC if numeric else METHOD_AUTO
    result = Forward(inputs, [], None, t_end)
    n_spiking = net.n_layers - (1 if net.readout == "leaky-integrator" else 0)
    for layer in range(net.n_layers):
        arr_t, arr_src, _ = result.arrivals(net, layer)
        a, b = 1.0 / net.tau_syn[layer], 1.0 / net.tau_mem[layer]
        if layer >= n_spiking:
            result.readout = LeakyReadout(*_leaky_readout(arr_t, arr_src, net.weights[layer], a, b, t_end))
            break
        rec = net.recurrent[layer] if layer < net.n_layers - 1 else None
        rec_w = rec if rec is not None else np.zeros((1, 1))
        rec_delay = net.recurrent_delays[layer] if rec is not None else 0.0
        if rec is None:
            t, n, i, ok = _simulate_independent(arr_t, arr_src, net.weights[layer], a, b, net.threshold[layer],
                                                t_end, method, max_spikes)
        else:
            t, n, i, ok = _simulate_layer(arr_t, arr_src, net.weights[layer], rec_w, True, rec_delay, a, b,
                                          net.threshold[layer], t_end, method, max_spikes)
        if not ok:
            raise InputError(f"layer {layer + 1} fired more than {max_spikes} spikes in one sample; the "
                             "weights are probably far too large (or raise max_spikes)")
        result.layers.append(Spikes(t.copy(), n.copy(), i.copy()))
    return result


def voltage_trace(net: Network, result: Forward, layer: int, times) -> np.ndarray:
    """V of every neuron of network layer ``layer + 1`` at ``times`` (Theorem 1, gradients.md §1):

    V_i(t) = sum_j W[j, i] sum_{a < t} h_i(t - a) + recurrent terms - theta_i sum_{f in F_i, f < t} e^{-(t - f)/tau_mem}

    Returns an array ``(len(times), n)``; meant for plots and checks, not for speed.
    """
    times = np.asarray(times, dtype=np.float64)
    a, b = 1.0 / net.tau_syn[layer], 1.0 / net.tau_mem[layer]
    n = net.layer_sizes[layer + 1]
    out = np.zeros((times.size, n))
    sources = [(*result.arrivals(net, layer)[:2], net.weights[layer])]
    own = result.layers[layer] if layer < len(result.layers) else None
    rec = net.recurrent[layer] if layer < net.n_layers - 1 else None
    if rec is not None and own is not None:
        sources.append((own.times + net.recurrent_delays[layer], own.neurons, rec))
    for arr_t, arr_src, w in sources:
        for t_a, src in zip(arr_t, arr_src, strict=True):
            for i in range(n):
                out[:, i] += w[src, i] * psp_many(times - t_a, a[i], b[i])
    if own is not None:
        theta = net.threshold[layer]
        for f, i in zip(own.times, own.neurons, strict=True):
            out[:, i] -= np.where(times > f, theta[i] * np.exp(-b[i] * np.clip(times - f, 0, None)), 0.0)
    return out
