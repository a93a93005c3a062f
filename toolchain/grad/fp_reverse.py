"""Reverse-mode FP: the chain rule over the spike-causality graph, output to input (gradients.md §2.3).

For spike ``k`` with total derivative ``a_k = dL/dt_k`` and ``g_k = a_k / Vdot_k``::

    a_k = dl/dt_k + sum_{post spikes q, t_q > t_k + d} W[n(k), n(q)] h'(t_q - t_k - d) g_q
                  + theta beta sum_{own later q} exp(-beta (t_q - t_k)) g_q
    dL/dW[j, i] = - sum_{k in F_i} g_k y_ji(t_k)
    dL/dtheta_i = sum_{k in F_i} g_k (1 + sum_{m<k} exp(-beta (t_k - t_m)))

Time constants (``taus=True``; docs/gradients.md, "Learned time constants"), with ``alpha_i = 1/tau_syn_i``,
``beta_i = 1/tau_mem_i`` and the kernel's rate derivatives ``h_alpha``, ``h_beta``::

    dL/dalpha_i = - sum_{k in F_i} g_k sum_{arrivals a < t_k} W[j(a), i] h_alpha(t_k - a)
    dL/dbeta_i  = - sum_{k in F_i} g_k [sum_a W[j(a), i] h_beta(t_k - a)
                                        + theta sum_{m<k} (t_k - t_m) e^{-beta (t_k - t_m)}]
    dL/dtau_syn_i = -alpha_i^2 dL/dalpha_i,      dL/dtau_mem_i = -beta_i^2 dL/dbeta_i

computed after the reverse pass from the per-spike ``g_k`` (O(spikes x causal parents) per layer).

The sums over children are accumulated in reverse time per neuron with two running sums,
``Z_i(t) = sum_{q in F_i, t_q > t} g_q exp(-beta (t_q - t))`` and ``Y_i(t) = sum g_q h(t_q - t)``, so that
``sum_q g_q h'(t_q - t) = Z - alpha Y``; moving back by ``D``: ``Y <- Y e^{-alpha D} + Z h(D)``,
``Z <- Z e^{-beta D}``. Cost per sample: O(arrivals x layer width + spikes). Ties: an arrival at the same
time as a spike does not cause it, so in reverse time arrivals are processed before spikes. The reset
traces need no pass of their own: ``sum_k g_k sum_{m<k} exp(-beta (t_k - t_m)) = sum_m Z_i(t_m^+)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hw_models.jitcache import drop_stale_cache
from toolchain.grad.params import Grads, zeros_like_params
from toolchain.lif.forward import Forward, tau_runs
from toolchain.lif.kernels import (
    decay,
    psp,
    psp_integral,
    psp_integral_rate_derivs,
    psp_rate_derivs,
    psp_slope,
    spike_slope,
)
from toolchain.losses import LossValue
from toolchain.network import Network


@njit(cache=True)
def _spike_adjoint(a_seed: float, z: float, current: float, theta: float, b: float) -> tuple[float, float]:
    """A spike whose own later spikes sum to ``z`` = Z_i(t_k^+): g_k = (dl/dt_k + theta beta Z) / Vdot_k, and
    its share of dL/dtheta_i, g_k + Z."""
    g = (a_seed + theta * b * z) * (1.0 / spike_slope(current, theta, b))  # the division does not wait for z
    return g, g + z


@njit(cache=True, inline="always")
def _decay_factors(s, a, b, runs, f_a, f_b, f_h):
    """f_a, f_b, f_h[i] = exp(-a_i s), exp(-b_i s), h_i(s): one :func:`decay` per run of equal (a, b)."""
    for r in range(runs.shape[0] - 1):
        ea, eb, hd = decay(s, a[runs[r]], b[runs[r]])
        f_a[runs[r]:runs[r + 1]] = ea
        f_b[runs[r]:runs[r + 1]] = eb
        f_h[runs[r]:runs[r + 1]] = hd


@njit(cache=True, fastmath={"reassoc"})
def _read_sums(j, weights, grad, y, z, a):
    """An arrival from neuron j reads every post neuron's sums: dL/dW[j, i] -= Y_i, and it returns
    dL/dt of the presynaptic spike, sum_i W[j, i] (Z_i - a_i Y_i) (summed in any order: vectorised)."""
    acc = 0.0
    for i in range(y.shape[0]):
        grad[j, i] -= y[i]
        acc += weights[j, i] * (z[i] - a[i] * y[i])
    return acc


@njit(cache=True)
def _reverse_spiking(sp_t, sp_n, sp_i, seed, arr_t, arr_src, w, rec_w, has_rec, rec_delay, a, b, theta,
                     t_end):
    n_pre, n = w.shape
    n_sp = sp_t.shape[0]
    n_arr = arr_t.shape[0]
    dw = np.zeros((n_pre, n))
    drec = np.zeros((n, n)) if has_rec else np.zeros((1, 1))
    dth = np.zeros(n)
    g_spike = np.zeros(n_sp)
    a_pre = np.zeros(n_arr)
    a_tot = seed.copy()
    y = np.zeros(n)
    z = np.zeros(n)
    # every neuron's sums refer to t_common, except the neurons that spiked since (listed in lagging,
    # their own reference in tz): one set of decay factors per arrival and run of equal (a, b) serves all
    # the others
    t_common = t_end
    tz = np.full(n, t_end)
    lagging = np.empty(n, np.int64)
    is_lagging = np.zeros(n, np.bool_)
    n_lag = 0
    runs = tau_runs(a, b)
    f_a = np.empty(n)
    f_b = np.empty(n)
    f_h = np.empty(n)
    k = n_sp - 1
    m = n_arr - 1
    r = n_sp - 1
    while True:
        t_e = arr_t[m] if m >= 0 else -np.inf
        t_r = sp_t[r] + rec_delay if (has_rec and r >= 0) else -np.inf
        t_s = sp_t[k] if k >= 0 else -np.inf
        t = max(t_e, t_r, t_s)
        if t == -np.inf:
            break
        if t_e == t or t_r == t:  # an arrival: read the running sums of every post neuron
            external = t_e == t
            j = arr_src[m] if external else sp_n[r]
            acc = 0.0
            if t < t_end:
                _decay_factors(t_common - t, a, b, runs, f_a, f_b, f_h)
                for q in range(n_lag):  # the lagging neurons to t on their own
                    i = lagging[q]
                    ea, eb, hd = decay(tz[i] - t, a[i], b[i])
                    y[i] = y[i] * ea + z[i] * hd
                    z[i] = z[i] * eb
                    f_a[i], f_b[i], f_h[i] = 1.0, 1.0, 0.0
                    is_lagging[i] = False
                n_lag = 0
                for i in range(n):  # every neuron's sums at t
                    y[i] = y[i] * f_a[i] + z[i] * f_h[i]
                    z[i] = z[i] * f_b[i]
                if external:
                    acc = _read_sums(j, w, dw, y, z, a)
                else:
                    acc = _read_sums(j, rec_w, drec, y, z, a)
                t_common = t
            if external:
                a_pre[m] = acc
                m -= 1
            else:
                a_tot[r] += acc
                r -= 1
        else:  # a spike of this layer: its total derivative is complete
            i = sp_n[k]
            ref = tz[i] if is_lagging[i] else t_common
            ea, eb, hd = decay(ref - t, a[i], b[i])
            y[i] = y[i] * ea + z[i] * hd
            z[i] = z[i] * eb
            tz[i] = t
            if not is_lagging[i]:
                is_lagging[i] = True
                lagging[n_lag] = i
                n_lag += 1
            g, g_theta = _spike_adjoint(a_tot[k], z[i], sp_i[k], theta[i], b[i])
            g_spike[k] = g
            z[i] += g
            dth[i] += g_theta
            k -= 1
    return dw, drec, dth, a_pre, g_spike


@njit(cache=True)
def _tau_spiking(sp_t, sp_n, g_spike, arr_t, arr_src, w, rec_w, has_rec, rec_delay, a, b, theta):
    """dL/dalpha_i and dL/dbeta_i of a spiking layer from the per-spike g_k (arrivals sorted by time)."""
    n = w.shape[1]
    d_a = np.zeros(n)
    d_b = np.zeros(n)
    for k in range(sp_t.shape[0]):
        if g_spike[k] == 0.0:
            continue
        t, i = sp_t[k], sp_n[k]
        sa = 0.0
        sb = 0.0
        for m in range(arr_t.shape[0]):
            if not arr_t[m] < t:
                break
            ha, hb = psp_rate_derivs(t - arr_t[m], a[i], b[i])
            sa += w[arr_src[m], i] * ha
            sb += w[arr_src[m], i] * hb
        for r in range(k):
            if has_rec and sp_t[r] + rec_delay < t:
                ha, hb = psp_rate_derivs(t - rec_delay - sp_t[r], a[i], b[i])
                sa += rec_w[sp_n[r], i] * ha
                sb += rec_w[sp_n[r], i] * hb
            if sp_n[r] == i and sp_t[r] < t:
                s = t - sp_t[r]
                sb += theta[i] * s * np.exp(-b[i] * s)
        d_a[i] -= g_spike[k] * sa
        d_b[i] -= g_spike[k] * sb
    return d_a, d_b


@njit(cache=True)
def _tau_leaky(arr_t, arr_src, w, a, b, t_end, tmax, c_max, c_int):
    """dL/dalpha_o and dL/dbeta_o of a leaky-integrator readout: c_max d vmax + c_int d vint, where
    d vmax/dp = sum_{a < t*} W h_p(t* - a) (envelope theorem) and d vint/dp = sum_{a < T} W H_p(T - a)."""
    n = w.shape[1]
    d_a = np.zeros(n)
    d_b = np.zeros(n)
    for m in range(arr_t.shape[0]):
        t = arr_t[m]
        if t >= t_end:
            break
        for o in range(n):
            wo = w[arr_src[m], o]
            if c_max[o] != 0.0 and t < tmax[o]:
                ha, hb = psp_rate_derivs(tmax[o] - t, a[o], b[o])
                d_a[o] += c_max[o] * wo * ha
                d_b[o] += c_max[o] * wo * hb
            if c_int[o] != 0.0:
                ha, hb = psp_integral_rate_derivs(t_end - t, a[o], b[o])
                d_a[o] += c_int[o] * wo * ha
                d_b[o] += c_int[o] * wo * hb
    return d_a, d_b


def _rates_to_taus(grads: Grads, layer: int, net: Network, d_a: np.ndarray, d_b: np.ndarray) -> None:
    """dL/dtau = -dL/drate / tau^2 (rate = 1 / tau)."""
    grads["tau_syn"][layer] = -d_a / net.tau_syn[layer] ** 2
    grads["tau_mem"][layer] = -d_b / net.tau_mem[layer] ** 2


@njit(cache=True)
def _reverse_leaky(arr_t, arr_src, w, a, b, t_end, tmax, kink, kink_slope, c_max, c_int):
    n_pre, n = w.shape
    dw = np.zeros((n_pre, n))
    a_pre = np.zeros(arr_t.shape[0])
    for m in range(arr_t.shape[0]):
        t = arr_t[m]
        if t >= t_end:
            break
        j = arr_src[m]
        acc = 0.0
        for o in range(n):
            if c_max[o] != 0.0 and t < tmax[o]:
                s = tmax[o] - t
                dw[j, o] += c_max[o] * psp(s, a[o], b[o])
                acc -= c_max[o] * w[j, o] * psp_slope(s, a[o], b[o])
            if c_int[o] != 0.0:
                s = t_end - t
                dw[j, o] += c_int[o] * psp_integral(s, a[o], b[o])
                acc -= c_int[o] * w[j, o] * psp(s, a[o], b[o])
        a_pre[m] = acc
    for o in range(n):
        if kink[o] >= 0:
            a_pre[kink[o]] += c_max[o] * kink_slope[o]
    return dw, a_pre


def gradients(net: Network, fwd: Forward, loss: LossValue, taus: bool = False) -> Grads:
    """dL/d(parameters) of one sample by reverse-mode FP (``taus``: also dL/dtau_syn, dL/dtau_mem)."""
    grads = zeros_like_params(net, taus)
    top = net.n_layers - 1
    if net.readout == "leaky-integrator":
        ro = fwd.readout
        arr_t, arr_src, _ = fwd.arrivals(net, top)
        dw, seed = _reverse_leaky(arr_t, arr_src, net.weights[top], 1.0 / net.tau_syn[top],
                                  1.0 / net.tau_mem[top], fwd.t_end, ro.tmax, ro.kink, ro.kink_slope,
                                  loss.d_vmax, loss.d_vint)
        grads["weights"][top] = dw
        if taus:
            _rates_to_taus(grads, top, net, *_tau_leaky(arr_t, arr_src, net.weights[top], 1.0 / net.tau_syn[top],
                                                        1.0 / net.tau_mem[top], fwd.t_end, ro.tmax, loss.d_vmax,
                                                        loss.d_vint))
        top -= 1
    else:
        seed = loss.d_times
    for layer in range(top, -1, -1):
        sp = fwd.layers[layer]
        arr_t, arr_src, _ = fwd.arrivals(net, layer)
        rec = net.recurrent[layer] if layer < net.n_layers - 1 else None
        rec_w = rec if rec is not None else np.zeros((1, 1))
        rec_delay = net.recurrent_delays[layer] if rec is not None else 0.0
        a, b = 1.0 / net.tau_syn[layer], 1.0 / net.tau_mem[layer]
        dw, drec, dth, seed, g_spike = _reverse_spiking(
            sp.times, sp.neurons, sp.current, np.asarray(seed, dtype=np.float64), arr_t, arr_src,
            net.weights[layer], rec_w, rec is not None, rec_delay, a, b, net.threshold[layer], fwd.t_end)
        if taus:
            _rates_to_taus(grads, layer, net, *_tau_spiking(sp.times, sp.neurons, g_spike, arr_t, arr_src,
                                                            net.weights[layer], rec_w, rec is not None, rec_delay,
                                                            a, b, net.threshold[layer]))
        grads["weights"][layer] = dw
        grads["threshold"][layer] = dth
        if rec is not None:
            grads["recurrent"][layer] = drec
    return grads


drop_stale_cache(_spike_adjoint)  # numba's disk cache, dropped when any kernel source changes
