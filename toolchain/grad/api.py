"""The gradient API the trainer and users call: a batch in, the mean loss and gradients out.

Inputs: a list (the batch) of samples, each ``(times, channels)`` as two equal-length 1-D arrays
(seconds, input channel). Labels: one class index per sample. ``t_end``: the trial length in seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hw_models.errors import InputError
from toolchain.grad import eventprop, finite_diff, fp, fp_reverse, hm2bp
from toolchain.grad.batch_kernels import count_penalty
from toolchain.grad.params import Grads, add_into, zeros_like_params
from toolchain.lif.forward import Forward, as_sample, check_t_end, forward
from toolchain.losses import Loss, LossValue, check_count_penalties
from toolchain.network import Network

#: engine name -> per-sample gradient function (finite differences are handled separately)
ENGINES = {"fp": fp_reverse.gradients, "fp-forward": fp.gradients, "eventprop": eventprop.gradients,
           "hm2bp": hm2bp.gradients, "finite-diff": None}


@dataclass
class Stats:
    """Per-batch statistics. ``spike_counts[l]``: (batch, n) spikes of network layer l + 1 per sample."""

    loss_per_sample: np.ndarray
    spike_counts: list[np.ndarray]
    fd_valid: Grads | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def silent_fraction(self) -> list[float]:
        """Fraction of (sample, neuron) pairs without a spike, per spiking layer."""
        return [float(np.mean(c == 0)) for c in self.spike_counts]


def _check(net: Network, inputs, labels, loss: Loss, engine: str) -> None:
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; use one of {sorted(ENGINES)}")
    if loss.readout != net.readout:
        raise InputError(f"loss {type(loss).__name__} needs a {loss.readout!r} readout but the network's is "
                         f"{net.readout!r}")
    if len(inputs) != len(labels):
        raise InputError(f"{len(inputs)} samples but {len(labels)} labels")
    if len(inputs) == 0:
        raise InputError("the batch is empty")


def sample_loss(net: Network, fwd: Forward, label: int, loss: Loss) -> LossValue:
    """The loss of one forward pass, with the count losses' penalties (``hidden_penalty``, ``readout_penalty``;
    :func:`~toolchain.grad.batch_kernels.count_penalty`) added to its value, the readouts' to ``d_counts`` and
    the hidden layers' dL/d(count) in ``d_hidden``."""
    out = fwd.readout if net.readout == "leaky-integrator" else fwd.layers[-1]
    value = loss(out, label, net.layer_sizes[-1], fwd.t_end)
    if not loss.penalises_counts:
        return value
    *hidden, top = [c.astype(np.float64) for c in fwd.spike_counts(net)]
    terms = [count_penalty(c, loss.hidden_penalty, loss.hidden_ceiling) for c in hidden]
    top_value, top_d = count_penalty(top, loss.readout_penalty, loss.readout_ceiling)
    return dataclasses.replace(value, value=value.value + sum(p for p, _ in terms) + top_value,
                               d_counts=None if value.d_counts is None else value.d_counts + top_d,
                               d_hidden=[d for _, d in terms])


def loss_and_grad(net: Network, inputs, labels, loss: Loss, t_end: float, engine: str = "fp",
                  fd_step: float = 1e-6, taus: bool = False) -> tuple[float, Grads, Stats]:
    """Mean loss over the batch, its gradient (shaped like ``net.parameters()``) and statistics.

    ``engine``: ``"fp"`` (reverse-mode FP, the fast default), ``"fp-forward"`` (forward-mode FP),
    ``"eventprop"`` or ``"finite-diff"`` (central differences, slow; ``stats.fd_valid`` marks entries whose
    perturbation left the spike-causality graph unchanged). All exact engines return the same numbers up to round-off.
    ``"hm2bp"`` is not exact: HM2-BP's count gradient (:mod:`.hm2bp`) for losses on output spike counts.
    ``taus``: also the gradients of the per-neuron time constants (groups ``tau_syn``, ``tau_mem``, seconds);
    every exact engine and finite differences provide them, HM2-BP does not.
    """
    _check(net, inputs, labels, loss, engine)
    if engine != "finite-diff":
        check_count_penalties(loss, engine)
    if taus and engine == "hm2bp":
        raise InputError("engine hm2bp has no time-constant gradients; use fp, fp-forward, eventprop or finite-diff")
    t_end = check_t_end(t_end)
    samples = [as_sample(s, net.layer_sizes[0], k) for k, s in enumerate(inputs)]
    total = zeros_like_params(net, taus)
    losses = np.zeros(len(samples))
    counts: list[list[np.ndarray]] = []
    valid = None
    for k, (sample, label) in enumerate(zip(samples, labels, strict=True)):
        fwd = forward(net, sample, t_end)
        value = sample_loss(net, fwd, label, loss)
        losses[k] = value.value
        counts.append(fwd.spike_counts(net))
        if engine == "finite-diff":
            def evaluate(probe: Network, sample=sample, label=label):
                f = forward(probe, sample, t_end)
                return sample_loss(probe, f, label, loss).value, finite_diff.causal_signature(probe, f)

            grads, mask = finite_diff.gradients(net, evaluate, fd_step, taus)
            valid = mask if valid is None else {n: [None if v is None else v & m for v, m in zip(a, mask[n],
                                                                                                 strict=True)]
                                                for n, a in valid.items()}
        elif taus:
            grads = ENGINES[engine](net, fwd, value, taus=True)
        else:
            grads = ENGINES[engine](net, fwd, value)
        add_into(total, grads, 1.0 / len(samples))
    spike_counts = [np.stack([c[layer] for c in counts]) for layer in range(len(counts[0]))]
    _assert_finite(total, engine)
    return float(losses.mean()), total, Stats(losses, spike_counts, valid)


def _assert_finite(grads: Grads, engine: str) -> None:
    for name, arrays in grads.items():
        for k, g in enumerate(arrays):
            if g is not None and not np.all(np.isfinite(g)):
                raise InputError(f"engine {engine}: non-finite gradient in {name}[{k}]; the network is "
                                 "probably at a spike-creation edge (dV/dt ~ 0); check the weights' scale")
