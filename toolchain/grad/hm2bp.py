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
``kappa = kappa_silent`` and one would-be spike in the threshold term.
"""

from __future__ import annotations

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


def micro_factor(counts: np.ndarray, resets: np.ndarray, tau_mem: np.ndarray, t_end: float) -> np.ndarray:
    """``kappa = (1 - q)^2 / (q ln(1/q))``, the LIF rate slope of a regular train with ``q = exp(-P / tau_mem)``:
    ``q = rbar / (1 + rbar)`` from the observed ``rbar = R / o``, at least ``exp(-t_end / (o tau_mem))`` (the
    spikes fill at most the trial); ``KAPPA_SILENT`` for silent neurons, capped at ``KAPPA_MAX``."""
    fired = counts > 0
    o = np.where(fired, counts, 1.0)
    rbar = resets / o
    q = np.maximum(rbar / (1.0 + rbar), np.exp(-t_end / (o * tau_mem)))
    q = np.clip(q, 1e-12, 1.0 - 1e-12)
    kappa = np.minimum((1.0 - q) ** 2 / (q * -np.log(q)), KAPPA_MAX)
    return np.where(fired, kappa, KAPPA_SILENT)


def gradients(net: Network, fwd: Forward, loss: LossValue) -> Grads:
    """dE/d(weights, thresholds) of one sample by HM2-BP; ``loss.d_counts[c] = dE/do_c`` of the readouts."""
    if loss.d_counts is None:
        raise InputError("engine hm2bp needs a loss on output spike counts (count-mse, or spike-count without "
                         "tau_count); this loss has no dE/d(count)")
    if net.readout != "spiking" or any(r is not None for r in net.recurrent):
        raise InputError("engine hm2bp supports layered feed-forward networks with a spiking readout only "
                         "(no recurrent weights, no leaky-integrator readout)")
    grads = zeros_like_params(net)
    delta = np.asarray(loss.d_counts, dtype=np.float64)
    for layer in range(net.n_layers - 1, -1, -1):
        terms = layer_terms(net, fwd, layer)
        w, theta, o = net.weights[layer], net.threshold[layer], terms.counts
        silent = o == 0
        arr_t, arr_src, _ = fwd.arrivals(net, layer)
        sp = fwd.layers[layer]
        a, b = 1.0 / net.tau_syn[layer], 1.0 / net.tau_mem[layer]
        e = terms.spsp  # this sample's own array: the silent columns and then the gradient are written into it
        sigma = _silent_terms(arr_t, arr_src, sp.times, sp.neurons, a, b, silent, fwd.t_end, net.delays[layer], e)
        g = delta * micro_factor(o, terms.resets, net.tau_mem[layer], fwd.t_end) / theta
        grads["threshold"][layer] = -g * np.maximum(o + terms.resets, 1.0)
        if layer > 0:
            o_pre = fwd.layers[layer - 1].counts(w.shape[0]).astype(np.float64)
            ratio = np.where(o_pre[:, None] > 0, e / np.maximum(o_pre, 1.0)[:, None], sigma[None, :])
            delta = (w * ratio) @ g
        e *= g[None, :]
        grads["weights"][layer] = e
    return grads


drop_stale_cache(_spsp)  # numba's disk cache, dropped when any kernel source changes
