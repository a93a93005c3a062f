"""Exact event-driven forward pass of a :class:`~toolchain.network.Network` (reference/gradients.md §1, §7.3).

There is no time step: between events every neuron evolves in closed form (:func:`kernels.advance`),
and each neuron's next threshold crossing before the next event is solved exactly
(:func:`kernels.crossing_from`). A layer with recurrent weights is processed as one event queue in time
order (arrivals of delayed presynaptic spikes, arrivals of its own spikes, crossings); a layer without
them is swept interval by interval between arrivals, one vectorised pass over its neurons per interval,
and only the neurons flagged by a cheap conservative test get the exact search (:func:`_sweep_run`).

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
from hw_models.jitcache import drop_stale_cache
from toolchain.lif.kernels import (
    METHOD_AUTO,
    METHOD_NUMERIC,
    advance,
    crossing_from,
    interval_decays,
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
@njit(cache=True)
def _grow(out_t, out_n, out_i):
    """Double the spike buffers."""
    return (np.concatenate((out_t, np.empty_like(out_t))), np.concatenate((out_n, np.empty_like(out_n))),
            np.concatenate((out_i, np.empty_like(out_i))))


@njit(cache=True)
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


@njit(cache=True)
def _psp_peak(a, b):
    """Time s_peak of the maximum of the unit PSP h, and h(s_peak) inflated by 1e-9 (a safe bound)."""
    s_peak = stationary_time(0.0, 1.0, a, b)
    return s_peak, psp(s_peak, a, b) * (1.0 + 1e-9)


@njit(cache=True)
def tau_runs(a, b):
    """Start indices of the runs of consecutive neurons with equal (a, b), then n: [0, n] for a layer
    with uniform time constants."""
    n = a.shape[0]
    starts = np.empty(n + 1, np.int64)
    m = 0
    for j in range(n):
        if j == 0 or a[j] != a[j - 1] or b[j] != b[j - 1]:
            starts[m] = j
            m += 1
    starts[m] = n
    return starts[:m + 1]


@njit(cache=True)
def _interval_ends(arr_t, t_end):
    """Ends of the event-free intervals (the distinct arrival times before t_end, then t_end) and, for
    interval k, the arrivals at its end: indices first[k] to first[k + 1] (none at t_end)."""
    n_arr = arr_t.shape[0]
    ends = np.empty(n_arr + 1)
    first = np.empty(n_arr + 2, np.int64)
    n_int = 0
    p = 0
    while p < n_arr and arr_t[p] < t_end:
        ends[n_int] = arr_t[p]
        first[n_int] = p
        while p < n_arr and arr_t[p] == ends[n_int]:
            p += 1
        n_int += 1
    ends[n_int] = t_end
    first[n_int] = p
    first[n_int + 1] = p
    return ends[:n_int + 1], first[:n_int + 2]


@njit(cache=True)
def _interval_table(ends, a, b, s_peak, h_peak, table):
    """:func:`kernels.interval_decays` in columns 0-2 and, in column 3, max_{s <= span} h(s) (a safe bound)."""
    interval_decays(ends, a, b, table)
    t_prev = 0.0
    for k in range(ends.shape[0]):
        table[k, 3] = h_peak if ends[k] - t_prev >= s_peak else table[k, 2] * (1.0 + 1e-9)
        t_prev = ends[k]


#: status of :func:`_sweep_run`
_DONE, _FULL, _RUNAWAY = 0, 1, 2


@njit(cache=True, inline="always")
def _may_cross(v, c, v_end, c_end, b, theta, h_max):
    """Whether V can reach theta on an event-free interval, from the state (v, c) at its start and the state
    (v_end, c_end) at its end if no spike came (branch-free).

    V has at most one extremum, so only V(end) >= theta, or an interior maximum (rising at the start,
    falling at the end) that the bound V <= max(V0, 0) + max(I0, 0) max_{s <= span} h(s) does not rule out,
    needs the exact search.
    """
    peak = (c_end - b * v_end < 0.0) & (c - b * v > 0.0) & (max(v, 0.0) + max(c, 0.0) * h_max >= theta)
    return (v_end >= theta) | peak


@njit(cache=True)
def _sweep_run(k, n_out, ends, first, arr_src, w, a, b, theta, h_peak, table, method, max_spikes, v, cur,
               first_neuron, out_t, out_n, out_i):
    """A run of neurons (numbered from ``first_neuron`` in the layer) that share (a, b) and so the decay
    factors ``table[k]`` of interval k and the PSP peak ``h_peak``, over the intervals k, k + 1, ...: ``w``,
    ``a``, ``theta``, ``v``, ``cur`` hold the run's columns only (so that every neuron loop starts at 0 and
    vectorises); ``v``, ``cur``: its state at the start of interval k, updated in place.

    Per interval, one branch-free pass moves every neuron to its end assuming no spike,
    V(end) = V0 e^{-b span} + I0 h(span), I(end) = I0 e^{-a span}, and flags the few that may cross
    (:func:`_may_cross`); those get the exact search (:func:`kernels.crossing_from`). I does not depend
    on resets, and a spike at t lowers V(end) by theta e^{-b (end - t)}, so a spike costs one exponential
    besides its root.

    Returns the interval to resume from, the spike count and a status: _DONE, _FULL (the buffers are too
    small: grow them and resume) or _RUNAWAY (more than ``max_spikes`` spikes in the layer).
    """
    bj = b[0]
    n = v.shape[0]
    v_new = np.empty(n)  # scratch arrays allocated here are known not to alias: the passes vectorise
    c_new = np.empty(n)
    flag = np.empty(n, np.bool_)
    idx = np.empty(n, np.int64)
    while k < ends.shape[0]:
        t_prev = ends[k - 1] if k > 0 else 0.0
        t_next = ends[k]
        ea, eb, hd, h_max = table[k, 0], table[k, 1], table[k, 2], table[k, 3]
        for j in range(n):
            v_new[j] = v[j] * eb + cur[j] * hd
            c_new[j] = cur[j] * ea
            flag[j] = _may_cross(v[j], cur[j], v_new[j], c_new[j], bj, theta[j], h_max)
        m = 0
        for j in range(n):  # the flagged neurons, branch-free
            idx[m] = j
            m += flag[j]
        n_start = n_out
        for q in range(m):
            j = idx[q]
            vv = v[j]
            c = cur[j]
            v_end = v_new[j]
            t = t_prev
            while True:
                s = crossing_from(vv, c, v_end, c_new[j], theta[j], a[j], bj, t_next - t, method)
                if s == np.inf:
                    break
                if n_out >= max_spikes:
                    return k, n_out, _RUNAWAY
                if n_out == out_t.shape[0]:
                    return k, n_start, _FULL
                c = c * math.exp(-a[j] * s)
                t = t + s
                out_t[n_out], out_n[n_out], out_i[n_out] = t, first_neuron + j, c
                n_out += 1
                vv = 0.0
                v_end -= theta[j] * math.exp(-bj * (t_next - t))
                if c * h_peak < theta[j]:
                    break  # from V = 0 the voltage stays below I h(s_peak) < theta
            if v_end >= theta[j]:  # a crossing at t_next lost to round-off: it precedes the arrivals
                if n_out == out_t.shape[0]:
                    return k, n_start, _FULL
                out_t[n_out], out_n[n_out], out_i[n_out] = t_next, first_neuron + j, c_new[j]
                n_out += 1
                v_end = 0.0
            v_new[j] = v_end
        for j in range(n):
            v[j] = v_new[j]
            cur[j] = c_new[j]
        for p in range(first[k], first[k + 1]):
            src = arr_src[p]
            for j in range(n):
                cur[j] += w[src, j]
        k += 1
    return k, n_out, _DONE


@njit(cache=True)
def _time_order(out_t, out_n, out_i, n_out, t_end):
    """The spikes in time order (stable: ties keep their order): a counting sort into about one time bin per
    spike, then an insertion sort, which has next to nothing left to move."""
    n_bins = n_out + 1
    scale = n_bins / t_end
    bins = np.empty(n_out, np.int64)
    start = np.zeros(n_bins + 1, np.int64)
    for q in range(n_out):
        bins[q] = min(int(out_t[q] * scale), n_bins - 1)
        start[bins[q] + 1] += 1
    for k in range(n_bins):
        start[k + 1] += start[k]
    perm = np.empty(n_out, np.int64)
    key = np.empty(n_out)
    for q in range(n_out):
        r = start[bins[q]]
        perm[r] = q
        key[r] = out_t[q]
        start[bins[q]] = r + 1
    for q in range(1, n_out):
        kq, pq = key[q], perm[q]
        r = q
        while r > 0 and key[r - 1] > kq:
            key[r], perm[r] = key[r - 1], perm[r - 1]
            r -= 1
        key[r], perm[r] = kq, pq
    return out_t[perm], out_n[perm], out_i[perm]


@njit(cache=True)
def _simulate_independent(arr_t, arr_src, w, a, b, theta, t_end, method, max_spikes):
    """A layer without recurrent weights, over the event-free intervals between arrivals. Its neurons are
    independent given the arrivals, so each run of neurons with equal (tau_syn, tau_mem) is swept on its
    own (:func:`_sweep_run`), with the decay factors of every interval computed once for the run; the
    spikes are then put in time order."""
    ends, first = _interval_ends(arr_t, t_end)
    runs = tau_runs(a, b)
    table = np.empty((ends.shape[0], 4))
    out_t = np.empty(256)
    out_n = np.empty(256, np.int64)
    out_i = np.empty(256)
    n_out = 0
    for r in range(runs.shape[0] - 1):
        j0, j1 = runs[r], runs[r + 1]
        s_peak, h_peak = _psp_peak(a[j0], b[j0])
        _interval_table(ends, a[j0], b[j0], s_peak, h_peak, table)
        w_run = np.ascontiguousarray(w[:, j0:j1])
        v = np.zeros(j1 - j0)
        cur = np.zeros(j1 - j0)
        k = 0
        while True:
            k, n_out, status = _sweep_run(k, n_out, ends, first, arr_src, w_run, a[j0:j1], b[j0:j1], theta[j0:j1],
                                          h_peak, table, method, max_spikes, v, cur, j0, out_t, out_n, out_i)
            if status == _RUNAWAY:
                return out_t[:n_out], out_n[:n_out], out_i[:n_out], False
            if status == _DONE:
                break
            out_t, out_n, out_i = _grow(out_t, out_n, out_i)  # and resume at interval k
    t, nrn, i_s = _time_order(out_t, out_n, out_i, n_out, t_end)
    return t, nrn, i_s, True


@njit(cache=True)
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


drop_stale_cache(_grow)  # numba's disk cache, dropped when any kernel source changes
