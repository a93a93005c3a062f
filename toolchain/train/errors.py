"""Errors of the training package."""

from __future__ import annotations

import math

from hw_models.errors import ConfigError, SpikelineError, Violation


class HyperparameterError(ConfigError):
    """One or more training hyperparameters are invalid; carries every violation found."""

    def __init__(self, violations: list[Violation]):
        super().__init__(violations, source="hyperparameters")


class CheckpointError(SpikelineError):
    """A checkpoint file is missing, truncated, tampered with, foreign or of an unknown version."""


def number_violation(name: str, value: object, lo: float, hi: float, *, lo_open: bool = False,
                     hi_open: bool = False, hint: str = "") -> Violation | None:
    """A :class:`Violation` if ``value`` is not a finite number in the interval, else ``None``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    if ok:
        return None
    interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    return Violation(name, f"must be a number in {interval}, got {value!r}", value=repr(value),
                     limit=interval, hint=hint)


def raise_hyperparameter_violations(candidates: list[Violation | None]) -> None:
    """Raise :class:`HyperparameterError` with every non-``None`` violation, if any."""
    found = [v for v in candidates if v is not None]
    if found:
        raise HyperparameterError(found)
