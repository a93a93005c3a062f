"""``samna``: Xylo dev kits through SynSense's closed-source ``samna`` package, when it is installed.

Nothing here imports samna at module import time. The work is split in two:

* :func:`samna_fields` (pure, always available, tested): the field-by-field translation of a
  :class:`ChipConfig` into the nested structure of samna's ``XyloConfiguration`` for each chip
  (xylo.md §2.1): Xylo Audio 2 ``samna.xyloCore2`` (hidden population called ``reservoir``,
  ``ReservoirNeuron``), Xylo IMU ``samna.xyloImu`` and Xylo Audio 3 ``samna.xyloAudio3`` (``hidden``,
  ``HiddenNeuron``; only the first 128 hidden neurons take input weights and only the last 128 drive
  readouts). It fixes what rockpool's ``config_from_specification`` gets wrong (xylo.md §5): the hidden
  bias is written (``v_mem_bias``), an alias target 0 is kept, out-of-range values are rejected by our
  design rules before anything is cast.
* :func:`write_samna_configuration` (thin, needs samna): writes that structure into samna's objects.
  It is gated on what the installed samna actually offers rather than on a version number: every
  field it sets must exist on the samna object, otherwise it stops with an error naming the missing
  field (a samna release with another layout).

**Not tested on hardware.** No dev kit and no real samna are available where Spikeline is developed;
the mapping follows rockpool 3.1's samna calls line by line. :class:`SamnaBackend` builds, validates
(with samna's own ``validate_configuration``) and applies a configuration to a connected dev kit;
streaming a raster through the board (``evolve``) is not implemented yet and says so.

The ``samna`` on the public package index is a stub that tries to download the real package when it
is imported and fails offline. :func:`samna_status` recognises it from its installed files without
importing it (the real package ships a compiled extension; the stub does not).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from typing import Any

import numpy as np

from deploy.backends.base import Backend
from hw_models.chips import get_chip
from hw_models.config import ChipConfig
from hw_models.errors import BackendUnavailable, SpikelineError
from hw_models.rules import raise_if_invalid
from hw_models.simulator import Record, RecordMode

#: chip -> (samna submodule, name of the hidden population, hidden neuron class)
SAMNA_LAYOUT: dict[str, tuple[str, str, str]] = {
    "xylo-audio2": ("xyloCore2", "reservoir", "ReservoirNeuron"),
    "xylo-imu": ("xyloImu", "hidden", "HiddenNeuron"),
    "xylo-audio3": ("xyloAudio3", "hidden", "HiddenNeuron"),
}
#: samna submodule -> hidden neuron class
SAMNA_LAYOUT_BY_MODULE = {module: neuron for module, _, neuron in SAMNA_LAYOUT.values()}
#: samna device type names of the dev kits, per chip (as rockpool's ``find_xylo_hdks`` lists them)
DEVICE_TYPES: dict[str, tuple[str, ...]] = {
    "xylo-audio2": ("XyloDevKit", "XyloTestBoard", "XyloA2TestBoard"),
    "xylo-imu": ("XyloImuTestBoard",),
    "xylo-audio3": ("XyloAudio3TestBoard",),
}
INSTALL_HINT = ("the real samna comes from SynSense's distribution (see SynSense's samna/rockpool "
                "installation notes); the `samna` on the public package index is a stub that tries "
                "to download the real package when imported and fails offline")
BINARY_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")


# -- the pure mapping ---------------------------------------------------------------------------

def samna_fields(config: ChipConfig) -> dict[str, Any]:
    """samna's ``XyloConfiguration`` for ``config`` as a plain nested dict (JSON-serialisable).

    Keys: ``samna_module``; ``top`` (fields of the configuration object itself); ``debug``;
    ``input``, the hidden population (``reservoir`` on Audio 2, ``hidden`` otherwise) and ``readout``,
    each a dict of fields, the latter two with a ``neurons`` list of per-neuron field dicts.
    An enum value is written as ``{"enum": "<samna enum type>", "one_of": [member names, preferred
    first]}`` because its member names changed between samna releases.
    """
    if config.chip not in SAMNA_LAYOUT:
        raise SpikelineError(f"no samna configuration layout is known for chip {config.chip!r}; samna "
                             f"supports {', '.join(SAMNA_LAYOUT)}")
    raise_if_invalid(config)
    module, hidden, _ = SAMNA_LAYOUT[config.chip]
    spec = get_chip(config.chip)
    n_h = config.n_hidden
    ien = min(n_h, spec.input_window or n_h)
    oen = min(n_h, spec.output_window or n_h)
    two = (spec.n_synapses == 2 and config.n_synapses == 2
           and bool(np.any(config.weights_in[..., 1]) or np.any(config.weights_rec[..., 1])))
    bias = config.has_bias
    aliasing = any(config.aliases)

    def mat(a: np.ndarray) -> list[list[int]]:
        return a.astype(int).tolist()

    inp: dict[str, Any] = {"weights": mat(config.weights_in[:, :ien, 0]),
                           "weight_bit_shift": config.weight_shift_in}
    hid: dict[str, Any] = {"weights": mat(config.weights_rec[:, :, 0]),
                           "weight_bit_shift": config.weight_shift_rec, "aliasing": aliasing}
    if two:
        inp["syn2_weights"] = mat(config.weights_in[:, :ien, 1])
        hid["syn2_weights"] = mat(config.weights_rec[:, :, 1])
    neurons = []
    for i in range(n_h):
        n: dict[str, Any] = {"i_syn_decay": int(config.dash_syn[i]), "v_mem_decay": int(config.dash_mem[i]),
                             "threshold": int(config.threshold[i]), "v_mem_bias": int(config.bias[i])}
        if spec.n_synapses == 2:
            n["i_syn2_decay"] = int(config.dash_syn_2[i])
        if config.aliases and config.aliases[i]:
            n["alias_target"] = int(config.aliases[i][0])  # 0 is a valid target (rockpool drops it)
        neurons.append(n)
    hid["neurons"] = neurons
    readout = {"weights": mat(config.weights_out[n_h - oen:]), "weight_bit_shift": config.weight_shift_out,
               "neurons": [{"i_syn_decay": int(config.dash_syn_out[o]),
                            "v_mem_decay": int(config.dash_mem_out[o]),
                            "threshold": int(config.threshold_out[o]),
                            "v_mem_bias": int(config.bias_out[o])} for o in range(config.n_outputs)]}
    top: dict[str, Any] = {"bias_enable": bias}
    if config.chip == "xylo-audio2":
        top["synapse2_enable"] = two
        debug = {"isyn_clock_enable": True, "ra_clock_enable": True, "hm_clock_enable": True,
                 "ram_power_enable": True}
        if two:
            debug["isyn2_clock_enable"] = True
        if bias:
            debug["bias_clock_enable"] = True
    elif config.chip == "xylo-imu":
        top["imu_if_input_enable"] = False
        debug = {"always_update_omp_stat": True}
    else:  # xylo-audio3: spikes come from the host, not from the microphone front end
        top["synapse2_enable"] = two
        top["input_source"] = {"enum": "InputSource", "one_of": ["SpikeEvents", "Saer"]}
        debug = {"event_input_enable": True}
    return {"samna_module": module, "top": top, "debug": debug, "input": inp, hidden: hid,
            "readout": readout}


# -- samna installation status (never imports samna) ----------------------------------------------

@dataclass(frozen=True)
class SamnaStatus:
    installed: bool
    version: str | None = None
    location: str | None = None
    stub: bool = False
    detail: str = ""

    @property
    def usable(self) -> bool:
        return self.installed and not self.stub


def samna_status() -> SamnaStatus:
    """Is samna installed, and is it the real package or the public-index stub? Does not import it."""
    try:
        dist = importlib_metadata.distribution("samna")
    except importlib_metadata.PackageNotFoundError:
        spec = importlib.util.find_spec("samna")  # top-level lookup only: nothing is executed
        if spec is None:
            return SamnaStatus(False, detail="not installed")
        return SamnaStatus(True, location=str(spec.origin), detail="importable but without package "
                           "metadata; cannot tell the real samna from the stub")
    files = list(dist.files or [])
    location = str(dist.locate_file("samna"))
    binaries = [str(f) for f in files if f.suffix in BINARY_SUFFIXES or ".so." in f.name]
    if not files:
        return SamnaStatus(True, dist.version, location, detail="installed without a file list "
                           "(RECORD); cannot tell the real samna from the stub")
    if not binaries:
        return SamnaStatus(True, dist.version, location, stub=True,
                           detail=f"{len(files)} files and no compiled extension: this is the stub from "
                                  "the public package index, not SynSense's samna")
    return SamnaStatus(True, dist.version, location,
                       detail=f"compiled extension present ({binaries[0]})")


def import_samna():
    """Import the real samna, or raise :class:`BackendUnavailable` explaining how to get it."""
    status = samna_status()
    if not status.installed:
        raise BackendUnavailable(f"the samna backend needs SynSense's `samna` package, which is not "
                                 f"installed: {INSTALL_HINT}")
    if status.stub:
        raise BackendUnavailable(f"the installed samna {status.version} is the public-index stub "
                                 f"({status.detail}); run `pip uninstall samna` and install samna from "
                                 "SynSense's distribution")
    try:
        return importlib.import_module("samna")
    except Exception as exc:  # a broken samna can fail in arbitrary ways at import
        raise BackendUnavailable(f"`import samna` failed ({type(exc).__name__}: {exc}); {INSTALL_HINT}") \
            from None


# -- the thin layer that touches samna ------------------------------------------------------------

def _set(obj: Any, name: str, value: Any, where: str, resolve) -> None:
    if not hasattr(obj, name):
        raise BackendUnavailable(f"this samna's configuration has no field {where}.{name}; the installed "
                                 "samna release uses another layout than the one Spikeline writes "
                                 "(rockpool 3.1's)")
    setattr(obj, name, resolve(value, f"{where}.{name}"))


def write_samna_configuration(fields: dict[str, Any], samna) -> Any:
    """Build samna's ``XyloConfiguration`` from :func:`samna_fields` output."""
    module_name = fields["samna_module"]
    module = getattr(samna, module_name, None)
    cfg_mod = getattr(module, "configuration", None)
    if cfg_mod is None or not hasattr(cfg_mod, "XyloConfiguration"):
        raise BackendUnavailable(f"this samna has no samna.{module_name}.configuration.XyloConfiguration; "
                                 "it is too old or too new for this chip")
    hidden_key = next(k for k in ("reservoir", "hidden") if k in fields)
    neuron_classes = {hidden_key: SAMNA_LAYOUT_BY_MODULE[module_name], "readout": "OutputNeuron"}

    def resolve(value: Any, where: str) -> Any:
        if isinstance(value, dict) and "enum" in value:
            enum = getattr(module, value["enum"], None)
            for member in value["one_of"]:
                if enum is not None and hasattr(enum, member):
                    return getattr(enum, member)
            raise BackendUnavailable(f"{where}: samna.{module_name}.{value['enum']} has none of "
                                     f"{', '.join(value['one_of'])}")
        if isinstance(value, list) and value and isinstance(value[0], list):
            return np.asarray(value, dtype=np.int8)  # weight matrices, as rockpool passes them
        return value

    config = cfg_mod.XyloConfiguration()
    for name, value in fields["top"].items():
        _set(config, name, value, "configuration", resolve)
    for name, value in fields["debug"].items():
        _set(config.debug, name, value, "debug", resolve)
    for section in ("input", hidden_key, "readout"):
        target = getattr(config, section)
        for name, value in fields[section].items():
            if name == "neurons":
                cls = getattr(cfg_mod, neuron_classes[section])
                objs = []
                for i, spec in enumerate(value):
                    neuron = cls()
                    for k, v in spec.items():
                        _set(neuron, k, v, f"{section}.neurons[{i}]", resolve)
                    objs.append(neuron)
                target.neurons = objs
            else:
                _set(target, name, value, section, resolve)
    return config



def validate_with_samna(samna_config: Any, module_name: str, samna) -> None:
    """samna's own ``validate_configuration``; its message becomes a :class:`SpikelineError`."""
    ok, message = getattr(samna, module_name).validate_configuration(samna_config)
    if not ok:
        raise SpikelineError(f"samna rejects the configuration: {message}")


def connected_devices(samna) -> list[Any]:
    """Dev kits samna sees (opened or not)."""
    return list(samna.device.get_all_devices())


class SamnaBackend(Backend):
    """A Xylo dev kit. Needs the real samna and a connected board; untested on hardware (see module)."""

    name = "samna"

    def __init__(self):
        self._samna = import_samna()
        self.config: ChipConfig | None = None
        self.device = None

    def _open_device(self, chip: str):
        wanted = DEVICE_TYPES[chip]
        for info in connected_devices(self._samna):
            if getattr(info, "device_type_name", None) in wanted:
                return self._samna.device.open_device(info)
        raise BackendUnavailable(f"no {chip} dev kit is connected (looked for samna device types "
                                 f"{', '.join(wanted)}); plug the board in, or run `spikeline doctor`")

    def apply(self, config: ChipConfig) -> None:
        fields = samna_fields(config)
        samna_config = write_samna_configuration(fields, self._samna)
        validate_with_samna(samna_config, fields["samna_module"], self._samna)
        if self.device is None:
            self.device = self._open_device(config.chip)
        self.device.get_model().apply_configuration(samna_config)
        self.config = config

    def reset(self) -> None:
        raise BackendUnavailable("resetting a dev kit's neuron state through samna is not implemented "
                                 "in Spikeline yet (re-apply the configuration)")

    def evolve(self, raster, record: RecordMode = "all", clip_inputs: bool = False) -> Record:
        raise BackendUnavailable("running a raster on a dev kit (accelerated-time event streaming and "
                                 "state read-back through samna) is not implemented in Spikeline yet; "
                                 "the configuration was applied, use rockpool's XyloSamna to run it")
