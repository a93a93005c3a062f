"""Gradients shaped like the parameters, and a flat layer-major layout of them for forward mode and
finite differences.

The parameter groups are ``weights``, ``recurrent`` and ``threshold``; with ``taus=True`` also the per-neuron
time constants ``tau_syn`` and ``tau_mem`` (learned time constants: requested only when asked for, so the
default gradients and their cost do not change).
"""

from __future__ import annotations

import numpy as np

from toolchain.network import Network

Grads = dict[str, list]

BASE_GROUPS = ("weights", "recurrent", "threshold")
TAU_GROUPS = ("tau_syn", "tau_mem")


def groups(taus: bool = False) -> tuple[str, ...]:
    """The parameter group names, in layout order within a layer."""
    return BASE_GROUPS + TAU_GROUPS if taus else BASE_GROUPS


def has_taus(grads: Grads) -> bool:
    """Whether ``grads`` holds time-constant gradients."""
    return "tau_syn" in grads


def zeros_like_params(net: Network, taus: bool = False) -> Grads:
    """``{"weights": [...], "recurrent": [... or None], "threshold": [... or None]}`` filled with zeros
    (plus ``tau_syn`` and ``tau_mem`` with ``taus``)."""
    return {name: [None if p is None else np.zeros_like(p) for p in arrays]
            for name, arrays in net.parameters(taus).items()}


def layout(net: Network, taus: bool = False) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """Flat layout, layer by layer: (name, layer, offset, shape) for weights[l], recurrent[l], threshold[l]
    (and tau_syn[l], tau_mem[l] with ``taus``).

    Spikes of layer l depend only on the entries before the first entry of layer l + 1.
    """
    out, offset = [], 0
    params = net.parameters(taus)
    for layer in range(net.n_layers):
        for name in groups(taus):
            arrays = params[name]
            if layer < len(arrays) and arrays[layer] is not None:
                out.append((name, layer, offset, arrays[layer].shape))
                offset += arrays[layer].size
    return out


def layer_end(net: Network, layer: int, taus: bool = False) -> int:
    """Number of flat parameters that spikes of network layer ``layer + 1`` can depend on."""
    end = 0
    for _, lay, offset, shape in layout(net, taus):
        if lay <= layer:
            end = offset + int(np.prod(shape))
    return end


def offsets(net: Network, taus: bool = False) -> dict[tuple[str, int], int]:
    return {(name, layer): offset for name, layer, offset, _ in layout(net, taus)}


def flatten(net: Network, grads: Grads) -> np.ndarray:
    return np.concatenate([grads[name][layer].ravel() for name, layer, _, _ in layout(net, has_taus(grads))])


def unflatten(net: Network, flat: np.ndarray, taus: bool = False) -> Grads:
    grads = zeros_like_params(net, taus)
    for name, layer, offset, shape in layout(net, taus):
        grads[name][layer] = flat[offset:offset + int(np.prod(shape))].reshape(shape).copy()
    return grads


def add_into(total: Grads, part: Grads, scale: float = 1.0) -> None:
    for name, arrays in part.items():
        for k, g in enumerate(arrays):
            if g is not None:
                total[name][k] += scale * g
