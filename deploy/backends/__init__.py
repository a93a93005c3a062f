"""Backends behind one interface. ``get_backend(name)`` imports optional engines lazily."""

from __future__ import annotations

from deploy.backends.base import Backend
from hw_models.errors import SpikelineError

BACKENDS = ("sim", "xylosim", "samna")


def get_backend(name: str) -> Backend:
    """``sim`` (ours), ``xylosim`` (SynSense's engine) or ``samna`` (a dev kit)."""
    if name == "sim":
        from deploy.backends.sim import SimBackend

        return SimBackend()
    if name == "xylosim":
        from deploy.backends.xylosim import XylosimBackend

        return XylosimBackend()
    if name == "samna":
        from deploy.backends.samna import SamnaBackend

        return SamnaBackend()
    raise SpikelineError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
