"""Gradients shaped like the parameters, and a flat layer-major layout of them for forward mode and
finite differences."""

from __future__ import annotations

import numpy as np

from toolchain.network import Network

Grads = dict[str, list]


def zeros_like_params(net: Network) -> Grads:
    """``{"weights": [...], "recurrent": [... or None], "threshold": [... or None]}`` filled with zeros."""
    return {name: [None if p is None else np.zeros_like(p) for p in arrays]
            for name, arrays in net.parameters().items()}


def layout(net: Network) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """Flat layout, layer by layer: (name, layer, offset, shape) for weights[l], recurrent[l], threshold[l].

    Spikes of layer l depend only on the entries before the first entry of layer l + 1.
    """
    out, offset = [], 0
    for layer in range(net.n_layers):
        for name in ("weights", "recurrent", "threshold"):
            arrays = net.parameters()[name]
            if layer < len(arrays) and arrays[layer] is not None:
                out.append((name, layer, offset, arrays[layer].shape))
                offset += arrays[layer].size
    return out


def layer_end(net: Network, layer: int) -> int:
    """Number of flat parameters that spikes of network layer ``layer + 1`` can depend on."""
    end = 0
    for _, lay, offset, shape in layout(net):
        if lay <= layer:
            end = offset + int(np.prod(shape))
    return end


def offsets(net: Network) -> dict[tuple[str, int], int]:
    return {(name, layer): offset for name, layer, offset, _ in layout(net)}


def flatten(net: Network, grads: Grads) -> np.ndarray:
    return np.concatenate([grads[name][layer].ravel() for name, layer, _, _ in layout(net)])


def unflatten(net: Network, flat: np.ndarray) -> Grads:
    grads = zeros_like_params(net)
    for name, layer, offset, shape in layout(net):
        grads[name][layer] = flat[offset:offset + int(np.prod(shape))].reshape(shape).copy()
    return grads


def add_into(total: Grads, part: Grads, scale: float = 1.0) -> None:
    for name, arrays in part.items():
        for k, g in enumerate(arrays):
            if g is not None:
                total[name][k] += scale * g
