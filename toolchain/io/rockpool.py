"""Rockpool in and out: Xylo specifications (integer space) and rockpool models (float space).

rockpool is AGPL-3.0 and an optional extra: no Spikeline module imports it. Specifications are plain JSON,
and :func:`network_from_module` reads a rockpool model by its modules' class names and attributes.

**Specification** (``spikeline export CONFIG.json --format rockpool``): a JSON object whose keys are
exactly the keyword arguments of ``XyloSim.from_specification`` of rockpool's Xylo Audio 2, IMU and Audio 3
packages (:data:`SPEC_KEYS`), every one written (``from_specification`` defaults omitted dashes and
thresholds to 0, unlike Spikeline's defaults), so ``XyloSim.from_specification(**spec)`` runs the very
configuration ``spikeline sim`` runs. ``weights_in``/``weights_rec`` are ``(N, N_hidden, S)``. Import
(``spikeline import spec.json --format rockpool --chip C``) is the reverse: missing keys take
``from_specification``'s defaults, ``mapped_graph`` (what rockpool's ``mapper`` adds) is dropped, and the
result is checked by the chip's design rules.

**Models** (:func:`network_from_module`): a rockpool ``Sequential`` of ``Linear``/``LinearTorch`` and
``LIF``/``LIFTorch`` (recurrent with ``has_rec``; ``leak_mode`` taus, decays or bitshifts) becomes a float
:class:`~toolchain.network.Network`. rockpool steps ``i += x; i *= exp(-dt/tau_syn); v = v exp(-dt/tau_mem)
+ i``, spikes ``floor(v/theta)``, ``v -= spikes * theta``: the right-endpoint Riemann sum of our model with a
current unit of ``1/dt`` (docs/compiler.md), hence the reverse mapping

    W = w / dt,   theta = threshold,   tau = tau  (decays: -dt / ln(decay); bitshifts: -dt / ln(1 - 2**-dash))

with hop delays 0 (``Sequential`` passes spikes on in the same step) and a recurrent delay of ``dt`` (a
recurrent spike acts in the next step).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.atomic import atomic_write_text
from hw_models.config import ChipConfig
from hw_models.rules import raise_if_invalid
from toolchain.io import FormatError, refuse_options
from toolchain.network import Network

#: the keyword arguments of ``XyloSim.from_specification`` (rockpool 3.1, syns61201/63300/65302)
SPEC_KEYS = ("weights_in", "weights_out", "weights_rec", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2",
             "dash_syn_out", "threshold", "threshold_out", "bias", "bias_out", "weight_shift_in",
             "weight_shift_rec", "weight_shift_out", "aliases", "dt")
#: what rockpool's mapper adds to a specification and XyloSim does not take
IGNORED_KEYS = ("mapped_graph",)
#: ``XyloSim.from_specification``'s defaults for omitted keys (per-neuron zeros)
_ZERO_DEFAULTS = ("dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2", "dash_syn_out", "threshold",
                  "threshold_out", "bias", "bias_out")
ROCKPOOL_DEFAULT_DT = 1e-3


# -- specifications -----------------------------------------------------------------------------------
def to_spec(config: ChipConfig) -> dict[str, Any]:
    """``XyloSim.from_specification`` keyword arguments (numpy integer arrays) for ``config``."""
    spec: dict[str, Any] = {name: np.array(getattr(config, name), np.int64) for name in SPEC_KEYS
                            if name not in ("aliases", "dt") and not name.startswith("weight_shift")}
    for name in ("weight_shift_in", "weight_shift_rec", "weight_shift_out"):
        spec[name] = int(getattr(config, name))
    spec["aliases"] = [list(map(int, a)) for a in config.aliases] or [[] for _ in range(config.n_hidden)]
    spec["dt"] = float(config.dt)
    return spec


def export(source, out: Path, **options) -> Path:
    """Write ``source`` (a :class:`ChipConfig`) as a rockpool specification JSON, atomically."""
    refuse_options(options, (), "rockpool export")
    if not isinstance(source, ChipConfig):
        raise FormatError("a rockpool specification holds a chip configuration (config.json); compile the "
                          "network first (spikeline compile), or export the network with --format nir")
    spec = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in to_spec(source).items()}
    return atomic_write_text(out, json.dumps(spec, separators=(",", ":")) + "\n")


def from_spec(spec: dict[str, Any], chip: str) -> ChipConfig:
    """A :class:`ChipConfig` for ``chip`` from a rockpool specification dict (arrays or nested lists),
    checked by the chip's design rules."""
    if not isinstance(spec, dict):
        raise FormatError("a rockpool specification must be a JSON object of XyloSim.from_specification's "
                          "keyword arguments")
    unknown = sorted(set(spec) - set(SPEC_KEYS) - set(IGNORED_KEYS))
    if unknown:
        raise FormatError(f"unknown specification keys {unknown}: a rockpool specification holds only "
                          f"{', '.join(SPEC_KEYS)}")
    for key in ("weights_in", "weights_out"):
        if spec.get(key) is None:
            raise FormatError(f"the specification has no {key!r}; XyloSim.from_specification requires it")
    fields = {k: v for k, v in spec.items() if k in SPEC_KEYS and v is not None}
    w_in = np.asarray(fields.pop("weights_in"))
    w_out = np.asarray(fields.pop("weights_out"))
    if w_in.ndim not in (2, 3) or w_out.ndim != 2:
        raise FormatError(f"weights_in must be (N_in, N_hidden[, S]) and weights_out (N_hidden, N_out); got "
                          f"{w_in.shape} and {w_out.shape}")
    n_h, n_o = w_in.shape[1], w_out.shape[1]
    for key in _ZERO_DEFAULTS:
        fields.setdefault(key, np.zeros(n_o if key.endswith("_out") else n_h, np.int64))
    dt = float(fields.pop("dt", ROCKPOOL_DEFAULT_DT))
    if not (math.isfinite(dt) and dt > 0):
        raise FormatError(f"dt must be a positive number of seconds, got {dt!r}")
    config = ChipConfig.create(chip, dt, w_in, w_out, fields.pop("threshold"), fields.pop("threshold_out"),
                               weights_rec=fields.pop("weights_rec", None), aliases=fields.pop("aliases", None),
                               provenance={"imported_from": "rockpool specification"}, **fields)
    raise_if_invalid(config)
    return config


def import_file(path: Path, chip: str | None = None, **options) -> ChipConfig:
    """Read a rockpool specification JSON for ``chip`` (required: the specification does not name it)."""
    if options:
        raise FormatError(f"{', '.join('--' + k for k in sorted(options))}: not an option of the rockpool format "
                          "(a specification carries its own dt)")
    if not chip:
        raise FormatError("a rockpool specification does not say which chip it is for: pass --chip "
                          "(xylo-audio2, xylo-imu or xylo-audio3)")
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise FormatError(f"{path}: not valid JSON ({exc})") from None
    return from_spec(spec, chip)


# -- models -------------------------------------------------------------------------------------------
def _values(x, n: int | None = None) -> np.ndarray:
    """A rockpool parameter (torch tensor, numpy array, number) as a float64 array, broadcast to (n,)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, np.float64)
    return a if n is None else np.broadcast_to(a.reshape(-1) if a.size == n else a, (n,)).astype(np.float64)


def _neuron_taus(mod, n: int, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(tau_syn, tau_mem) of a LIF module in any ``leak_mode``."""
    mode = getattr(mod, "leak_mode", "taus")
    if mode == "taus":
        return _values(mod.tau_syn, n), _values(mod.tau_mem, n)
    if mode == "decays":  # rockpool: alpha = exp(-dt/tau_mem) (membrane), beta = exp(-dt/tau_syn)
        return -dt / np.log(_values(mod.beta, n)), -dt / np.log(_values(mod.alpha, n))
    if mode == "bitshifts":
        return (-dt / np.log1p(-(2.0 ** -_values(mod.dash_syn, n))),
                -dt / np.log1p(-(2.0 ** -_values(mod.dash_mem, n))))
    raise FormatError(f"{type(mod).__name__}: unknown leak_mode {mode!r}")


def network_from_module(module, dt: float | None = None) -> Network:
    """A float :class:`Network` from a rockpool ``Sequential`` of Linear and LIF modules (module docstring)."""
    layers = list(module.modules().values()) if hasattr(module, "modules") else [module]
    weights, taus_s, taus_m, thresholds, recurrent = [], [], [], [], []
    pending = None
    for mod in layers:
        name = type(mod).__name__
        if name in ("Linear", "LinearTorch"):
            if pending is not None:
                raise FormatError(f"{name}: two weight layers in a row; put a LIF layer between them")
            if getattr(mod, "bias", None) is not None and np.any(_values(mod.bias) != 0):
                raise FormatError(f"{name}: non-zero biases are not supported (Spikeline neurons have no "
                                  "constant input); build it with has_bias=False")
            pending = _values(mod.weight)
        elif name in ("LIF", "LIFTorch"):
            if pending is None:
                raise FormatError(f"{name}: every LIF layer must be fed by a Linear layer")
            n = int(mod.size_out)
            if int(getattr(mod, "n_synapses", 1)) != 1 or int(mod.size_in) != n:
                raise FormatError(f"{name}: {mod.n_synapses} synapses per neuron; a Spikeline neuron has one "
                                  "synaptic current (build the layer with one synapse)")
            if np.any(_values(mod.bias, n) != 0):
                raise FormatError(f"{name}: non-zero bias is not supported (Spikeline neurons rest at 0)")
            mdt = float(_values(mod.dt)) if dt is None else float(dt)
            dt = mdt if dt is None else dt
            if abs(mdt - dt) > 1e-15:
                raise FormatError(f"{name}: dt = {mdt:g} s differs from the other layers' {dt:g} s")
            ts, tm = _neuron_taus(mod, n, dt)
            weights.append(pending / dt)
            taus_s.append(ts)
            taus_m.append(tm)
            thresholds.append(_values(mod.threshold, n))
            recurrent.append(_values(mod.w_rec).reshape(n, n) / dt if bool(getattr(mod, "_has_rec", False)) else None)
            pending = None
        else:
            raise FormatError(f"{name}: not supported in a rockpool model import (supported: Linear, "
                              "LinearTorch, LIF, LIFTorch in a Sequential)")
    if pending is not None or not weights:
        raise FormatError("the model must end with a LIF layer (the readout)")
    if recurrent[-1] is not None:
        raise FormatError("a recurrent readout layer is not supported")
    return Network.create(weights, taus_s, taus_m, thresholds, recurrent[:-1], delays=0.0,
                          recurrent_delays=dt, readout="spiking", dt=dt,
                          metadata={"imported_from": "rockpool", "module": type(module).__name__})
