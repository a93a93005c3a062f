"""HM2-BP (Jin, Zhang & Li 2018) for Spikeline's LIF model with subtractive reset (docs/gradients.md, HM2-BP).

Not an exact gradient: it differentiates the spike *counts* through the count identity below, with
the timing carried by the spike-train-level post-synaptic potential (S-PSP). Everything observed
(counts, S-PSPs, reset traces) is exact for the continuous model; the derivatives of the S-PSP with
respect to the counts (the micro level) are modelled.

**S-PSP.** Neuron i of a layer with arrivals ``g`` from presynaptic j (spike time + hop delay) and
firing times ``t_f``::

    e[j, i] = sum_f sum_{g in F_j, g < t_f} h_i(t_f - g)          (plain PSPs: no reset truncation)

**Count identity.** Theorem 1 of FP (a subtractive reset is linear) at every firing time,
``theta_i = V_i(t_f) = sum_j W[j, i] y_ji(t_f) - theta_i r_f`` with ``r_f = sum_{m < f} exp(-(t_f - t_m)
/ tau_mem)``, summed over the o_i spikes::

    theta_i (o_i + R_i) = sum_j W[j, i] e[j, i],       R_i = sum_f r_f                          (exact)

**Gradient.** Differentiating the identity with ``de_ji/do_i ~ e_ji / o_i`` and ``R_i(o_i)`` of a regular
train of period P (``q = exp(-P / tau_mem)``, ``R = o q / (1 - q)``) gives

    do_i = kappa_i / theta_i [sum_j e_ji dW_ji + sum_j W_ji (e_ji / o_j) do_j - (o_i + R_i) dtheta_i]
    kappa_i = (1 - q)^2 / (q ln(1/q)),                 q = rbar / (1 + rbar), rbar = R_i / o_i

(``kappa`` is exactly the slope of the LIF rate function at the observed rate), so with ``delta = dE/do``

    dE/dW_ji = delta_i kappa_i e_ji / theta_i           (macro x micro)
    delta_j  = sum_i delta_i kappa_i W_ji (e_ji / o_j) / theta_i   (error back-propagation, effect ratio)
    dE/dtheta_i = -delta_i kappa_i (o_i + R_i) / theta_i

Silent neurons (the authors' rules in this model's units): a silent post neuron's S-PSP is the PSP at an
unknown firing time, its time average ``ybar_ji = sum_g H_i(T - g) / T``; a silent pre neuron's effect
ratio is that of one pre spike at a uniform time, ``sum_f H_i(t_f - d) / T``; a silent neuron has
``kappa = kappa_silent`` and one would-be spike in the threshold term. A departure (:func:`readout_error`): a
silent readout asked to fire less gets no error (its count is already at its floor); hidden neurons keep the
authors' rules, which push a silent neuron down as well as up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from hw_models.errors import InputError
from hw_models.jitcache import drop_stale_cache
from toolchain.grad.params import Grads, zeros_like_params
from toolchain.lif.forward import Forward
from toolchain.lif.kernels import decay, psp_integral
from toolchain.losses import LossValue
from toolchain.network import Network

#: micro factor of a neuron that fired once (no inter-spike interval) or never, and the cap of kappa
KAPPA_SILENT = 1.0
KAPPA_MAX = 4.0


@njit(cache=True)
def _spsp(arr_t, arr_src, post_t, post_n, a, b, n_pre, n_post):
    """S-PSP ``e (n_pre, n_post)`` and reset sums ``R (n_post)`` of one layer (strict causality g < t_f).

    Summed per arrival in reverse time: ``e[j, i] = sum_{g in F_j} Q_i(g)`` with ``Q_i(t) = sum_{f in F_i,
    t_f > t} h_i(t_f - t)``, kept exactly with ``Z_i(t) = sum_{t_f > t} exp(-b_i (t_f - t))``: moving back by D,
    ``Q <- Q e^{-a D} + Z h(D)``, ``Z <- Z e^{-b D}`` (as in fp_reverse). Ties: an arrival at a firing time is
    read before that spike is added (it does not cause it).
    """
    e = np.zeros((n_pre, n_post))
    r = np.zeros(n_post)
    last = np.full(n_post, -1.0)
    trace = np.zeros(n_post)  # sum_{m < f} exp(-b (t_f - t_m)) at the neuron's last spike
    for f in range(post_t.shape[0]):
        i = post_n[f]
        if last[i] >= 0.0:
            trace[i] = (trace[i] + 1.0) * np.exp(-b[i] * (post_t[f] - last[i]))
            r[i] += trace[i]
        last[i] = post_t[f]
    q = np.zeros(n_post)
    z = np.zeros(n_post)
    tz = np.full(n_post, np.inf)  # the time each neuron's (q, z) refer to (inf: nothing yet)
    k = post_t.shape[0] - 1
    m = arr_t.shape[0] - 1
    while m >= 0:
        t_a = arr_t[m]
        if k >= 0 and post_t[k] > t_a:  # a spike after the next arrival: add it
            i = post_n[k]
            if tz[i] != np.inf:
                ea, eb, hd = decay(tz[i] - post_t[k], a[i], b[i])
                q[i] = q[i] * ea + z[i] * hd
                z[i] = z[i] * eb
            z[i] += 1.0
            tz[i] = post_t[k]
            k -= 1
            continue
        for i in range(n_post):  # every neuron's sums at t_a, then all arrivals at t_a read them
            if tz[i] != np.inf and tz[i] != t_a:
                ea, eb, hd = decay(tz[i] - t_a, a[i], b[i])
                q[i] = q[i] * ea + z[i] * hd
                z[i] = z[i] * eb
                tz[i] = t_a
        while m >= 0 and arr_t[m] == t_a:
            row = e[arr_src[m]]
            for i in range(n_post):
                row[i] += q[i]
            m -= 1
    return e, r


@njit(cache=True)
def _silent_terms(arr_t, arr_src, post_t, post_n, a, b, silent, t_end, delay, e):
    """Adds ``ybar[j, i] = sum_{g in F_j} H_i(t_end - g) / t_end`` into the columns of ``e`` of the silent post
    neurons i (zero there: they have no firing times) and returns ``sigma[i] = sum_f H_i(t_f - delay) / t_end``
    (the effect ratio of a silent pre neuron)."""
    n_post = silent.shape[0]
    sigma = np.zeros(n_post)
    quiet = np.flatnonzero(silent)
    for m in range(arr_t.shape[0]):
        row, h, a_h, b_h = e[arr_src[m]], 0.0, np.nan, np.nan
        for i in quiet:  # neurons with the time constants of the previous one reuse its value (layers share them)
            if a[i] != a_h or b[i] != b_h:
                h, a_h, b_h = psp_integral(t_end - arr_t[m], a[i], b[i]) / t_end, a[i], b[i]
            row[i] += h
    for f in range(post_t.shape[0]):
        i = post_n[f]
        sigma[i] += psp_integral(post_t[f] - delay, a[i], b[i]) / t_end
    for i in range(n_post):
        if silent[i]:
            sigma[i] = psp_integral(0.5 * t_end, a[i], b[i]) / t_end
    return sigma


@dataclass
class LayerTerms:
    """What HM2-BP observes in one layer of one sample: counts ``o``, S-PSP ``e``, reset sums ``R``."""

    counts: np.ndarray
    spsp: np.ndarray
    resets: np.ndarray


def layer_terms(net: Network, fwd: Forward, layer: int) -> LayerTerms:
    """Counts, S-PSP and reset sums of network layer ``layer + 1`` from the forward pass's spike times."""
    sp = fwd.layers[layer]
    arr_t, arr_src, _ = fwd.arrivals(net, layer)
    n_pre, n_post = net.weights[layer].shape
    e, r = _spsp(arr_t, arr_src, sp.times, sp.neurons, 1.0 / net.tau_syn[layer], 1.0 / net.tau_mem[layer],
                 n_pre, n_post)
    return LayerTerms(sp.counts(n_post).astype(np.float64), e, r)


@njit(cache=True)
def micro_factor(counts, resets, b, t_end):
    """``kappa = (1 - q)^2 / (q ln(1/q))``, the LIF rate slope of a regular train with ``q = exp(-P / tau_mem)``:
    ``q = rbar / (1 + rbar)`` from the observed ``rbar = R / o``, at least ``exp(-t_end b / o)`` (``b = 1 /
    tau_mem``; the spikes fill at most the trial); ``KAPPA_SILENT`` for silent neurons, capped at ``KAPPA_MAX``."""
    kappa = np.full(counts.shape[0], KAPPA_SILENT)
    for i in range(counts.shape[0]):
        o = counts[i]
        if o > 0:
            rbar = resets[i] / o
            q = max(rbar / (1.0 + rbar), math.exp(-t_end * b[i] / o))
            q = min(max(q, 1e-12), 1.0 - 1e-12)
            kappa[i] = min((1.0 - q) ** 2 / (q * -math.log(q)), KAPPA_MAX)
    return kappa


@njit(cache=True)
def readout_error(d_counts, counts):
    """``dE/do`` of the readouts as HM2-BP back-propagates it: zero for a silent readout asked to fire less
    (``dE/do_c > 0`` at ``o_c = 0``: a count cannot fall below zero, so no change of the parameters can follow that
    error). Without this rule the count cross-entropy keeps pushing a silent wrong readout's weights down, without
    end, and the hidden layer is driven up to inhibit it harder (docs/gradients.md, HM2-BP)."""
    out = d_counts.astype(np.float64)
    for c in range(out.shape[0]):
        if counts[c] == 0 and out[c] > 0.0:
            out[c] = 0.0
    return out


@njit(cache=True)
def layer_gradient(arr_t, arr_src, post_t, post_n, a, b, w, theta, delta, t_end, delay, pre_counts):
    """One layer of the backward sweep: ``(dE/dW, dE/dtheta, delta_pre)`` from ``delta = dE/do`` of its neurons.
    ``pre_counts``: the presynaptic layer's spike counts (empty for the input layer: no ``delta_pre``)::

        g_i = delta_i kappa_i / theta_i,  dE/dW_ji = e_ji g_i,  dE/dtheta_i = -g_i max(o_i + R_i, 1),
        delta_pre_j = sum_i W_ji ratio_ji g_i,  ratio_ji = e_ji / o_j (o_j > 0) or sigma_i (silent j)
    """
    n_pre, n_post = w.shape
    e, r = _spsp(arr_t, arr_src, post_t, post_n, a, b, n_pre, n_post)
    o = np.zeros(n_post)
    for k in range(post_n.shape[0]):
        o[post_n[k]] += 1.0
    sigma = _silent_terms(arr_t, arr_src, post_t, post_n, a, b, o == 0.0, t_end, delay, e)
    g = delta * micro_factor(o, r, b, t_end) / theta
    d_theta = -g * np.maximum(o + r, 1.0)
    delta_pre = np.zeros(pre_counts.shape[0])
    for j in range(pre_counts.shape[0]):
        for i in range(n_post):
            ratio = e[j, i] / pre_counts[j] if pre_counts[j] > 0 else sigma[i]
            delta_pre[j] += w[j, i] * ratio * g[i]
    for j in range(n_pre):
        for i in range(n_post):
            e[j, i] *= g[i]
    return e, d_theta, delta_pre


def gradients(net: Network, fwd: Forward, loss: LossValue) -> Grads:
    """dE/d(weights, thresholds) of one sample by HM2-BP; ``loss.d_counts[c] = dE/do_c`` of the readouts, and
    ``loss.d_hidden[l]`` (the hidden penalty's) added to the back-propagated ``dE/do`` of hidden layer ``l``."""
    if loss.d_counts is None:
        raise InputError("engine hm2bp needs a loss on output spike counts (count-mse, or spike-count without "
                         "tau_count); this loss has no dE/d(count)")
    if net.readout != "spiking" or any(r is not None for r in net.recurrent):
        raise InputError("engine hm2bp supports layered feed-forward networks with a spiking readout only "
                         "(no recurrent weights, no leaky-integrator readout)")
    grads = zeros_like_params(net)
    delta = readout_error(np.asarray(loss.d_counts, dtype=np.float64), fwd.layers[-1].counts(net.layer_sizes[-1]))
    for layer in range(net.n_layers - 1, -1, -1):
        if layer < net.n_layers - 1 and loss.d_hidden is not None:  # the hidden penalty's own dE/do
            delta = delta + loss.d_hidden[layer]
        arr_t, arr_src, _ = fwd.arrivals(net, layer)
        sp = fwd.layers[layer]
        n_pre = net.weights[layer].shape[0]
        pre_counts = fwd.layers[layer - 1].counts(n_pre).astype(np.float64) if layer > 0 else np.zeros(0)
        grads["weights"][layer], grads["threshold"][layer], delta = layer_gradient(
            arr_t, arr_src, sp.times, sp.neurons, 1.0 / net.tau_syn[layer], 1.0 / net.tau_mem[layer],
            net.weights[layer], net.threshold[layer], delta, fwd.t_end, net.delays[layer], pre_counts)
    return grads


drop_stale_cache(layer_gradient)  # numba's disk cache, dropped when any kernel source changes
