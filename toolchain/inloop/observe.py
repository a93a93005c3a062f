"""Spike times observed on a chip (or its bit-accurate simulator), as a forward pass FP can differentiate.

FP and EventProp need only the firing times, the causality between them and the synaptic current at each
firing time (gradients.md §8.4, "chip in the loop"). A backend records spike *counts per step* and the
integer membrane at the end of each step, so each crossing time is estimated inside its step by linear
interpolation of the membrane: with ``v_prev`` the membrane at the end of step ``n - 1`` and
``v_pre = v[n] + c theta`` the membrane before the ``c`` resets of step ``n``, the ``k``-th crossing of the
step is at

    t_k = (n + f_k) dt,    f_k = (k theta - v_prev) / (v_pre - v_prev)  (clamped to (0, 1])

(the chip's step ``n`` spans float time ``(n dt, (n + 1) dt]``, toolchain/compile/units.py). The current
``I(t^-)`` at each estimated time comes from the float model given the observed presynaptic times. The
result is a :class:`~toolchain.lif.forward.Forward` the gradient engines take as is.
"""

from __future__ import annotations

import numpy as np

from hw_models.simulator import Record
from toolchain.compile import CompileReport
from toolchain.lif.forward import Forward, LeakyReadout, Spikes, _leaky_readout, as_sample
from toolchain.network import Network
from toolchain.verify.models import layer_ids

_MIN_FRACTION = 1e-3


def crossing_times(spikes: np.ndarray, vmem: np.ndarray, theta: np.ndarray, dt: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Estimated (times, neurons) of every spike in a ``(T, n)`` count record with its ``(T, n)`` membranes."""
    steps, neurons = np.nonzero(spikes)
    times, ids = [], []
    for n, j in zip(steps, neurons, strict=True):
        c = int(spikes[n, j])
        th = float(theta[j])
        v_prev = float(vmem[n - 1, j]) if n > 0 else 0.0
        v_pre = float(vmem[n, j]) + c * th
        rise = v_pre - v_prev
        for k in range(1, c + 1):
            f = (k * th - v_prev) / rise if rise > 0 else 1.0
            times.append((n + min(max(f, _MIN_FRACTION), 1.0)) * dt)
            ids.append(j)
    order = np.lexsort((np.asarray(ids, np.int64), np.asarray(times)))
    return np.asarray(times, np.float64)[order], np.asarray(ids, np.int64)[order]


def currents_at(times: np.ndarray, neurons: np.ndarray, arr_t: np.ndarray, arr_src: np.ndarray,
                w: np.ndarray, tau_syn: np.ndarray) -> np.ndarray:
    """``I_j(t^-) = sum_{arrivals a < t} W[src, j] exp(-(t - a) / tau_syn_j)`` for each spike ``(t, j)``."""
    out = np.zeros(times.size)
    for k, (t, j) in enumerate(zip(times, neurons, strict=True)):
        before = arr_t < t
        out[k] = np.sum(w[arr_src[before], j] * np.exp(-(t - arr_t[before]) / tau_syn[j]))
    return out


def _layer_spikes(net: Network, layer: int, times: np.ndarray, neurons: np.ndarray, pre: Spikes) -> Spikes:
    """Spikes of network layer ``layer + 1`` with their currents from feed-forward and recurrent arrivals."""
    arr_t = pre.times + net.delays[layer]
    cur = currents_at(times, neurons, arr_t, pre.neurons, net.weights[layer], net.tau_syn[layer])
    rec = net.recurrent[layer] if layer < net.n_layers - 1 else None
    if rec is not None:
        cur += currents_at(times, neurons, times + net.recurrent_delays[layer], neurons, rec, net.tau_syn[layer])
    return Spikes(times, neurons, cur)


def observed_forward(net: Network, report: CompileReport, config, record: Record, sample, t_end: float) -> Forward:
    """The forward pass of one sample as the chip ran it (``record`` holds that sample's ``(T, n)`` arrays)."""
    inputs = sample if isinstance(sample, Spikes) else as_sample(sample, net.layer_sizes[0])
    L = net.n_layers
    layers: list[Spikes] = []
    pre = inputs
    for layer in range(1, L):
        ids = layer_ids(report, layer)
        t, n = crossing_times(record["Spikes"][:, ids], record["Vmem"][:, ids], config.threshold[ids], config.dt)
        pre = _layer_spikes(net, layer - 1, t, n, pre)
        layers.append(pre)
    readout = None
    if net.readout == "spiking":
        t, n = crossing_times(record["Spikes_out"], record["Vmem_out"], config.threshold_out, config.dt)
        layers.append(_layer_spikes(net, L - 1, t, n, pre))
    else:
        arr_t = pre.times + net.delays[L - 1]
        readout = LeakyReadout(*_leaky_readout(arr_t, pre.neurons, net.weights[L - 1], 1.0 / net.tau_syn[L - 1],
                                               1.0 / net.tau_mem[L - 1], t_end))
    return Forward(inputs, layers, readout, t_end)
