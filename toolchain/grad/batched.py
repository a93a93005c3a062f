"""The batched engine: forward pass, loss, reverse-mode FP and the gradient of a whole minibatch in one call
to compiled code, its samples spread over the cores.

Per sample it runs the same kernels as the per-sample path (:func:`toolchain.lif.forward.forward`, the loss,
:func:`toolchain.grad.fp_reverse.gradients`), which stays the readable reference; the losses, decision rules
and the integrated readout are the compiled twins in :mod:`toolchain.grad.batch_kernels`. Chunks of samples
run on threads (the compiled loop releases the GIL); each sample writes its gradient into its own slot, and the
slots are summed over a fixed pairwise tree afterwards, so the result does not depend on the number of threads
(bit for bit) and equals the per-sample path to round-off. The compiled code is cached on disk (numba's cache) and
dropped when any kernel it calls changes.

HM2-BP (``engine="hm2bp"``) runs the same way: the forward pass, the count loss and
:func:`toolchain.grad.hm2bp.layer_gradient` for each layer, the very function the per-sample path calls.

``supports(net, loss, engine)`` says whether a configuration can run here (the losses of :mod:`toolchain.losses` and
:class:`~toolchain.train.coding.CodedVoltageCE`); callers fall back to the per-sample path otherwise.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit, types
from numba.typed import List

from hw_models.errors import InputError
from hw_models.jitcache import drop_stale_cache
from toolchain.decode import RULES
from toolchain.dist.reduce import tree_sum
from toolchain.grad import batch_kernels as bk
from toolchain.grad.fp_reverse import _reverse_leaky, _reverse_spiking
from toolchain.grad.hm2bp import layer_gradient as hm2bp_layer
from toolchain.grad.hm2bp import readout_error as hm2bp_readout_error
from toolchain.grad.params import Grads, zeros_like_params
from toolchain.lif.forward import (
    MAX_SPIKES,
    Spikes,
    _leaky_readout,
    _simulate_independent,
    _simulate_layer,
    as_sample,
    check_t_end,
)
from toolchain.lif.kernels import METHOD_AUTO
from toolchain.losses import (
    CountMSE,
    FirstSpikeCE,
    IntegratedVoltageCE,
    Loss,
    MaxVoltageCE,
    SpikeCountCE,
    check_count_penalties,
)
from toolchain.network import Network
from toolchain.train.coding import CodedVoltageCE


@dataclass
class BatchResult:
    """Per-sample ``losses``, ``decisions`` (-1: none) and ``spike_counts[l]`` (batch, n) of spiking layer l;
    ``grads``: the **sum** over the samples (a fixed pairwise tree) shaped like ``net.parameters()``, or ``None``."""

    losses: np.ndarray
    decisions: np.ndarray
    spike_counts: list[np.ndarray]
    grads: Grads | None


# -- what the compiled code is told about the loss -----------------------------------------------------------
def _penalties(loss: CountMSE | SpikeCountCE) -> tuple[float, float, float, float]:
    """The count penalties' parameters, the last four of a count loss's (:func:`_count_penalty` reads them)."""
    return loss.hidden_penalty, loss.hidden_ceiling, loss.readout_penalty, loss.readout_ceiling


def loss_spec(loss: Loss, n_out: int) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(kind, parameters, code) of a loss the compiled code implements, or ``None``."""
    if type(loss) is CodedVoltageCE:
        obs = 1.0 if loss.observable == "max" else 0.0
        return bk.LOSS_VOLTAGE, np.array([loss.gain, float(loss.normalize), loss.eps, obs]), loss.code
    if type(loss) is MaxVoltageCE:
        return bk.LOSS_VOLTAGE, np.array([loss.gain, 0.0, 0.0, 1.0]), np.eye(n_out)
    if type(loss) is IntegratedVoltageCE:
        return bk.LOSS_VOLTAGE, np.array([loss.gain, 0.0, 0.0, 0.0]), np.eye(n_out)
    if type(loss) is FirstSpikeCE:
        return bk.LOSS_FIRST_SPIKE, np.array([loss.tau0, loss.tau1, loss.alpha]), np.eye(n_out)
    if type(loss) is SpikeCountCE:
        tau = math.inf if loss.tau_count is None else float(loss.tau_count)
        return bk.LOSS_SPIKE_COUNT, np.array([tau, loss.gain, *_penalties(loss)]), np.eye(n_out)
    if type(loss) is CountMSE and loss.code is None:
        par = np.array([loss.desired, loss.undesired, loss.margin, *_penalties(loss)])
        return bk.LOSS_COUNT_MSE, par, np.eye(n_out)
    return None


#: gradient engines the compiled code runs
ENGINES = {"fp": 0, "hm2bp": 1}
ENGINE_HM2BP = ENGINES["hm2bp"]


def supports(net: Network, loss: Loss, engine: str = "fp") -> bool:
    """Whether the batched engine can run ``loss`` on ``net`` with ``engine`` (else use the per-sample path):
    reverse-mode FP, or HM2-BP for a loss on plain output counts (:class:`~toolchain.losses.CountMSE` without an
    output code, :class:`~toolchain.losses.SpikeCountCE` without ``tau_count``) on a layered feed-forward network
    with a spiking readout."""
    if engine not in ENGINES or loss.readout != net.readout or loss_spec(loss, net.layer_sizes[-1]) is None:
        return False
    if engine == "hm2bp":
        plain_counts = type(loss) is CountMSE or (type(loss) is SpikeCountCE and loss.tau_count is None)
        return plain_counts and all(r is None for r in net.recurrent)
    return True


# -- compiled code ------------------------------------------------------------------------------------------
#: columns of the layout table ``lay`` (one row per layer): sizes, offsets into the parameter buffer, the neuron
#: columns of thresholds and counts, offsets into a sample's gradient row (-1: absent)
N_PRE, N_POST, P_W, P_REC, P_ALPHA, P_BETA, NEURON, G_W, G_REC, G_TH = range(10)


@njit(cache=True, inline="always")
def _row(per_sample: np.ndarray, s: np.int64) -> np.int64:
    """Row ``s`` of a per-sample table, or row 0 of a table shared by every sample."""
    return s if per_sample.shape[0] > 1 else np.int64(0)


@njit(cache=True, inline="always")
def _mat(buf: np.ndarray, offset: np.int64, n: np.int64, m: np.int64) -> np.ndarray:
    """The (n, m) matrix stored at ``offset`` of a flat buffer (a view)."""
    return buf[offset:offset + n * m].reshape((n, m))


@njit(cache=True, inline="always")
def _count_penalty(counts: np.ndarray, s: np.int64, lay: np.ndarray, layer: np.int64, loss_par: np.ndarray
                   ) -> tuple[float, np.ndarray]:
    """:func:`~toolchain.grad.batch_kernels.count_penalty` of spiking layer ``layer`` of sample ``s``: a count
    loss's parameters end with (hidden weight, hidden ceiling, readout weight, readout ceiling), see
    :func:`_penalties`; the network's last layer is the readout."""
    col, n = lay[layer, NEURON], lay[layer, N_POST]
    k = loss_par.shape[0] - (2 if layer == lay.shape[0] - 1 else 4)
    return bk.count_penalty(counts[s, col:col + n].astype(np.float64), loss_par[k], loss_par[k + 1])


@njit(cache=True)
def _sample(s, in_t, in_c, lo, hi, pbuf, lay, delays, rec_delays, theta, factor, leaky, t_end, loss_kind, loss_par,
            loss_code, dec_code, rule, label, want_grad, engine, method, max_spikes, grads, counts, losses, decisions,
            status):
    """Forward pass, loss, decision and (``want_grad``) the gradient of sample ``s`` (reverse-mode FP, or HM2-BP's
    backward sweep for ``engine == ENGINE_HM2BP``), written into slot ``s``."""
    n_layers = lay.shape[0]
    n_spiking = n_layers - 1 if leaky else n_layers
    k_par = loss_par.shape[0]  # a count loss's parameters end with its penalties' (see _penalties)
    penalised = ((loss_kind == bk.LOSS_COUNT_MSE or loss_kind == bk.LOSS_SPIKE_COUNT)
                 and (loss_par[k_par - 4] > 0.0 or loss_par[k_par - 2] > 0.0))
    no_rec = np.zeros((1, 1))
    sp_t = List.empty_list(types.float64[::1])
    sp_n = List.empty_list(types.int64[::1])
    sp_i = List.empty_list(types.float64[::1])
    pre_t = in_t[lo:hi].copy()
    pre_n = in_c[lo:hi].copy()
    for layer in range(n_spiking):
        n_pre, n, col = lay[layer, N_PRE], lay[layer, N_POST], lay[layer, NEURON]
        w = _mat(pbuf, lay[layer, P_W], n_pre, n)
        a = pbuf[lay[layer, P_ALPHA]:lay[layer, P_ALPHA] + n]
        b = pbuf[lay[layer, P_BETA]:lay[layer, P_BETA] + n]
        th = theta[_row(theta, s), col:col + n]
        arr_t = pre_t + delays[layer]
        if lay[layer, P_REC] >= 0:
            t, nrn, cur, ok = _simulate_layer(arr_t, pre_n, w, _mat(pbuf, lay[layer, P_REC], n, n), True,
                                              rec_delays[layer], a, b, th, t_end, method, max_spikes)
        else:
            t, nrn, cur, ok = _simulate_independent(arr_t, pre_n, w, a, b, th, t_end, method, max_spikes)
        if not ok:
            status[s] = layer + 1
            return
        sp_t.append(t.copy())
        sp_n.append(nrn.copy())
        sp_i.append(cur.copy())
        for k in range(nrn.shape[0]):
            counts[s, col + nrn[k]] += 1
        pre_t, pre_n = sp_t[layer], sp_n[layer]
    top = n_layers - 1
    n_out = lay[top, N_POST]
    empty = np.zeros(0)
    d_counts = np.zeros(n_out)
    if leaky:
        arr_t = pre_t + delays[top]
        w = _mat(pbuf, lay[top, P_W], lay[top, N_PRE], n_out)
        a = pbuf[lay[top, P_ALPHA]:lay[top, P_ALPHA] + n_out]
        b = pbuf[lay[top, P_BETA]:lay[top, P_BETA] + n_out]
        if loss_par[3] == 1.0 or rule == bk.RULE_MAX_VOLTAGE:
            vmax, tmax, kink, kink_slope, vint = _leaky_readout(arr_t, pre_n, w, a, b, t_end)
        else:
            vmax, tmax, kink, kink_slope = np.zeros(n_out), np.zeros(n_out), np.full(n_out, -1, np.int64), empty
            vint = bk.integrated_readout(arr_t, pre_n, w, a, b, t_end)
        y = vmax if loss_par[3] == 1.0 else vint / t_end
        value, d_y = bk.voltage_loss(y, label, loss_code, loss_par[0], loss_par[1] == 1.0, loss_par[2])
        decisions[s] = bk.decide(rule, empty, pre_n[:0], n_out, vmax, vint, dec_code)
    else:
        out_t, out_n = sp_t[top], sp_n[top]
        if loss_kind == bk.LOSS_FIRST_SPIKE:
            value, seed, code = bk.first_spike_loss(out_t, out_n, label, n_out, t_end, loss_par[0], loss_par[1],
                                                    loss_par[2])
            if code != bk.STATUS_OK:
                status[s] = code
                return
        elif loss_kind == bk.LOSS_COUNT_MSE:
            value, d_counts = bk.count_mse_loss(out_n, label, n_out, loss_par[0], loss_par[1], loss_par[2])
            seed = np.zeros(out_t.shape[0])  # counts are piecewise constant: no exact spike-time gradient
        else:
            value, seed, d_counts = bk.spike_count_loss(out_t, out_n, label, n_out, loss_par[0], loss_par[1])
        if penalised:  # the count losses' penalties, hidden layers and readout
            for layer in range(n_spiking):
                penalty, d_penalty = _count_penalty(counts, s, lay, layer, loss_par)
                value += penalty
                if layer == top:
                    d_counts = d_counts + d_penalty
        decisions[s] = bk.decide(rule, out_t, out_n, n_out, empty, empty, dec_code)
    losses[s] = value
    if not want_grad:
        return
    g = grads[s]
    if engine == ENGINE_HM2BP:  # layered, feed-forward, spiking readout, count loss (run_batch checks)
        delta = hm2bp_readout_error(d_counts, counts[s, lay[top, NEURON]:lay[top, NEURON] + n_out])
        for layer in range(n_spiking - 1, -1, -1):
            n_pre, n, col = lay[layer, N_PRE], lay[layer, N_POST], lay[layer, NEURON]
            if layer == 0:
                arr_t, arr_src, pre_counts = in_t[lo:hi] + delays[0], in_c[lo:hi].copy(), np.zeros(0)
            else:
                arr_t, arr_src = sp_t[layer - 1] + delays[layer], sp_n[layer - 1]
                pre_counts = counts[s, lay[layer - 1, NEURON]:lay[layer - 1, NEURON] + n_pre].astype(np.float64)
            if penalised and layer < n_spiking - 1:
                delta = delta + _count_penalty(counts, s, lay, layer, loss_par)[1]
            dw, dth, delta = hm2bp_layer(arr_t, arr_src, sp_t[layer], sp_n[layer],
                                         pbuf[lay[layer, P_ALPHA]:lay[layer, P_ALPHA] + n],
                                         pbuf[lay[layer, P_BETA]:lay[layer, P_BETA] + n],
                                         _mat(pbuf, lay[layer, P_W], n_pre, n), theta[_row(theta, s), col:col + n],
                                         delta, t_end, delays[layer], pre_counts)
            g[lay[layer, G_W]:lay[layer, G_W] + dw.size] = dw.ravel()
            g[lay[layer, G_TH]:lay[layer, G_TH] + n] = dth * factor[_row(factor, s), col:col + n]
        return
    if leaky:
        if loss_par[3] == 1.0:
            dw, seed = _reverse_leaky(arr_t, pre_n, w, a, b, t_end, tmax, kink, kink_slope, d_y, np.zeros(n_out))
        else:
            dw, seed = bk.integrated_reverse(arr_t, pre_n, w, a, b, t_end, d_y / t_end)
        g[lay[top, G_W]:lay[top, G_W] + dw.size] = dw.ravel()
    for layer in range(n_spiking - 1, -1, -1):
        n_pre, n, col = lay[layer, N_PRE], lay[layer, N_POST], lay[layer, NEURON]
        if layer == 0:
            arr_t, arr_src = in_t[lo:hi] + delays[0], in_c[lo:hi].copy()
        else:
            arr_t, arr_src = sp_t[layer - 1] + delays[layer], sp_n[layer - 1]
        has_rec = lay[layer, P_REC] >= 0
        dw, drec, dth, seed, _ = _reverse_spiking(
            sp_t[layer], sp_n[layer], sp_i[layer], seed, arr_t, arr_src, _mat(pbuf, lay[layer, P_W], n_pre, n),
            _mat(pbuf, lay[layer, P_REC], n, n) if has_rec else no_rec, has_rec, rec_delays[layer],
            pbuf[lay[layer, P_ALPHA]:lay[layer, P_ALPHA] + n], pbuf[lay[layer, P_BETA]:lay[layer, P_BETA] + n],
            theta[_row(theta, s), col:col + n], t_end)
        g[lay[layer, G_W]:lay[layer, G_W] + dw.size] = dw.ravel()
        if has_rec:
            g[lay[layer, G_REC]:lay[layer, G_REC] + drec.size] = drec.ravel()
        g[lay[layer, G_TH]:lay[layer, G_TH] + n] = dth * factor[_row(factor, s), col:col + n]


@njit(cache=True, nogil=True)
def _chunk(first, last, in_t, in_c, offsets, labels, pbuf, lay, delays, rec_delays, theta, factor, leaky, t_end,
           loss_kind, loss_par, loss_code, dec_code, rule, want_grad, engine, method, max_spikes, grads, counts, losses,
           decisions, status):
    """:func:`_sample` for samples ``first`` to ``last - 1``, without the GIL (threads run chunks side by side;
    each sample writes only its own slot)."""
    for s in range(first, last):
        _sample(s, in_t, in_c, offsets[s], offsets[s + 1], pbuf, lay, delays, rec_delays, theta, factor, leaky, t_end,
                loss_kind, loss_par, loss_code, dec_code, rule, labels[s], want_grad, engine, method, max_spikes, grads,
                counts, losses, decisions, status)


# -- Python entry points -----------------------------------------------------------------------------------
drop_stale_cache(_chunk)  # numba's disk cache, dropped when any kernel source changes (hw_models.jitcache)
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _add_into(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.add(a, b, out=a)


def _pool(workers: int) -> ThreadPoolExecutor:
    """One thread pool per thread count, started on first use and kept for the process."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="spikeline-batch")
    return _POOLS[workers]


def _layout(net: Network) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The flat parameter buffer (weights, recurrent weights, 1 / tau_syn, 1 / tau_mem of every layer), the layout
    table (columns :data:`N_PRE` ...), the number of spiking neurons and the length of a sample's gradient row."""
    L = net.n_layers
    n_spiking = L - 1 if net.readout == "leaky-integrator" else L
    lay = np.full((L, 10), -1, np.int64)
    parts: list[np.ndarray] = []
    p = g = neuron = 0

    def put(array: np.ndarray) -> int:
        nonlocal p
        parts.append(np.ascontiguousarray(array, np.float64).ravel())
        p += parts[-1].size
        return p - parts[-1].size

    for k in range(L):
        n_pre, n = net.layer_sizes[k], net.layer_sizes[k + 1]
        rec = net.recurrent[k] if k < L - 1 else None
        lay[k, N_PRE], lay[k, N_POST] = n_pre, n
        lay[k, P_W] = put(net.weights[k])
        if rec is not None:
            lay[k, P_REC] = put(rec)
        lay[k, P_ALPHA], lay[k, P_BETA] = put(1.0 / net.tau_syn[k]), put(1.0 / net.tau_mem[k])
        lay[k, G_W], g = g, g + n_pre * n
        if rec is not None:
            lay[k, G_REC], g = g, g + n * n
        if k < n_spiking:
            lay[k, NEURON], neuron = neuron, neuron + n
            lay[k, G_TH], g = g, g + n
    return np.concatenate(parts), lay, neuron, g


def run_batch(net: Network, samples: list, labels, loss: Loss, t_end: float, rule: str,
              code: np.ndarray | None = None, grad: bool = True, threshold_factors: list | None = None,
              workers: int = 1, max_spikes: int = MAX_SPIKES, engine: str = "fp") -> BatchResult:
    """Loss, decision, spike counts and (``grad``) the summed gradient of every sample: reverse-mode FP, or
    HM2-BP's (``engine="hm2bp"``, :mod:`toolchain.grad.hm2bp`; see :func:`supports`).

    ``samples``: :class:`~toolchain.lif.forward.Spikes` or ``(times, channels)`` pairs; ``labels``: class
    indices; ``rule``: a decision rule of :data:`toolchain.decode.RULES` (``code``: the output code for the
    voltage rules). ``threshold_factors``: per sample ``None`` or one factor array per layer (``None`` for a
    layer without threshold), as :func:`toolchain.train.trainer.threshold_jitter` draws them; the thresholds
    are multiplied by them and the threshold gradient is taken back through them. ``workers``: threads; the
    result is the same bit for bit with any number. The per-sample gradients are summed over the fixed pairwise
    tree on their positions (:mod:`toolchain.dist.reduce`), so a batch split into aligned shards sums to the
    same bits.
    """
    t_end = check_t_end(t_end)
    if grad:
        check_count_penalties(loss, engine)
    spec = loss_spec(loss, net.layer_sizes[-1])
    if not supports(net, loss, engine):
        raise InputError(f"the batched engine has no kernel for {type(loss).__name__} on a {net.readout} readout "
                         f"with engine {engine!r}; use toolchain.grad.api.loss_and_grad")
    if rule not in RULES:
        raise InputError(f"unknown decision rule {rule!r}; valid: {', '.join(RULES)}")
    n_batch = len(samples)
    if n_batch == 0 or len(labels) != n_batch:
        raise InputError(f"{n_batch} samples but {len(labels)} labels; give one label per sample (at least one)")
    n_out = net.layer_sizes[-1]
    n_classes = spec[2].shape[0]
    labels = np.asarray(labels)
    bad = [y for y in labels.tolist() if not (isinstance(y, int) and 0 <= y < n_classes)]
    if bad:
        raise InputError(f"label {bad[0]!r} is not a class index in [0, {n_classes - 1}]")
    spikes = [s if isinstance(s, Spikes) else as_sample(s, net.layer_sizes[0], k) for k, s in enumerate(samples)]
    offsets = np.zeros(n_batch + 1, np.int64)
    offsets[1:] = np.cumsum([len(s.times) for s in spikes])
    in_t = np.concatenate([s.times for s in spikes]) if offsets[-1] else np.zeros(0)
    in_c = np.concatenate([s.neurons for s in spikes]).astype(np.int64) if offsets[-1] else np.zeros(0, np.int64)
    L = net.n_layers
    leaky = net.readout == "leaky-integrator"
    n_spiking = L - 1 if leaky else L
    pbuf, lay, n_neurons, n_grad = _layout(net)
    factors = None if threshold_factors is None or all(f is None for f in threshold_factors) else threshold_factors
    base = np.concatenate([net.threshold[k] for k in range(n_spiking)] or [np.zeros(0)])[None, :]
    if factors is None:
        theta, factor = base, np.ones_like(base)
    else:
        factor = np.ones((n_batch, n_neurons))
        for s, fs in enumerate(factors):
            for k in range(n_spiking):
                if fs is not None and fs[k] is not None:
                    factor[s, lay[k, NEURON]:lay[k, NEURON] + net.layer_sizes[k + 1]] = fs[k]
        theta = base * factor
    grads = np.zeros((n_batch if grad else 0, n_grad))
    counts = np.zeros((n_batch, n_neurons), np.int64)
    losses = np.zeros(n_batch)
    decisions = np.full(n_batch, -1, np.int64)
    status = np.zeros(n_batch, np.int64)
    kind, par, loss_code = spec
    dec_code = np.eye(n_out) if code is None else np.asarray(code, np.float64)
    rec_delays = [net.recurrent_delays[k] if k < L - 1 else 0.0 for k in range(L)]
    args = (in_t, in_c, offsets, labels.astype(np.int64), pbuf, lay, np.array(net.delays, np.float64),
            np.array(rec_delays, np.float64), theta, factor, leaky, t_end, kind, par,
            np.ascontiguousarray(loss_code, np.float64), dec_code, RULES.index(rule), grad, ENGINES[engine],
            METHOD_AUTO, max_spikes, grads, counts, losses, decisions, status)
    workers = max(1, min(int(workers), n_batch))
    if workers == 1:
        _chunk(0, n_batch, *args)
    else:  # a few chunks per thread evens out samples of unequal cost
        bounds = np.linspace(0, n_batch, min(n_batch, 4 * workers) + 1).astype(int)
        jobs = [_pool(workers).submit(_chunk, int(lo), int(hi), *args)
                for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        for job in jobs:
            job.result()
    _raise_status(status, loss, max_spikes)
    spike_counts = [counts[:, lay[k, NEURON]:lay[k, NEURON] + net.layer_sizes[k + 1]] for k in range(n_spiking)]
    if not grad:
        return BatchResult(losses, decisions, spike_counts, None)
    total = np.array(tree_sum(grads, _add_into))  # the rows are this call's own: summed in place
    out = zeros_like_params(net)
    for k in range(L):
        n_pre, n = net.layer_sizes[k], net.layer_sizes[k + 1]
        out["weights"][k] = total[lay[k, G_W]:lay[k, G_W] + n_pre * n].reshape(n_pre, n)
        if lay[k, G_REC] >= 0:
            out["recurrent"][k] = total[lay[k, G_REC]:lay[k, G_REC] + n * n].reshape(n, n)
        if lay[k, G_TH] >= 0:
            out["threshold"][k] = total[lay[k, G_TH]:lay[k, G_TH] + n].copy()
    return BatchResult(losses, decisions, spike_counts, out)


def _raise_status(status: np.ndarray, loss: Loss, max_spikes: int) -> None:
    bad = np.flatnonzero(status)
    if not bad.size:
        return
    s, code = int(bad[0]), int(status[bad[0]])
    if code == bk.STATUS_OVERFLOW:
        raise InputError(f"FirstSpikeCE: exp(t / tau1) overflows (sample {s}); increase tau1 (now "
                         f"{getattr(loss, 'tau1', '?')}) to at least t_end / 100")
    raise InputError(f"layer {code} fired more than {max_spikes} spikes in sample {s}; the weights are probably "
                     "far too large (or raise max_spikes)")


def loss_and_grad(net: Network, inputs, labels, loss: Loss, t_end: float, rule: str | None = None,
                  workers: int = 1) -> tuple[float, Grads, BatchResult]:
    """:func:`toolchain.grad.api.loss_and_grad` with ``engine="fp"``, batched: the mean loss, the mean gradient
    and the :class:`BatchResult`, on ``workers`` threads."""
    from toolchain.decode import RULE_OF_LOSS
    from toolchain.losses import LOSSES

    if rule is None:
        names = [name for name, cls in LOSSES.items() if type(loss) is cls]
        rule = RULE_OF_LOSS[names[0]] if names else ("max-voltage" if getattr(loss, "observable", "") == "max"
                                                     else "integrated-voltage")
    result = run_batch(net, inputs, labels, loss, t_end, rule, grad=True, workers=workers)
    scale = 1.0 / len(inputs)
    mean = {name: [None if g is None else g * scale for g in arrays] for name, arrays in result.grads.items()}
    return float(result.losses.mean()), mean, result
