"""Optimiser, learning-rate schedules and gradient clipping for parameter dicts ``name -> float64 array``.

Adam (Kingma & Ba 2015), with ``g`` the gradient and ``t`` the step count::

    m <- b1 m + (1 - b1) g,    v <- b2 v + (1 - b2) g**2
    p <- p - lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)

Its whole state (``t``, ``m``, ``v`` and the hyperparameters) is exported by :meth:`Adam.state_dict` and
restored exactly by :meth:`Adam.from_state_dict`, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hw_models.errors import InputError, Violation
from toolchain.train.errors import number_violation, raise_hyperparameter_violations

Params = dict[str, np.ndarray]

SCHEDULES = ("constant", "step", "exponential")


def check_gradients(params: Params, grads: Params) -> None:
    """Gradients must have exactly the parameters' names and shapes and be finite (else InputError)."""
    missing, extra = sorted(set(params) - set(grads)), sorted(set(grads) - set(params))
    if missing or extra:
        raise InputError(f"gradients do not match the parameters: missing {missing}, unexpected {extra}")
    for name, g in grads.items():
        g = np.asarray(g)
        if g.shape != np.shape(params[name]):
            raise InputError(f"gradient of {name!r} has shape {g.shape}, "
                             f"the parameter {np.shape(params[name])}")
        if not np.all(np.isfinite(g)):
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
            raise InputError(f"gradient of {name!r}{list(idx)} is {g[idx]}: training diverged or a spike "
                             "time derivative blew up (lower the learning rate or clip gradients)")


@dataclass
class Adam:
    """Minibatch Adam over a dict of float64 parameter arrays."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    m: Params = field(default_factory=dict)
    v: Params = field(default_factory=dict)

    def __post_init__(self) -> None:
        raise_hyperparameter_violations([
            number_violation("lr", self.lr, 0, math.inf, lo_open=True, hint="e.g. 1e-3"),
            number_violation("beta1", self.beta1, 0, 1, hi_open=True, hint="e.g. 0.9"),
            number_violation("beta2", self.beta2, 0, 1, hi_open=True, hint="e.g. 0.999"),
            number_violation("eps", self.eps, 0, math.inf, lo_open=True, hint="e.g. 1e-8"),
        ])

    def step(self, params: Params, grads: Params, lr: float | None = None) -> Params:
        """Return the updated parameters (new arrays; the inputs are not modified)."""
        check_gradients(params, grads)
        lr = self.lr if lr is None else lr
        raise_hyperparameter_violations([number_violation("lr", lr, 0, math.inf, lo_open=True)])
        self.t += 1
        c1, c2 = 1.0 - self.beta1**self.t, 1.0 - self.beta2**self.t
        updated = {}
        for name, p in params.items():
            g = np.asarray(grads[name], dtype=np.float64)
            m = self.beta1 * self.m.get(name, 0.0) + (1.0 - self.beta1) * g
            v = self.beta2 * self.v.get(name, 0.0) + (1.0 - self.beta2) * g * g
            self.m[name], self.v[name] = m, v
            updated[name] = p - lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
        return updated

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: hyperparameters, step count and moment arrays (copies)."""
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps, "t": self.t,
                "m": {k: np.array(a) for k, a in self.m.items()},
                "v": {k: np.array(a) for k, a in self.v.items()}}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Adam:
        return cls(lr=state["lr"], beta1=state["beta1"], beta2=state["beta2"], eps=state["eps"],
                   t=int(state["t"]), m={k: np.array(a) for k, a in state["m"].items()},
                   v={k: np.array(a) for k, a in state["v"].items()})


@dataclass(frozen=True)
class LRSchedule:
    """Learning rate per epoch (epochs count from 0).

    ``constant``: ``lr``;  ``step``: ``lr * gamma ** (epoch // step_size)``;
    ``exponential``: ``lr * gamma ** epoch``.
    """

    kind: str = "constant"
    lr: float = 1e-3
    gamma: float = 1.0
    step_size: int = 1

    def __post_init__(self) -> None:
        step = self.step_size
        step_ok = isinstance(step, int) and not isinstance(step, bool) and step >= 1
        raise_hyperparameter_violations([
            None if self.kind in SCHEDULES else Violation(
                "schedule", f"unknown schedule {self.kind!r}", value=repr(self.kind),
                hint=f"one of {', '.join(SCHEDULES)}"),
            number_violation("lr", self.lr, 0, math.inf, lo_open=True, hint="e.g. 5e-3"),
            number_violation("gamma", self.gamma, 0, 1, lo_open=True, hint="e.g. 0.95"),
            None if step_ok else Violation("step_size", f"must be a whole number of epochs >= 1, got "
                                           f"{self.step_size!r}", value=repr(self.step_size), limit=1),
        ])

    def __call__(self, epoch: int) -> float:
        if epoch < 0:
            raise InputError(f"epoch must be >= 0, got {epoch}")
        if self.kind == "constant":
            return self.lr
        exponent = epoch // self.step_size if self.kind == "step" else epoch
        return self.lr * self.gamma**exponent

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lr": self.lr, "gamma": self.gamma, "step_size": self.step_size}


def global_norm(grads: Params) -> float:
    """``sqrt(sum of g**2 over every entry of every array)``, computed as ``m * sqrt(sum (g / m)**2)``
    with ``m = max |g|`` so that large finite gradients do not overflow; ``nan`` if any entry is not
    finite."""
    arrays = [np.asarray(g, dtype=np.float64) for g in grads.values()]
    if not all(np.all(np.isfinite(a)) for a in arrays):
        return math.nan
    peak = max((float(np.max(np.abs(a), initial=0.0)) for a in arrays), default=0.0)
    if peak == 0.0:
        return 0.0
    return peak * math.sqrt(sum(float(np.sum(np.square(a / peak))) for a in arrays))


def clip_global_norm(grads: Params, max_norm: float | None) -> tuple[Params, float]:
    """Scale all gradients by ``min(1, max_norm / norm)``; return them and the norm before clipping.

    ``max_norm=None`` disables clipping. A non-finite norm raises :class:`InputError` (never clipped away).
    """
    if max_norm is not None:
        raise_hyperparameter_violations([number_violation(
            "max_grad_norm", max_norm, 0, math.inf, lo_open=True, hint="e.g. 1.0, or None for no clipping")])
    norm = global_norm(grads)
    if not math.isfinite(norm):
        bad = next(name for name, g in grads.items() if not np.all(np.isfinite(g)))
        raise InputError(f"gradient of {bad!r} is not finite; training diverged (lower the learning rate)")
    if max_norm is None or norm <= max_norm:
        return {k: np.asarray(g, dtype=np.float64) for k, g in grads.items()}, norm
    scale = max_norm / norm
    return {k: np.asarray(g, dtype=np.float64) * scale for k, g in grads.items()}, norm
