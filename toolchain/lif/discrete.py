"""The float network's discrete-time twin on its ``dt`` grid: the chip's update and timing, in floats.

Per step ``n``, layers in order (``a = exp(-dt / tau)``, per neuron)::

    i = a_s (i + x @ W + s_prev @ R)        x: the raster's step n (first layer) or the previous
    v = a_m v + dt i                             layer's spikes of step n - 1; R: recurrent weights
    s = max(floor(v / (f theta)), 0);  v -= s f theta          (several spikes per step; no spikes and
                                                                no reset for a leaky-integrator readout)

The timing is the chip's (DESIGN.md §3): input reaches the first layer in the same step, every later hop
and every recurrent connection costs one step; the network's own (continuous-time) delays are not used.
``s`` is the count the chip's "while v >= theta: v -= theta" loop gives, in closed form. With
``timed_reset`` the first reset of a step is the continuous model's as seen at the step's end,
``f theta exp(-(1 - phi) dt / tau_mem)``, ``phi`` the crossing's fraction of the step (linear
interpolation); further spikes reset by ``f theta``. ``f`` (``threshold_factor``) scales every
threshold. ``benchmarks/discrete_twin.py`` compares its decisions with the chip's; the ONNX float model
(:mod:`toolchain.io.onnx_float`) is this function as a graph (``factor = 1``, no timed reset).
"""

from __future__ import annotations

import numpy as np

from hw_models.errors import InputError
from toolchain.network import Network


def twin_constants(net: Network, dtype=np.float64) -> list[dict[str, np.ndarray | float | None]]:
    """Per layer: ``a_s``, ``a_m`` (per neuron), ``dt``, ``theta`` (``None`` for a leaky readout)."""
    if net.dt is None:
        raise InputError("the network has no dt; the discrete twin runs on its dt grid (set Network.dt)")
    out = []
    for k in range(net.n_layers):
        out.append({"a_s": np.exp(-net.dt / net.tau_syn[k]).astype(dtype),
                    "a_m": np.exp(-net.dt / net.tau_mem[k]).astype(dtype), "dt": dtype(net.dt),
                    "theta": None if net.threshold[k] is None else net.threshold[k].astype(dtype)})
    return out


def output_names(net: Network) -> list[str]:
    """Record keys: ``hidden_spikes_<k>`` per hidden layer, ``readout_v``, ``readout_spikes`` if spiking."""
    names = [f"hidden_spikes_{k + 1}" for k in range(net.n_layers - 1)] + ["readout_v"]
    return names + (["readout_spikes"] if net.threshold[-1] is not None else [])


def discrete_twin(net: Network, rasters, dtype=np.float64, threshold_factor: float = 1.0,
                  timed_reset: bool = False) -> dict[str, np.ndarray]:
    """Run the twin on counts ``(B, T, N_in)`` (or ``(T, N_in)``); returns ``output_names`` -> arrays."""
    arr = np.asarray(rasters)
    batch = (arr[None] if arr.ndim == 2 else arr).astype(dtype)
    if batch.ndim != 3 or batch.shape[-1] != net.layer_sizes[0]:
        raise InputError(f"raster must be (B, T, {net.layer_sizes[0]}) or (T, {net.layer_sizes[0]}); "
                         f"got {arr.shape}")
    consts = twin_constants(net, dtype)
    weights = [w.astype(dtype) for w in net.weights]
    recurrent = [None if r is None else r.astype(dtype) for r in net.recurrent] + [None]
    n_b, n_t, _ = batch.shape
    i = [np.zeros((n_b, n), dtype) for n in net.layer_sizes[1:]]
    v = [np.zeros((n_b, n), dtype) for n in net.layer_sizes[1:]]
    s = [np.zeros((n_b, n), dtype) for n in net.layer_sizes[1:]]
    rec = {name: np.zeros((n_b, n_t, net.layer_sizes[-1] if name.startswith("readout") else
                           net.layer_sizes[int(name.rsplit("_", 1)[1])]), dtype) for name in output_names(net)}
    for t in range(n_t):
        prev = [x.copy() for x in s]
        for k, c in enumerate(consts):
            current = (batch[:, t] if k == 0 else prev[k - 1]) @ weights[k]
            if recurrent[k] is not None:
                current = current + prev[k] @ recurrent[k]
            i[k] = c["a_s"] * (i[k] + current)
            before, v[k] = v[k], c["a_m"] * v[k] + c["dt"] * i[k]
            if c["theta"] is None:
                continue
            theta = dtype(threshold_factor) * c["theta"]
            count = np.zeros_like(v[k])
            if timed_reset:
                fire = v[k] >= theta
                phi = np.clip((theta - before) / np.maximum(v[k] - before, 1e-300), 0.0, 1.0)
                v[k] = v[k] - np.where(fire, theta * np.exp(-(1.0 - phi) * net.dt / net.tau_mem[k]), 0.0)
                count += fire
            more = np.maximum(np.floor(v[k] / theta), 0)
            v[k] = v[k] - more * theta
            s[k] = count + more
        for k in range(net.n_layers - 1):
            rec[f"hidden_spikes_{k + 1}"][:, t] = s[k]
        rec["readout_v"][:, t] = v[-1]
        if "readout_spikes" in rec:
            rec["readout_spikes"][:, t] = s[-1]
    return {k: (a[0] if arr.ndim == 2 else a) for k, a in rec.items()}
