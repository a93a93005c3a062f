"""Compiled simulation kernel (numba): the same arithmetic as :mod:`hw_models.simulator`, fast.

The reference simulator walks dense matrices one event at a time; this kernel stores each weight
matrix as per-pre-neuron target lists (CSR), skips silent pre-neurons, and runs the samples of a
batch in parallel threads. The per-neuron update and the saturating event add are the functions of
:mod:`hw_models.arith`, compiled in. ``tests/hw_models/test_kernel.py`` checks it bit for bit
against the reference, and ``tests/hw_models/test_xylosim_oracle.py`` against xylosim.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from hw_models.arith import deliver, membrane_before_reset, neuron_step, shifted_weight
from hw_models.config import ChipConfig
from hw_models.jitcache import drop_stale_cache

#: Record modes of the kernel (see :func:`run_kernel`).
SPIKES, ALL, SUMMARY = 0, 1, 2


def _csr(weights: np.ndarray, shift: int):
    """Dense ``(N_pre, N_post[, S])`` -> (ptr, post, syn, shifted weight), pre-major, posts ascending."""
    w = weights if weights.ndim == 3 else weights[:, :, None]
    pre, post, syn = np.nonzero(w)  # C order: pre, then post, then synapse
    ptr = np.zeros(w.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=w.shape[0]), out=ptr[1:])
    shifted = shifted_weight(w[pre, post, syn].astype(np.int64), shift)  # numpy-vectorised, same function
    return ptr, post.astype(np.int64), syn.astype(np.int64), shifted


@njit(cache=True, nogil=True)
def _simulate_sample(raster, in_ptr, in_post, in_syn, in_w, rec_ptr, rec_post, rec_syn, rec_w,
                     out_ptr, out_post, out_w, alias_ptr, alias_tgt, dash_mem, dash_syn0, dash_syn1,
                     threshold, bias, dash_mem_out, dash_syn_out, threshold_out, bias_out, has_bias,
                     cap_in, cap_hid, cap_out, mode, spikes_rec, spikes_out_rec, vmem_rec,
                     isyn_rec, isyn2_rec, vmem_out_rec, isyn_out_rec, stats):
    n_steps, n_in = raster.shape
    n_h = threshold.shape[0]
    n_o = threshold_out.shape[0]
    v = np.zeros(n_h, np.int64)
    i0 = np.zeros(n_h, np.int64)
    i1 = np.zeros(n_h, np.int64)
    v_out = np.zeros(n_o, np.int64)
    i_out = np.zeros(n_o, np.int64)
    spikes = np.zeros(n_h, np.int64)
    for t in range(n_steps):
        # (1) input events
        for c in range(n_in):
            m = min(raster[t, c], cap_in)
            if m > 0:
                for e in range(in_ptr[c], in_ptr[c + 1]):
                    p = in_post[e]
                    if in_syn[e] == 0:
                        i0[p] = deliver(i0[p], in_w[e], m)
                    else:
                        i1[p] = deliver(i1[p], in_w[e], m)
        # (2), (3) previous step's hidden spikes into hidden and readout synapses
        for pre in range(n_h):
            m = min(spikes[pre], cap_hid)
            if m > 0:
                for e in range(rec_ptr[pre], rec_ptr[pre + 1]):
                    p = rec_post[e]
                    if rec_syn[e] == 0:
                        i0[p] = deliver(i0[p], rec_w[e], m)
                    else:
                        i1[p] = deliver(i1[p], rec_w[e], m)
                for e in range(out_ptr[pre], out_ptr[pre + 1]):
                    o = out_post[e]
                    i_out[o] = deliver(i_out[o], out_w[e], m)
        # (4) hidden neurons in id order, then alias copies
        spikes[:] = 0
        for n in range(n_h):
            n0 = spikes[n]
            v[n], i0[n], i1[n], cnt = neuron_step(v[n], i0[n], i1[n], dash_mem[n], dash_syn0[n],
                                                  dash_syn1[n], has_bias, bias[n], threshold[n],
                                                  n0, cap_hid)
            spikes[n] = cnt
            if mode == SUMMARY:  # the peak |membrane| before the step's reset (the record holds it after)
                stats[4, n] = max(stats[4, n], abs(membrane_before_reset(v[n], cnt - n0, threshold[n])))
            for a in range(alias_ptr[n], alias_ptr[n + 1]):
                j = alias_tgt[a]
                spikes[j] = min(spikes[j] + cnt, cap_hid)
        if mode == SUMMARY:
            for n in range(n_h):
                stats[0, n] += spikes[n]
                stats[1, n] = max(stats[1, n], abs(v[n]))
                stats[2, n] = max(stats[2, n], abs(i0[n]))
                stats[3, n] = max(stats[3, n], abs(i1[n]))
        else:
            for n in range(n_h):
                spikes_rec[t, n] = spikes[n]
        if mode == ALL:
            for n in range(n_h):
                vmem_rec[t, n] = v[n]
                isyn_rec[t, n] = i0[n]
                isyn2_rec[t, n] = i1[n]
        # (5) readout neurons
        for o in range(n_o):
            v_out[o], i_out[o], _unused, cnt = neuron_step(v_out[o], i_out[o], 0, dash_mem_out[o],
                                                           dash_syn_out[o], 0, has_bias, bias_out[o],
                                                           threshold_out[o], 0, cap_out)
            spikes_out_rec[t, o] = cnt
            if mode != SPIKES:
                vmem_out_rec[t, o] = v_out[o]
                isyn_out_rec[t, o] = i_out[o]


@njit(cache=True, parallel=True)
def _simulate_batch(rasters, in_ptr, in_post, in_syn, in_w, rec_ptr, rec_post, rec_syn, rec_w,
                    out_ptr, out_post, out_w, alias_ptr, alias_tgt, dash_mem, dash_syn0, dash_syn1,
                    threshold, bias, dash_mem_out, dash_syn_out, threshold_out, bias_out, has_bias,
                    cap_in, cap_hid, cap_out, mode, spikes_rec, spikes_out_rec, vmem_rec,
                    isyn_rec, isyn2_rec, vmem_out_rec, isyn_out_rec, stats):
    for b in prange(rasters.shape[0]):
        _simulate_sample(rasters[b], in_ptr, in_post, in_syn, in_w, rec_ptr, rec_post, rec_syn,
                         rec_w, out_ptr, out_post, out_w, alias_ptr, alias_tgt, dash_mem, dash_syn0,
                         dash_syn1, threshold, bias, dash_mem_out, dash_syn_out, threshold_out,
                         bias_out, has_bias, cap_in, cap_hid, cap_out, mode, spikes_rec[b],
                         spikes_out_rec[b], vmem_rec[b], isyn_rec[b], isyn2_rec[b], vmem_out_rec[b],
                         isyn_out_rec[b], stats[b])


def run_kernel(config: ChipConfig, batch: np.ndarray, record: str, caps: tuple[int, int, int],
               threads: int | None = None) -> dict[str, np.ndarray]:
    """Simulate a validated ``(B, T, N_in)`` batch; returns record key -> array.

    ``record``: ``"all"`` (every record key, ``(B, T, N)``), ``"spikes"`` (``Spikes``, ``Spikes_out``) or
    ``"summary"`` (the readout records, and per hidden neuron only the spike count and the peak ``|state|``
    over the trial, ``(B, N_hidden)``, and the membrane's peak before each reset: no hidden record is stored;
    see :func:`hw_models.simulator.simulate_reference`).
    """
    mode = {"spikes": SPIKES, "all": ALL, "summary": SUMMARY}[record]
    n_b, n_t, _ = batch.shape
    n_h, n_o = config.n_hidden, config.n_outputs
    in_csr = _csr(config.weights_in, config.weight_shift_in)
    rec_csr = _csr(config.weights_rec, config.weight_shift_rec)
    out_ptr, out_post, _, out_w = _csr(config.weights_out, config.weight_shift_out)
    aliases = config.aliases or [[] for _ in range(n_h)]
    alias_ptr = np.zeros(n_h + 1, np.int64)
    np.cumsum([len(a) for a in aliases], out=alias_ptr[1:])
    alias_tgt = np.array([t for a in aliases for t in a], np.int64)
    dash_syns = config.dash_syns
    dash_syn1 = dash_syns[:, 1] if config.n_synapses == 2 else np.zeros(n_h, np.int64)

    spikes = np.zeros((n_b, n_t if mode != SUMMARY else 1, n_h), np.uint8)
    spikes_out = np.zeros((n_b, n_t, n_o), np.uint8)
    vmem, isyn, isyn2 = (np.zeros((n_b, n_t, n_h) if mode == ALL else (n_b, 1, 1), np.int16) for _ in range(3))
    vmem_out, isyn_out = (np.zeros((n_b, n_t, n_o) if mode != SPIKES else (n_b, 1, 1), np.int16)
                          for _ in range(2))
    stats = np.zeros((n_b, 5, n_h) if mode == SUMMARY else (n_b, 1, 1), np.int64)
    args = (np.ascontiguousarray(batch, np.int64), *in_csr, *rec_csr, out_ptr, out_post, out_w,
            alias_ptr, alias_tgt, config.dash_mem, dash_syns[:, 0].copy(), dash_syn1.copy(),
            config.threshold, config.bias, config.dash_mem_out, config.dash_syn_out,
            config.threshold_out, config.bias_out, config.has_bias, *caps, mode,
            spikes, spikes_out, vmem, isyn, isyn2, vmem_out, isyn_out, stats)
    if n_b == 1:
        _simulate_sample(args[0][0], *args[1:28], *(a[0] for a in args[28:]))
    else:
        previous = numba.get_num_threads()
        if threads is not None:
            numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        try:
            _simulate_batch(*args)
        finally:
            numba.set_num_threads(previous)
    if mode == SPIKES:
        return {"Spikes": spikes, "Spikes_out": spikes_out}
    if mode == SUMMARY:
        return {"Spikes_out": spikes_out, "Vmem_out": vmem_out, "Isyn_out": isyn_out, "Spikes_count": stats[:, 0],
                "Vmem_peak": stats[:, 1], "Isyn_peak": stats[:, 2], "Isyn2_peak": stats[:, 3],
                "Vmem_peak_before_reset": stats[:, 4]}
    return {"Spikes": spikes, "Vmem": vmem, "Isyn": isyn, "Isyn2": isyn2,
            "Spikes_out": spikes_out, "Vmem_out": vmem_out, "Isyn_out": isyn_out}


drop_stale_cache(_simulate_sample)  # numba's disk cache, dropped when any kernel source changes
