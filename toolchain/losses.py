"""Losses on the output of one sample, with their partial derivatives (reference/gradients.md §2.4).

A loss maps the readout of one forward pass and an integer label to a :class:`LossValue`: the loss and
its partials with respect to the quantities the gradient engines propagate:

- spiking readout: ``d_times[k] = dL/dt_k`` for every output spike ``k`` (in the order of
  ``Forward.layers[-1]``);
- leaky-integrator readout: ``d_vmax[o] = dL/d(max_t V_o)`` and ``d_vint[o] = dL/d(integral V_o dt)``.

Silent neurons (documented behaviour): a silent output enters the first-spike softmax as if it fired at
``t_end``; that substitute time is a constant, so it carries no gradient (exact gradients are zero for
spikes that do not exist, gradients.md §7.1). Every value and partial is finite or an
:class:`~hw_models.errors.InputError` explains which setting overflowed.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from hw_models.errors import InputError


@dataclass
class LossValue:
    value: float
    d_times: np.ndarray | None = None
    d_vmax: np.ndarray | None = None
    d_vint: np.ndarray | None = None
    #: dL/d(spike count) of each readout, for the rate-coded engine (toolchain.grad.hm2bp); None: no count loss
    d_counts: np.ndarray | None = None
    #: dL/d(spike count) of each hidden layer's neurons (the count losses' ``hidden_penalty``); None: no penalty
    d_hidden: list[np.ndarray] | None = None


def _softmax_ce(logits: np.ndarray, label: int) -> tuple[float, np.ndarray]:
    """Cross-entropy -log softmax(logits)[label] and its gradient softmax - onehot."""
    top = int(np.argmax(logits))
    shifted = logits - logits[top]
    others = np.exp(np.delete(shifted, top)).sum()
    log_z = math.log1p(others)  # log(1 + others): accurate when the softmax saturates
    p = np.exp(shifted - log_z)
    grad = p.copy()
    grad[label] -= 1.0
    return log_z - shifted[label], grad


def _check_label(label, n_out: int) -> int:
    if not (isinstance(label, (int, np.integer)) and 0 <= int(label) < n_out):
        raise InputError(f"label {label!r} is not a class index in [0, {n_out - 1}]")
    return int(label)


class Loss(ABC):
    """A per-sample loss. ``readout`` names the readout kind it needs; ``hidden_penalty`` or ``readout_penalty``
    > 0 (the count losses' options, :class:`CountCeilings`) add penalties on spike counts past a ceiling."""

    readout: str = "spiking"
    hidden_penalty: float = 0.0
    readout_penalty: float = 0.0

    @property
    def penalises_counts(self) -> bool:
        """Whether a count penalty is on (``hidden_penalty`` or ``readout_penalty`` > 0)."""
        return self.hidden_penalty > 0 or self.readout_penalty > 0

    @abstractmethod
    def __call__(self, out, label: int, n_out: int, t_end: float) -> LossValue:
        """``out`` is ``Forward.layers[-1]`` (spiking) or ``Forward.readout`` (leaky-integrator)."""


@dataclass
class FirstSpikeCE(Loss):
    """First-spike-time cross-entropy with the EventProp regulariser (seconds)::

        L = -log softmax(-t / tau0)[y] + alpha * (exp(t_y / tau1) - 1)

    ``t_c`` = first spike of output ``c`` (``t_end`` if silent, no gradient).
    dL/dt_c = (onehot_c - softmax_c) / tau0 + onehot_c * alpha / tau1 * exp(t_y / tau1).
    """

    tau0: float = 0.5e-3
    tau1: float = 6.4e-3
    alpha: float = 3e-3
    readout = "spiking"

    def __call__(self, out, label, n_out, t_end):
        y = _check_label(label, n_out)
        first = np.full(n_out, -1, dtype=np.int64)
        for k in range(len(out.times) - 1, -1, -1):  # spikes are sorted: the last write is the first
            first[out.neurons[k]] = k
        t = np.full(n_out, float(t_end))
        t[first >= 0] = out.times[first[first >= 0]]
        ce, grad_logits = _softmax_ce(-t / self.tau0, y)
        growth = math.exp(t[y] / self.tau1) if t[y] / self.tau1 < 700 else math.inf
        if not math.isfinite(growth):
            raise InputError(f"FirstSpikeCE: exp(t / tau1) overflows for t = {t[y]:.4g} s; increase tau1 "
                             f"(now {self.tau1}) to at least t_end / 100")
        value = ce + self.alpha * (growth - 1.0)
        d_first = -grad_logits / self.tau0
        d_first[y] += self.alpha / self.tau1 * growth
        d_times = np.zeros(len(out.times))
        fired = first >= 0
        d_times[first[fired]] = d_first[fired]
        return LossValue(float(value), d_times=d_times)


@dataclass
class CountCeilings:
    """The count losses' penalties on spike counts past a ceiling (HM2-BP only; docs/training.md)::

        L += hidden_penalty / 2 sum_{hidden j} max(0, o_j - hidden_ceiling)^2
           + readout_penalty / 2 sum_c max(0, o_c - readout_ceiling)^2

    over every neuron j of every hidden layer and every readout c (``o``: spike counts in the trial; a weight of 0
    disables its term). The hidden term holds a hidden layer that runs away; the readout term keeps readouts under
    a chip's cap of one spike per step (``readout_ceiling`` below the trial's number of steps). Only HM2-BP
    back-propagates them (the counts are piecewise constant, so an exact engine's gradient of them is zero)."""

    hidden_penalty: float = 0.0
    hidden_ceiling: float = 10.0
    readout_penalty: float = 0.0
    readout_ceiling: float = 16.0

    def __post_init__(self) -> None:
        for name in ("hidden_penalty", "hidden_ceiling", "readout_penalty", "readout_ceiling"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    and value >= 0):
                raise InputError(f"{type(self).__name__}: {name} must be a number >= 0, got {value!r}")


def check_count_penalties(loss: Loss, engine: str) -> None:
    """Refuse a gradient of a loss with count penalties from an engine that cannot back-propagate them."""
    if loss.penalises_counts and engine != "hm2bp":
        raise InputError(f"hidden_penalty and readout_penalty are back-propagated by engine hm2bp only (counts have "
                         f"no exact gradient); train with engine hm2bp or set them to 0 (engine now: {engine})")


@dataclass
class SpikeCountCE(CountCeilings, Loss):
    """Cross-entropy on (optionally time-weighted) spike counts::

        logits_c = gain * sum_{k in F_c} exp(-t_k / tau_count)     (tau_count=None: weight 1)

    With ``tau_count=None`` the logits are integer counts, piecewise constant in the parameters, so the
    exact gradient is zero wherever it exists (every engine, finite differences included, agrees);
    a finite ``tau_count`` makes early spikes count more and gives dL/dt_k = -(softmax - onehot)_c *
    gain * exp(-t_k / tau_count) / tau_count.
    """

    tau_count: float | None = None
    gain: float = 1.0
    readout = "spiking"

    def __call__(self, out, label, n_out, t_end):
        y = _check_label(label, n_out)
        weight = np.ones(len(out.times)) if self.tau_count is None else np.exp(-out.times / self.tau_count)
        logits = self.gain * np.bincount(out.neurons, weights=weight, minlength=n_out)
        value, grad_logits = _softmax_ce(logits, y)
        if self.tau_count is None:
            d_times = np.zeros(len(out.times))
        else:
            d_times = -grad_logits[out.neurons] * self.gain * weight / self.tau_count
        d_counts = self.gain * grad_logits if self.tau_count is None else None
        return LossValue(float(value), d_times=d_times, d_counts=d_counts)


@dataclass
class CountMSE(CountCeilings, Loss):
    """HM2-BP's rate-coded loss on output spike counts (gradients.md §4.3)::

        L = 1/2 sum_c err_c^2,   err_c = o_c - y_c if |o_c - y_c| > margin else 0

    with ``y_c = desired`` for the label's readout and ``undesired`` for the others; with an output code ``code``
    (classes x readouts, :mod:`toolchain.train.coding`, more classes than readouts) readout ``r`` is to fire
    ``desired`` times where ``code[label, r] > 0`` and ``undesired`` elsewhere. Counts are piecewise
    constant in the parameters, so the exact spike-time gradient is zero (``d_times`` = 0, which the exact
    engines return); ``d_counts = err`` is what the HM2-BP engine back-propagates.
    """

    desired: float = 8.0
    undesired: float = 1.0
    margin: float = 1.0
    code: np.ndarray | None = None
    readout = "spiking"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("desired", "undesired", "margin"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise InputError(f"CountMSE: {name} must be a count >= 0, got {value!r}")
        if self.desired <= self.undesired:
            raise InputError(f"CountMSE: desired ({self.desired}) must exceed undesired ({self.undesired})")

    def __call__(self, out, label, n_out, t_end):
        if self.code is None:
            y = _check_label(label, n_out)
            target = np.full(n_out, float(self.undesired))
            target[y] = float(self.desired)
        else:
            y = _check_label(label, self.code.shape[0])
            target = np.where(np.asarray(self.code)[y] > 0, float(self.desired), float(self.undesired))
        err = out.counts(n_out) - target
        err = np.where(np.abs(err) > self.margin, err, 0.0)
        return LossValue(float(0.5 * np.sum(err**2)), d_times=np.zeros(len(out.times)), d_counts=err)


@dataclass
class MaxVoltageCE(Loss):
    """Cross-entropy on the maximum over [0, t_end] of leaky-integrator voltages: logits = gain * max_t V."""

    gain: float = 1.0
    readout = "leaky-integrator"

    def __call__(self, out, label, n_out, t_end):
        value, grad = _softmax_ce(self.gain * out.vmax, _check_label(label, n_out))
        return LossValue(float(value), d_vmax=self.gain * grad, d_vint=np.zeros(n_out))


@dataclass
class IntegratedVoltageCE(Loss):
    """Cross-entropy on mean leaky-integrator voltages: logits = gain / t_end * integral_0^t_end V dt."""

    gain: float = 1.0
    readout = "leaky-integrator"

    def __call__(self, out, label, n_out, t_end):
        scale = self.gain / t_end
        value, grad = _softmax_ce(scale * out.vint, _check_label(label, n_out))
        return LossValue(float(value), d_vmax=np.zeros(n_out), d_vint=scale * grad)


LOSSES: dict[str, type[Loss]] = {
    "first-spike": FirstSpikeCE,
    "spike-count": SpikeCountCE,
    "count-mse": CountMSE,
    "max-voltage": MaxVoltageCE,
    "integrated-voltage": IntegratedVoltageCE,
}
