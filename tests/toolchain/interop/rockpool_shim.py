"""Import rockpool's Xylo packages without samna, for tests only.

``import rockpool.devices.xylo`` imports, unguarded, two modules that need SynSense's closed-source
``samna`` (Audio 3's PDM front end and the IMU power model); the simulator, mapper and quantizers need
neither. This registers empty stand-ins for exactly those two modules while rockpool is imported, so the
oracle (``XyloSim``, backed by xylosim) loads. The product never uses it (docs/interop.md says what a user
does instead).
"""

from __future__ import annotations

import importlib
import sys
import types

SAMNA_ONLY_MODULES = ("rockpool.devices.xylo.syns65302.afe_samna_pdm",
                      "rockpool.devices.xylo.syns63300.power_cycles_model")


def import_xylo():
    """``rockpool.devices.xylo`` with the samna-only modules stubbed when samna is absent."""
    try:
        import samna  # noqa: F401
    except ImportError:
        for name in SAMNA_ONLY_MODULES:
            if name not in sys.modules:
                stub = types.ModuleType(name)
                stub.__all__ = []
                sys.modules[name] = stub
    return importlib.import_module("rockpool.devices.xylo")


def xylosim_class(chip: str):
    """rockpool's ``XyloSim`` for a Spikeline chip name."""
    xylo = import_xylo()
    return {"xylo-audio2": xylo.syns61201.XyloSim, "xylo-imu": xylo.syns63300.XyloSim,
            "xylo-audio3": xylo.syns65302.XyloSim}[chip]
