"""Central finite differences of the loss, the oracle for the exact engines (gradients.md §3.5).

Each parameter entry ``p`` is moved by ``+-eps`` and ``+-2 eps`` with
``eps = step * max(|p|, mean |array|, 1e-12)``. With ``D(e) = (L(p + e) - L(p - e)) / (2 e)`` the result is the
Richardson extrapolation ``(4 D(eps) - D(2 eps)) / 3``, exact up to O(eps^4) *if* no spike appears or
disappears in between (spikes near a tangency have large higher derivatives, which plain central
differences at O(eps^2) would not resolve). An entry is flagged invalid when a perturbation changes the
spike-causality graph (:func:`causal_signature`: any spike count, or which arrivals precede which spike,
or the arrival interval holding a readout maximum): across such a change the loss has a jump or a kink,
and the difference quotient measures that, not the derivative.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from toolchain.grad.params import Grads, layout, unflatten
from toolchain.lif.forward import Forward
from toolchain.network import Network


def causal_signature(net: Network, fwd: Forward) -> list[np.ndarray]:
    """Integers that stay constant exactly as long as the spike-causality graph does."""
    sig = []
    for layer, sp in enumerate(fwd.layers):
        arr_t = fwd.arrivals(net, layer)[0]
        sig.append(sp.counts(net.layer_sizes[layer + 1]))
        sig.append(np.searchsorted(arr_t, sp.times, side="left"))
        if layer < net.n_layers - 1 and net.recurrent[layer] is not None:
            sig.append(np.searchsorted(sp.times + net.recurrent_delays[layer], sp.times, side="left"))
    if fwd.readout is not None:
        arr_t = fwd.arrivals(net, net.n_layers - 1)[0]
        sig.append(np.searchsorted(arr_t, fwd.readout.tmax, side="left"))
        sig.append(fwd.readout.kink)
    return sig


def gradients(net: Network, evaluate: Callable[[Network], tuple[float, list[np.ndarray]]],
              step: float = 1e-6, taus: bool = False) -> tuple[Grads, Grads]:
    """Return (gradient, valid mask), both shaped like the parameters (with ``taus``: and the time constants).

    ``evaluate(network) -> (loss, signature)`` runs the forward pass and the loss; the signature is
    :func:`causal_signature` (any list of integer arrays that must not change).
    """
    _, counts0 = evaluate(net)
    flat_grad: list[float] = []
    flat_ok: list[bool] = []
    probe = net.copy()
    for name, layer, _, shape in layout(net, taus):
        original = getattr(net, name)[layer]
        target = getattr(probe, name)[layer]
        scale = max(float(np.mean(np.abs(original))), 1e-12)
        for idx in np.ndindex(*shape):
            eps = step * max(abs(float(original[idx])), scale)
            values = []
            same = True
            for delta in (eps, -eps, 2 * eps, -2 * eps):
                target[idx] = original[idx] + delta
                loss, counts = evaluate(probe)
                values.append(loss)
                same = same and len(counts) == len(counts0) and all(
                    np.array_equal(c, c0) for c, c0 in zip(counts, counts0, strict=True))
            target[idx] = original[idx]
            d1 = (values[0] - values[1]) / (2.0 * eps)
            d2 = (values[2] - values[3]) / (4.0 * eps)
            flat_grad.append((4.0 * d1 - d2) / 3.0)
            flat_ok.append(same)
    grad = unflatten(net, np.asarray(flat_grad), taus)
    ok = unflatten(net, np.asarray(flat_ok, dtype=np.float64), taus)
    mask = {name: [None if g is None else g.astype(bool) for g in arrays] for name, arrays in ok.items()}
    return grad, mask
