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
from toolchain.lif.kernels import VDOT_FLOOR, decay
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


@njit(cache=True)
def _adjoint_layer(sp_t, sp_n, sp_i, d_t, arr_t, arr_src, w_fp, rec_fp, has_rec, rec_delay, tau_s, tau_m,
                   theta, t_end, t_max, jump, kink, kink_slope, source):
    """One layer backwards in time. Spiking layer: sp_* are its spikes, d_t = dl/dt per spike.
    Leaky layer: no spikes; t_max/jump give the point jumps, source the integral loss."""
    n_pre, n = w_fp.shape
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
            lam_v[o], lam_i[o], memo = _backwards(lam_v[o], lam_i[o], t_ref[o] - t_o, tau_s[o], tau_m[o], source[o],
                                                  memo)
            t_ref[o] = t_o
            lam_v[o] -= jump[o] / tau_m[o]
            p += 1
    for o in range(kink.shape[0]):
        if kink[o] >= 0:
            err_pre[kink[o]] += jump[o] * kink_slope[o]
    return dw, drec, dth, err_pre


def gradients(net: Network, fwd: Forward, loss: LossValue) -> Grads:
    """dL/d(parameters) of one sample by EventProp (adjoint method)."""
    grads = zeros_like_params(net)
    top = net.n_layers - 1
    none_t = np.zeros(0)
    none_i = np.zeros(0, dtype=np.int64)
    if net.readout == "leaky-integrator":
        ro = fwd.readout
        arr_t, arr_src, _ = fwd.arrivals(net, top)
        n = net.layer_sizes[-1]
        dw, _, _, err = _adjoint_layer(
            none_t, none_i, none_t, none_t, arr_t, arr_src, net.weights[top], np.zeros((1, 1)), False, 0.0,
            net.tau_syn[top], net.tau_mem[top], np.ones(n), fwd.t_end, ro.tmax, loss.d_vmax, ro.kink,
            ro.kink_slope, loss.d_vint)
        grads["weights"][top] = dw
        top -= 1
    else:
        err = loss.d_times
    for layer in range(top, -1, -1):
        sp = fwd.layers[layer]
        n = net.layer_sizes[layer + 1]
        arr_t, arr_src, _ = fwd.arrivals(net, layer)
        rec = net.recurrent[layer] if layer < net.n_layers - 1 else None
        dw, drec, dth, err = _adjoint_layer(
            sp.times, sp.neurons, sp.current, np.asarray(err, dtype=np.float64), arr_t, arr_src,
            net.weights[layer], rec if rec is not None else np.zeros((1, 1)), rec is not None,
            net.recurrent_delays[layer] if rec is not None else 0.0, net.tau_syn[layer], net.tau_mem[layer],
            net.threshold[layer], fwd.t_end, np.full(0, 0.0), np.zeros(0), np.zeros(0, dtype=np.int64),
            np.zeros(0), np.zeros(n))
        grads["weights"][layer] = dw
        grads["threshold"][layer] = dth
        if rec is not None:
            grads["recurrent"][layer] = drec
    return grads


drop_stale_cache(_backwards)  # numba's disk cache, dropped when any kernel source changes
