"""EventProp (Wunderlich & Pehle 2021, gradients.md §3.1): the adjoint ODE integrated backwards in time,
with jumps at spikes, written in the paper's own normalisation and independently of FP.

Paper units: ``tau_m dV/dt = -V + I``, ``tau_s dI/dt = -I``, a spike of ``j`` adds ``w_ji = tau_m W[j, i]``
to ``I_i`` (our ``W`` is in FP units, ``dV/dt = -V / tau_m + I``). Adjoint, with ``' = -d/dt``::

    tau_m lambda_V' = -lambda_V - dl_V/dV,        tau_s lambda_I' = -lambda_I + lambda_V

integrated exactly between events. At spike ``k`` of neuron ``n`` (``I`` in paper units, ``tau_m Vdot = I - theta``)::

    lambda_V^- = (I lambda_V^+ + err_k) / (I - theta),   err_k = dl/dt_k + sum_i w_ni (lambda_V,i - lambda_I,i)

where the sum runs over the neurons the spike reaches; the same sum evaluated at an arrival is dL/dt of
the presynaptic spike and is sent down to the layer below. Gradients::

    dL/dw_ji = -tau_s sum_{arrivals of j} lambda_I,i          ->  dL/dW = tau_m dL/dw
    dL/dtheta_n = tau_m sum_{k in F_n} lambda_V,n(t_k^-)

Time constants (``taus=True``; docs/gradients.md): the loss's Lagrangian holds ``lambda_V (tau_m dV/dt + V - I)``
and ``lambda_I (tau_s dI/dt + I)`` and no jump or transition condition depends on a time constant, so at fixed
paper-unit weights ``w`` ::

    dL/dtau_s,i = int_0^T lambda_I,i dI_i/dt dt,      dL/dtau_m,i = int_0^T lambda_V,i dV_i/dt dt

(free evolution between events), and at fixed FP weights ``W = w / tau_m`` the membrane constant also scales
``w``: ``dL/dtau_m,i += sum_j w_ji dL/dw_ji / tau_m,i``. The integrals are taken on every event-free
segment of the backward sweep (recorded during it) by 8-point Gauss-Legendre on pieces no longer than
``min(tau_s, tau_m) / 2``, with the forward state advanced exactly from the segment's start and the adjoint
exactly from its end: the integrand is a sum of exponentials, so the rule is exact to round-off.

Leaky-integrator losses: ``f(max_t V_o)`` makes ``lambda_V,o`` jump by ``-f'/tau_m`` at the maximum (plus
``f' dV/dt(t*^-)`` on the arriving spike when the maximum sits on its arrival); ``f(integral V_o)`` is the
source ``dl_V/dV = f'``. Events at the same time: arrivals before spikes and before the maximum
(neither is caused by an arrival at the same instant).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hw_models.jitcache import drop_stale_cache
from toolchain.grad.params import Grads, zeros_like_params
from toolchain.lif.forward import Forward
from toolchain.lif.kernels import VDOT_FLOOR, advance, decay
from toolchain.losses import LossValue
from toolchain.network import Network


@njit(cache=True)
def _backwards(lam_v, lam_i, dt, tau_s, tau_m, source, memo):
    """One neuron's adjoint integrated backwards over dt (exact, constant source dl_V/dV = ``source``).

    ``memo`` = (dt, tau_s, tau_m, exp(-dt/tau_s), exp(-dt/tau_m), h(dt)) of the previous call, so neurons
    sharing a reference time and time constants share the exponentials. Scalars in, scalars out.
    """
    if dt <= 0.0 or (lam_v == 0.0 and lam_i == 0.0 and source == 0.0):
        return lam_v, lam_i, memo
    a = 1.0 / tau_s
    if memo[0] == dt and memo[1] == tau_s and memo[2] == tau_m:
        ea, eb, h = memo[3], memo[4], memo[5]
    else:
        ea, eb, h = decay(dt, a, 1.0 / tau_m)
        memo = (dt, tau_s, tau_m, ea, eb, h)
    lv = lam_v + source
    return lv * eb - source, lam_i * ea + a * lv * h - source * (1.0 - ea), memo


@njit(cache=True, inline="always")
def _record(seg, n_seg, i, t_lo, t_hi, lam_v, lam_i, source):
    """Append the event-free segment (t_lo, t_hi) of neuron i with the adjoint at t_hi (if recording)."""
    if seg.shape[0] == 0 or t_hi <= t_lo or (lam_v == 0.0 and lam_i == 0.0 and source == 0.0):
        return n_seg
    seg[n_seg, 0], seg[n_seg, 1], seg[n_seg, 2], seg[n_seg, 3], seg[n_seg, 4] = i, t_lo, t_hi, lam_v, lam_i
    return n_seg + 1


@njit(cache=True)
def _adjoint_layer(sp_t, sp_n, sp_i, d_t, arr_t, arr_src, w_fp, rec_fp, has_rec, rec_delay, tau_s, tau_m,
                   theta, t_end, t_max, jump, kink, kink_slope, source, record):
    """One layer backwards in time. Spiking layer: sp_* are its spikes, d_t = dl/dt per spike.
    Leaky layer: no spikes; t_max/jump give the point jumps, source the integral loss. ``record``: also
    return the event-free segments (neuron, t_lo, t_hi, lambda_V(t_hi), lambda_I(t_hi)) for the time-constant
    integrals (an empty array otherwise)."""
    n_pre, n = w_fp.shape
    n_events = arr_t.shape[0] + sp_t.shape[0] * (2 if has_rec else 1) + t_max.shape[0] + 1
    seg = np.zeros((n * n_events if record else 0, 5))
    n_seg = 0
    w = w_fp * tau_m  # paper units, column i scaled by tau_m of the post neuron
    rec = rec_fp * tau_m if has_rec else rec_fp
    lam_v = np.zeros(n)
    lam_i = np.zeros(n)
    dw = np.zeros((n_pre, n))
    drec = np.zeros((n, n)) if has_rec else np.zeros((1, 1))
    dth = np.zeros(n)
    err_pre = np.zeros(arr_t.shape[0])
    err = d_t.copy()
    order_max = np.argsort(-t_max)
    n_max = t_max.shape[0]
    t_ref = np.full(n, t_end)
    memo = (-1.0, -1.0, -1.0, 0.0, 0.0, 0.0)
    k = sp_t.shape[0] - 1
    m = arr_t.shape[0] - 1
    r = sp_t.shape[0] - 1
    p = 0
    while True:
        t_e = arr_t[m] if m >= 0 else -np.inf
        t_r = sp_t[r] + rec_delay if (has_rec and r >= 0) else -np.inf
        t_s = sp_t[k] if k >= 0 else -np.inf
        t_j = t_max[order_max[p]] if p < n_max else -np.inf
        t = max(t_e, t_r, t_s, t_j)
        if t == -np.inf:
            break
        if t_e == t or t_r == t:
            external = t_e == t
            j = arr_src[m] if external else sp_n[r]
            row = w[j] if external else rec[j]
            total = 0.0
            if t < t_end:
                for i in range(n):
                    n_seg = _record(seg, n_seg, i, t, t_ref[i], lam_v[i], lam_i[i], source[i])
                    lam_v[i], lam_i[i], memo = _backwards(lam_v[i], lam_i[i], t_ref[i] - t, tau_s[i], tau_m[i],
                                                          source[i], memo)
                    t_ref[i] = t
                    total += row[i] * (lam_v[i] - lam_i[i])
                    if external:
                        dw[j, i] -= tau_s[i] * tau_m[i] * lam_i[i]
                    else:
                        drec[j, i] -= tau_s[i] * tau_m[i] * lam_i[i]
            if external:
                err_pre[m] += total
                m -= 1
            else:
                err[r] += total
                r -= 1
        elif t_s == t:
            i = sp_n[k]
            n_seg = _record(seg, n_seg, i, t, t_ref[i], lam_v[i], lam_i[i], source[i])
            lam_v[i], lam_i[i], memo = _backwards(lam_v[i], lam_i[i], t_ref[i] - t, tau_s[i], tau_m[i], source[i],
                                                  memo)
            t_ref[i] = t
            cur = sp_i[k] * tau_m[i]  # paper-unit current
            slope = max(cur - theta[i], VDOT_FLOOR * theta[i])
            lam_v[i] = (cur * lam_v[i] + err[k]) / slope
            dth[i] += tau_m[i] * lam_v[i]
            k -= 1
        else:
            o = order_max[p]
            t_o = min(t, t_end)
            n_seg = _record(seg, n_seg, o, t_o, t_ref[o], lam_v[o], lam_i[o], source[o])
            lam_v[o], lam_i[o], memo = _backwards(lam_v[o], lam_i[o], t_ref[o] - t_o, tau_s[o], tau_m[o], source[o],
                                                  memo)
            t_ref[o] = t_o
            lam_v[o] -= jump[o] / tau_m[o]
            p += 1
    for o in range(kink.shape[0]):
        if kink[o] >= 0:
            err_pre[kink[o]] += jump[o] * kink_slope[o]
    for i in range(n):  # the first segment of every neuron, from 0
        n_seg = _record(seg, n_seg, i, 0.0, t_ref[i], lam_v[i], lam_i[i], source[i])
    return dw, drec, dth, err_pre, seg[:n_seg]


#: 8-point Gauss-Legendre nodes and weights on [-1, 1]
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


@njit(cache=True)
def _tau_integrals(seg, sp_t, sp_n, arr_t, arr_src, w_fp, rec_fp, has_rec, rec_delay, tau_s, tau_m, theta,
                   source, gl_x, gl_w):
    """dL/dtau_s,i = -(1/tau_s) int lambda_I I_p dt and dL/dtau_m,i = (1/tau_m) int lambda_V (I_p - V) dt at
    fixed paper weights (I_p = tau_m I in paper units), over the recorded segments. The forward state of each
    neuron is advanced exactly through its events (arrivals add W to I, own spikes subtract theta from V)."""
    n = w_fp.shape[1]
    d_s = np.zeros(n)
    d_m = np.zeros(n)
    order = np.argsort(seg[:, 1], kind="mergesort")
    # events per neuron in time order: arrivals (+W), recurrent arrivals (+W_rec), own spikes (-theta)
    n_ev = arr_t.shape[0] + sp_t.shape[0] * (2 if has_rec else 1)
    ev_t = np.empty(n_ev)
    ev_k = np.empty(n_ev, np.int64)  # 0 arrival, 1 recurrent arrival, 2 own spike
    ev_j = np.empty(n_ev, np.int64)
    q = 0
    for m in range(arr_t.shape[0]):
        ev_t[q], ev_k[q], ev_j[q] = arr_t[m], 0, arr_src[m]
        q += 1
    for r in range(sp_t.shape[0]):
        ev_t[q], ev_k[q], ev_j[q] = sp_t[r], 2, sp_n[r]
        q += 1
        if has_rec:
            ev_t[q], ev_k[q], ev_j[q] = sp_t[r] + rec_delay, 1, sp_n[r]
            q += 1
    ev_order = np.argsort(ev_t, kind="mergesort")
    for i in range(n):
        a, b = 1.0 / tau_s[i], 1.0 / tau_m[i]
        v, cur, t_now, e = 0.0, 0.0, 0.0, 0
        memo = (-1.0, -1.0, -1.0, 0.0, 0.0, 0.0)
        for p in range(order.shape[0]):
            sg = seg[order[p]]
            if int(sg[0]) != i:
                continue
            t_lo, t_hi = sg[1], sg[2]
            while e < n_ev and ev_t[ev_order[e]] <= t_lo:  # the state just after every event up to t_lo
                x = ev_order[e]
                v, cur = advance(v, cur, ev_t[x] - t_now, a, b)
                t_now = max(t_now, ev_t[x])
                if ev_k[x] == 0:
                    cur += w_fp[ev_j[x], i]
                elif ev_k[x] == 1:
                    cur += rec_fp[ev_j[x], i]
                elif ev_j[x] == i:
                    v -= theta[i]
                e += 1
            v, cur = advance(v, cur, t_lo - t_now, a, b)
            t_now = t_lo
            pieces = int(np.ceil((t_hi - t_lo) / (0.5 * min(tau_s[i], tau_m[i]))))
            width = (t_hi - t_lo) / pieces
            for c in range(pieces):
                for g in range(gl_x.shape[0]):
                    u = c * width + 0.5 * width * (1.0 + gl_x[g])
                    vv, ii = advance(v, cur, u, a, b)
                    lv, li, memo = _backwards(sg[3], sg[4], t_hi - t_lo - u, tau_s[i], tau_m[i], source[i], memo)
                    ip = tau_m[i] * ii
                    d_s[i] -= 0.5 * width * gl_w[g] * li * ip / tau_s[i]
                    d_m[i] += 0.5 * width * gl_w[g] * lv * (ip - vv) / tau_m[i]
    return d_s, d_m


def _tau_grads(grads: Grads, layer: int, net: Network, seg, sp_t, sp_n, arr_t, arr_src, rec, source) -> None:
    """Fill dL/dtau_syn and dL/dtau_mem of ``layer`` (at fixed FP weights) from its recorded segments."""
    rec_w = rec if rec is not None else np.zeros((1, 1))
    rec_delay = net.recurrent_delays[layer] if rec is not None else 0.0
    theta = net.threshold[layer] if net.threshold[layer] is not None else np.ones(net.layer_sizes[layer + 1])
    d_s, d_m = _tau_integrals(seg, sp_t, sp_n, arr_t, arr_src, net.weights[layer], rec_w, rec is not None, rec_delay,
                              net.tau_syn[layer], net.tau_mem[layer], theta, source, _GL_X, _GL_W)
    # W = w / tau_m: at fixed W, w moves with tau_m; dL/dw = dL/dW / tau_m
    d_m += np.sum(net.weights[layer] * grads["weights"][layer], axis=0) / net.tau_mem[layer]
    if rec is not None:
        d_m += np.sum(rec * grads["recurrent"][layer], axis=0) / net.tau_mem[layer]
    grads["tau_syn"][layer] = d_s
    grads["tau_mem"][layer] = d_m


def gradients(net: Network, fwd: Forward, loss: LossValue, taus: bool = False) -> Grads:
    """dL/d(parameters) of one sample by EventProp (adjoint method; ``taus``: also dL/dtau_syn, dL/dtau_mem)."""
    grads = zeros_like_params(net, taus)
    top = net.n_layers - 1
    none_t = np.zeros(0)
    none_i = np.zeros(0, dtype=np.int64)
    if net.readout == "leaky-integrator":
        ro = fwd.readout
        arr_t, arr_src, _ = fwd.arrivals(net, top)
        n = net.layer_sizes[-1]
        dw, _, _, err, seg = _adjoint_layer(
            none_t, none_i, none_t, none_t, arr_t, arr_src, net.weights[top], np.zeros((1, 1)), False, 0.0,
            net.tau_syn[top], net.tau_mem[top], np.ones(n), fwd.t_end, ro.tmax, loss.d_vmax, ro.kink,
            ro.kink_slope, loss.d_vint, taus)
        grads["weights"][top] = dw
        if taus:
            _tau_grads(grads, top, net, seg, none_t, none_i, arr_t, arr_src, None, loss.d_vint)
        top -= 1
    else:
        err = loss.d_times
    for layer in range(top, -1, -1):
        sp = fwd.layers[layer]
        n = net.layer_sizes[layer + 1]
        arr_t, arr_src, _ = fwd.arrivals(net, layer)
        rec = net.recurrent[layer] if layer < net.n_layers - 1 else None
        dw, drec, dth, err, seg = _adjoint_layer(
            sp.times, sp.neurons, sp.current, np.asarray(err, dtype=np.float64), arr_t, arr_src,
            net.weights[layer], rec if rec is not None else np.zeros((1, 1)), rec is not None,
            net.recurrent_delays[layer] if rec is not None else 0.0, net.tau_syn[layer], net.tau_mem[layer],
            net.threshold[layer], fwd.t_end, np.full(0, 0.0), np.zeros(0), np.zeros(0, dtype=np.int64),
            np.zeros(0), np.zeros(n), taus)
        grads["weights"][layer] = dw
        grads["threshold"][layer] = dth
        if rec is not None:
            grads["recurrent"][layer] = drec
        if taus:
            _tau_grads(grads, layer, net, seg, sp.times, sp.neurons, arr_t, arr_src, rec, np.zeros(n))
    return grads


drop_stale_cache(_backwards)  # numba's disk cache, dropped when any kernel source changes
