"""Forward-mode FP (gradients.md §2.1-2.2): the sensitivity dt_k/dp of every spike to every parameter,
computed in causal order alongside the spike times by the implicit function theorem::

    dt_{i,k}/dp = 1/Vdot_{i,k} [ -d_p Phi  + sum_{arrivals a < t} W[j(a), i] h'(t - a) dt_a/dp
                                 + theta beta sum_{m<k} exp(-beta (t - t_{i,m})) dt_{i,m}/dp ]

with ``-d Phi/dW[j, i] = -y_ji(t)``, ``-d Phi/dtheta_i = 1 + sum_{m<k} exp(-beta (t - t_{i,m}))``, and the
same terms for recurrent weights. Each spike carries a dense vector over the parameters upstream of its
layer (flat layout of :mod:`toolchain.grad.params`), so the cost is O(spikes x causal parents x P): a
test oracle and a tool for small or online problems; train with reverse mode.

Time constants (``taus=True``): ``-d Phi/dtau_syn_i = alpha_i^2 sum_a W h_alpha(t - a)`` and
``-d Phi/dtau_mem_i = beta_i^2 [sum_a W h_beta(t - a) + theta sum_{m<k} (t - t_m) e^{-beta (t - t_m)}]``
(rate derivatives of the kernel, :func:`~toolchain.lif.kernels.psp_rate_derivs`).

Leaky-integrator observables: ``d vmax_o/dp = d_p V_o(t*) - sum_a W h'(t* - a) dt_a/dp`` (+ ``dV/dt(t*^-)``
times the sensitivity of the arrival the maximum sits on), ``d vint_o/dp = d_p - sum_a W h(T - a) dt_a/dp``.
"""

from __future__ import annotations

import numpy as np

from toolchain.grad.params import Grads, layer_end, offsets, unflatten
from toolchain.lif.forward import Forward
from toolchain.lif.kernels import (
    VDOT_FLOOR,
    psp_integral_many,
    psp_integral_rate_derivs_many,
    psp_many,
    psp_rate_derivs_many,
    psp_slope_many,
)
from toolchain.losses import LossValue
from toolchain.network import Network


def spike_sensitivities(net: Network, fwd: Forward, taus: bool = False) -> list[np.ndarray]:
    """dt_k/dp for every spike of every spiking layer: arrays ``(n_spikes, P_upstream)``."""
    where = offsets(net, taus)
    sens: list[np.ndarray] = []
    for layer, sp in enumerate(fwd.layers):
        n = net.layer_sizes[layer + 1]
        p_up = layer_end(net, layer, taus)
        a, b = 1.0 / net.tau_syn[layer], 1.0 / net.tau_mem[layer]
        theta = net.threshold[layer]
        arr_t, arr_src, arr_id = fwd.arrivals(net, layer)
        pre = sens[layer - 1] if layer > 0 else None
        rec = net.recurrent[layer] if layer < net.n_layers - 1 else None
        rec_delay = net.recurrent_delays[layer] if rec is not None else 0.0
        d_t = np.zeros((len(sp.times), p_up))
        for k, (t, i) in enumerate(zip(sp.times, sp.neurons, strict=True)):
            g = np.zeros(p_up)
            causal = arr_t < t
            s = t - arr_t[causal]
            src = arr_src[causal]
            np.add.at(g, where[("weights", layer)] + src * n + i, -psp_many(s, a[i], b[i]))
            if taus:
                ha, hb = psp_rate_derivs_many(s, a[i], b[i])
                phi_a, phi_b = net.weights[layer][src, i] @ ha, net.weights[layer][src, i] @ hb
            if pre is not None and causal.any():
                coef = net.weights[layer][src, i] * psp_slope_many(s, a[i], b[i])
                g[:pre.shape[1]] += coef @ pre[arr_id[causal]]
            if rec is not None:
                earlier = np.nonzero(sp.times[:k] + rec_delay < t)[0]
                s_r = t - rec_delay - sp.times[earlier]
                src_r = sp.neurons[earlier]
                np.add.at(g, where[("recurrent", layer)] + src_r * n + i, -psp_many(s_r, a[i], b[i]))
                g += (rec[src_r, i] * psp_slope_many(s_r, a[i], b[i])) @ d_t[earlier]
                if taus:
                    ha, hb = psp_rate_derivs_many(s_r, a[i], b[i])
                    phi_a, phi_b = phi_a + rec[src_r, i] @ ha, phi_b + rec[src_r, i] @ hb
            own = np.nonzero((sp.neurons[:k] == i) & (sp.times[:k] < t))[0]
            decay = np.exp(-b[i] * (t - sp.times[own]))
            g[where[("threshold", layer)] + i] += 1.0 + decay.sum()
            g += theta[i] * b[i] * (decay @ d_t[own])
            if taus:
                phi_b += theta[i] * ((t - sp.times[own]) @ decay)
                g[where[("tau_syn", layer)] + i] += a[i] ** 2 * phi_a
                g[where[("tau_mem", layer)] + i] += b[i] ** 2 * phi_b
            vdot = max(sp.current[k] - b[i] * theta[i], VDOT_FLOOR * b[i] * theta[i])
            d_t[k] = g / vdot
        sens.append(d_t)
    return sens


def readout_sensitivities(net: Network, fwd: Forward, sens: list[np.ndarray], taus: bool = False
                          ) -> tuple[np.ndarray, np.ndarray]:
    """d vmax/dp and d vint/dp of a leaky-integrator readout: two arrays ``(n_out, P)``."""
    top = net.n_layers - 1
    n = net.layer_sizes[-1]
    p_all = layer_end(net, top, taus)
    where = offsets(net, taus)
    base = where[("weights", top)]
    a, b = 1.0 / net.tau_syn[top], 1.0 / net.tau_mem[top]
    ro = fwd.readout
    arr_t, arr_src, arr_id = fwd.arrivals(net, top)
    pre = sens[top - 1] if top > 0 else None
    d_max = np.zeros((n, p_all))
    d_int = np.zeros((n, p_all))
    for o in range(n):
        w = net.weights[top][:, o]
        for t_obs, out, kernel, slope, rates in (
                (ro.tmax[o], d_max, psp_many, psp_slope_many, psp_rate_derivs_many),
                (fwd.t_end, d_int, psp_integral_many, psp_many, psp_integral_rate_derivs_many)):
            causal = arr_t < t_obs
            s = t_obs - arr_t[causal]
            np.add.at(out[o], base + arr_src[causal] * n + o, kernel(s, a[o], b[o]))
            if taus:
                ha, hb = rates(s, a[o], b[o])
                out[o, where[("tau_syn", top)] + o] -= a[o] ** 2 * (w[arr_src[causal]] @ ha)
                out[o, where[("tau_mem", top)] + o] -= b[o] ** 2 * (w[arr_src[causal]] @ hb)
            if pre is not None and causal.any():
                out[o, :pre.shape[1]] -= (w[arr_src[causal]] * slope(s, a[o], b[o])) @ pre[arr_id[causal]]
        if pre is not None and ro.kink[o] >= 0:
            d_max[o, :pre.shape[1]] += ro.kink_slope[o] * pre[arr_id[ro.kink[o]]]
    return d_max, d_int


def gradients(net: Network, fwd: Forward, loss: LossValue, taus: bool = False) -> Grads:
    """dL/d(parameters) of one sample by forward-mode FP (``taus``: also dL/dtau_syn, dL/dtau_mem)."""
    sens = spike_sensitivities(net, fwd, taus)
    total = np.zeros(layer_end(net, net.n_layers - 1, taus))
    if net.readout == "leaky-integrator":
        d_max, d_int = readout_sensitivities(net, fwd, sens, taus)
        total += loss.d_vmax @ d_max + loss.d_vint @ d_int
    else:
        out = sens[-1]
        total[:out.shape[1]] += loss.d_times @ out
    return unflatten(net, total, taus)
