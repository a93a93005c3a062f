"""Central finite differences of the loss, the oracle for the exact engines (gradients.md §3.5).

Each parameter entry ``p`` is moved by ``+-eps`` and ``+-2 eps`` with
``eps = step * max(|p|, mean |array|, 1e-12)``. With ``D(e) = (L(p + e) - L(p - e)) / (2 e)`` the result is the
Richardson extrapolation ``(4 D(eps) - D(2 eps)) / 3``, exact up to O(eps^4) *if* the loss is smooth across
the stencil ``p - 2 eps .. p + 2 eps``. An entry is flagged invalid when it is not:

* a perturbation changes the spike-causality graph (:func:`causal_signature`: which neuron fires each spike in
  time order, which arrivals precede which spike, the arrival interval holding a readout maximum): across such a
  change the loss has a jump or a kink, and the difference quotient measures that, not the derivative;
* or the loss is not smooth across the stencil (:func:`smooth`): the derivative estimated from the forward
  side disagrees with the one from the backward side (a kink at ``p``, where central differences average the
  two slopes), or ``D(eps)`` with ``D(2 eps)`` (large higher derivatives, which leave Richardson's O(eps^4)
  error term large). A spike near a tangency (a membrane maximum grazing the threshold) is the usual
  cause: its time moves like ``sqrt(p - p_c)``, smooth at ``p`` but with derivatives that grow without bound
  as ``p_c`` nears, so the stencil is not in the asymptotic regime while no spike count changes yet.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from toolchain.grad.params import Grads, layout, unflatten
from toolchain.lif.forward import Forward
from toolchain.network import Network


def causal_signature(net: Network, fwd: Forward) -> list[np.ndarray]:
    """Integers that stay constant exactly as long as the spike-causality graph does.

    Per layer: which neuron fires each spike, in time order (two spikes that swap change it, and with a
    zero-delay recurrent connection the later spike's slope in the earlier one's arrival jumps there), and how
    many arrivals precede each spike. Position counts alone miss a swap: sorted times give the same counts
    whichever neuron holds each slot."""
    sig = []
    for layer, sp in enumerate(fwd.layers):
        arr_t = fwd.arrivals(net, layer)[0]
        sig.append(sp.neurons)
        sig.append(np.searchsorted(arr_t, sp.times, side="left"))
        if layer < net.n_layers - 1 and net.recurrent[layer] is not None:
            sig.append(np.searchsorted(sp.times + net.recurrent_delays[layer], sp.times, side="left"))
    if fwd.readout is not None:
        arr_t = fwd.arrivals(net, net.n_layers - 1)[0]
        sig.append(np.searchsorted(arr_t, fwd.readout.tmax, side="left"))
        sig.append(fwd.readout.kink)
    return sig


def same_signature(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    """Do two :func:`causal_signature` results describe the same spike-causality graph?"""
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


#: How far the stencil's two estimates of the derivative from either side, and its central differences at ``eps``
#: and ``2 eps``, may differ, relative to the derivative. For a smooth loss both differences are O(eps^2) terms
#: (about ``eps^2 |L'''|``: ~1e-12 of the derivative for ``step = 1e-6`` on a well-scaled entry) and the
#: Richardson estimate's remaining O(eps^4) error is of the order of their square; a kink keeps the two one-sided
#: estimates apart by its jump in slope whatever ``eps``.
SMOOTH_TOL = 1e-3
#: Round-off allowed in one evaluation of the loss, relative to its magnitude: differences of the difference
#: quotients below what this can produce (``ROUNDOFF |L| / eps``) are not evidence against smoothness.
ROUNDOFF = 1e-13


def smooth(loss0: float, values: list[float], eps: float) -> bool:
    """Is the loss smooth across the stencil, so that the Richardson estimate is its derivative?

    ``values``: the loss at ``p + eps, p - eps, p + 2 eps, p - 2 eps``; ``loss0`` at ``p``. Two differences, each
    O(eps^2) for a smooth loss, must stay within :data:`SMOOTH_TOL` of the derivative (or within round-off): the
    forward and the backward one-sided derivatives, each extrapolated from ``eps`` and ``2 eps``
    (``2 D+(eps) - D+(2 eps)``), agree (a kink at or near ``p`` separates them by its jump in slope, where
    central differences average the two slopes); and the central differences at ``eps`` and ``2 eps`` agree
    (large higher derivatives, as at a spike near a tangency, or a kink between ``eps`` and ``2 eps``)."""
    up, down, up2, down2 = values
    d1, d2 = (up - down) / (2.0 * eps), (up2 - down2) / (4.0 * eps)
    forward = 2.0 * (up - loss0) / eps - (up2 - loss0) / (2.0 * eps)
    backward = 2.0 * (loss0 - down) / eps - (loss0 - down2) / (2.0 * eps)
    noise = ROUNDOFF * max(abs(loss0), *map(abs, values)) / eps
    return max(abs(forward - backward), abs(d1 - d2)) <= SMOOTH_TOL * abs((4.0 * d1 - d2) / 3.0) + noise


def gradients(net: Network, evaluate: Callable[[Network], tuple[float, list[np.ndarray]]],
              step: float = 1e-6, taus: bool = False) -> tuple[Grads, Grads]:
    """Return (gradient, valid mask), both shaped like the parameters (with ``taus``: and the time constants).

    ``evaluate(network) -> (loss, signature)`` runs the forward pass and the loss; the signature is
    :func:`causal_signature` (any list of integer arrays that must not change). An entry is valid when no
    perturbation changed the signature and the loss is :func:`smooth` across the stencil.
    """
    loss0, sig0 = evaluate(net)
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
                loss, sig = evaluate(probe)
                values.append(loss)
                same = same and same_signature(sig, sig0)
            target[idx] = original[idx]
            d1 = (values[0] - values[1]) / (2.0 * eps)
            d2 = (values[2] - values[3]) / (4.0 * eps)
            flat_grad.append((4.0 * d1 - d2) / 3.0)
            flat_ok.append(same and smooth(loss0, values, eps))
    grad = unflatten(net, np.asarray(flat_grad), taus)
    ok = unflatten(net, np.asarray(flat_ok, dtype=np.float64), taus)
    mask = {name: [None if g is None else g.astype(bool) for g in arrays] for name, arrays in ok.items()}
    return grad, mask
