"""Chip specifications: sizes, bit widths and limits of the Xylo family.

Every number comes from SynSense's own software (xylosim 0.1.3, rockpool 3.1.0); the sources are
listed in ``docs/chips.md``. A :class:`ChipSpec` is pure data: the design rules in
:mod:`hw_models.rules` read it, the simulator reads the arithmetic caps from it.

Users can declare a custom chip (for research networks larger than any real chip) with
:func:`custom_chip` and, if they want to refer to it by name in configuration files, :func:`register`.
A custom chip can also be declared in a JSON file (``spikeline.chip-spec/1``, :func:`load_chip_file`):
every command that takes a chip name takes the file's path too (:func:`get_chip`), and configurations
compiled for a custom chip carry its spec (``chip_spec``, docs/formats.md), so later commands need no file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hw_models.errors import ConfigError, SpikelineError, Violation


@dataclass(frozen=True)
class ChipSpec:
    """Static description of one Xylo-family chip (core arithmetic v2).

    Window semantics: ``input_window`` (IEN) is the number of *lowest-id* hidden neurons that can receive
    input weights; ``output_window`` (OEN) is the number of *highest-id* hidden neurons that can drive
    readout neurons. ``None`` means "all hidden neurons".
    """

    name: str
    part: str
    n_inputs: int
    n_hidden: int
    n_outputs: int
    n_synapses: int  # synaptic states per hidden neuron (1 or 2)
    max_fanout: int  # recurrent targets per hidden neuron
    max_recurrent_weights: int  # rows of the recurrent fan-out RAM in total
    input_window: int | None = None
    output_window: int | None = None
    has_bias: bool = True
    weight_bits: int = 8
    state_bits: int = 16  # i_syn, v_mem, threshold
    bias_bits: int = 8
    dash_bits: int = 4
    shift_bits: int = 4
    max_alias_targets: int = 1
    max_input_spikes: int = 15  # per channel per step (the chip clips beyond)
    max_hidden_spikes: int = 31  # per neuron per step, alias copies included
    max_output_spikes: int = 1  # per readout neuron per step
    custom: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    # -- derived ranges -------------------------------------------------------------------------
    @property
    def weight_range(self) -> tuple[int, int]:
        return signed_range(self.weight_bits)

    @property
    def state_range(self) -> tuple[int, int]:
        return signed_range(self.state_bits)

    @property
    def threshold_range(self) -> tuple[int, int]:
        return signed_range(self.state_bits)

    @property
    def bias_range(self) -> tuple[int, int]:
        return signed_range(self.bias_bits) if self.has_bias else (0, 0)

    @property
    def dash_range(self) -> tuple[int, int]:
        return 0, 2**self.dash_bits - 1

    @property
    def shift_range(self) -> tuple[int, int]:
        return 0, 2**self.shift_bits - 1

    def tau(self, dash: int, dt: float) -> float:
        """Time constant realised by a bit-shift decay: ``tau(dash) = -dt / ln(1 - 2**-dash)``."""
        return tau_from_dash(dash, dt)


def signed_range(bits: int) -> tuple[int, int]:
    """Range of a two's-complement integer of ``bits`` bits."""
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def tau_from_dash(dash: int, dt: float) -> float:
    """``tau(dash) = -dt / ln(1 - 2**-dash)``; dash 0 erases the state every step (tau = 0)."""
    if dash <= 0:
        return 0.0
    return -dt / math.log1p(-(2.0**-dash))


XYLO_AUDIO2 = ChipSpec(
    name="xylo-audio2",
    part="SYNS61201",
    n_inputs=16,
    n_hidden=1000,
    n_outputs=8,
    n_synapses=2,
    max_fanout=64,
    max_recurrent_weights=32000,
)

XYLO_IMU = ChipSpec(
    name="xylo-imu",
    part="SYNS63300",
    n_inputs=16,
    n_hidden=496,
    n_outputs=16,
    n_synapses=1,
    max_fanout=512,
    max_recurrent_weights=31744,
    input_window=128,
    output_window=128,
)

XYLO_AUDIO3 = ChipSpec(
    name="xylo-audio3",
    part="SYNS65302",
    n_inputs=16,
    n_hidden=992,
    n_outputs=32,
    n_synapses=2,
    max_fanout=1024,
    max_recurrent_weights=31744,
    input_window=128,
    output_window=128,
    notes=("rockpool's mapper warns above 16 outputs; the RAM map holds 32",),
)

_REGISTRY: dict[str, ChipSpec] = {c.name: c for c in (XYLO_AUDIO2, XYLO_IMU, XYLO_AUDIO3)}
_ALIASES = {"syns61201": "xylo-audio2", "syns63300": "xylo-imu", "syns65302": "xylo-audio3"}


def custom_chip(
    name: str,
    *,
    n_hidden: int,
    n_inputs: int = 16,
    n_outputs: int = 8,
    n_synapses: int = 2,
    max_fanout: int | None = None,
    max_recurrent_weights: int | None = None,
    base: ChipSpec = XYLO_AUDIO2,
    **overrides,
) -> ChipSpec:
    """A chip with the Xylo v2 arithmetic of ``base`` but other sizes (for research networks).

    Unset fan-out and recurrent-RAM limits default to "every hidden neuron may reach every other".
    """
    if n_hidden < 1 or n_inputs < 1 or n_outputs < 1 or n_synapses not in (1, 2):
        raise SpikelineError(
            f"custom chip {name!r}: sizes must be positive and n_synapses 1 or 2 "
            f"(got n_hidden={n_hidden}, n_inputs={n_inputs}, n_outputs={n_outputs}, "
            f"n_synapses={n_synapses})"
        )
    return replace(
        base,
        name=name,
        part="custom",
        n_inputs=n_inputs,
        n_hidden=n_hidden,
        n_outputs=n_outputs,
        n_synapses=n_synapses,
        max_fanout=max_fanout if max_fanout is not None else n_hidden,
        max_recurrent_weights=(
            max_recurrent_weights if max_recurrent_weights is not None else n_hidden * n_hidden
        ),
        custom=True,
        **overrides,
    )


def register(chip: ChipSpec) -> ChipSpec:
    """Make ``chip`` available by name (e.g. in configuration files)."""
    if chip.name in _REGISTRY and _REGISTRY[chip.name] != chip:
        raise SpikelineError(f"a different chip is already registered as {chip.name!r}")
    _REGISTRY[chip.name] = chip
    return chip


def chip_names() -> list[str]:
    return sorted(_REGISTRY)


def get_chip(name: str | ChipSpec) -> ChipSpec:
    """Look a chip up by name (``xylo-audio2``), part number (``SYNS61201``) or pass a spec through; a name
    ending in ``.json`` is a chip file (:func:`load_chip_file`), loaded and registered."""
    if isinstance(name, ChipSpec):
        return name
    if str(name).strip().lower().endswith(".json"):
        return load_chip_file(name)
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise SpikelineError(
            f"unknown chip {name!r}; known chips: {', '.join(chip_names())} "
            "(declare others with hw_models.chips.custom_chip + register)"
        )
    return _REGISTRY[key]


# -- chip files: spikeline.chip-spec/1 -------------------------------------------------------------------
SPEC_FORMAT = "spikeline.chip-spec/1"
#: the fields a chip file may set (all of ChipSpec but the derived ``part``/``custom``), plus format and base
SPEC_FIELDS = tuple(f.name for f in fields(ChipSpec) if f.name not in ("part", "custom"))


def spec_to_dict(chip: ChipSpec) -> dict[str, Any]:
    """The complete, self-contained JSON document of a custom chip (every field, no ``base``)."""
    doc = {k: v for k, v in asdict(chip).items() if k in SPEC_FIELDS}
    doc["notes"] = list(chip.notes)
    return {"format": SPEC_FORMAT, **doc}


def spec_from_dict(doc: Any, source: str | None = None) -> ChipSpec:
    """Decode a chip document: ``name``, ``n_hidden`` and any other :class:`ChipSpec` field, starting from the
    registered chip ``base`` (default ``xylo-audio2``: Xylo v2 arithmetic). Every problem is reported at once."""
    if not isinstance(doc, dict):
        raise ConfigError([Violation("chip_spec", "a chip file must hold a JSON object")], source)
    problems = []
    if doc.get("format") != SPEC_FORMAT:
        problems.append(Violation("format", f"must be {SPEC_FORMAT!r}", value=str(doc.get("format"))))
    for key in sorted(set(doc) - {"format", "base", *SPEC_FIELDS}):
        problems.append(Violation(key, "unknown field", hint=f"known: base, {', '.join(SPEC_FIELDS)}"))
    if not isinstance(doc.get("name"), str) or not doc.get("name", "").strip() or \
            str(doc.get("name")).lower().endswith(".json"):
        problems.append(Violation("name", "must name the chip (not a file), e.g. 'mnist-196'"))
    if "n_hidden" not in doc:
        problems.append(Violation("n_hidden", "is required (hidden neurons of the chip)"))
    base_name = doc.get("base", XYLO_AUDIO2.name)
    base = _REGISTRY.get(str(base_name).lower()) if isinstance(base_name, str) else None
    if base is None:
        problems.append(Violation("base", f"must name a registered chip, got {base_name!r}",
                                  hint=f"one of {', '.join(chip_names())}"))
    ints = {k: v for k, v in doc.items() if k in SPEC_FIELDS and k not in ("name", "notes", "has_bias")}
    for key, value in ints.items():
        optional = key in ("input_window", "output_window")
        if not ((isinstance(value, int) and not isinstance(value, bool) and value >= 0) or
                (optional and value is None)):
            problems.append(Violation(key, f"must be a whole number >= 0{' or null' if optional else ''}",
                                      value=repr(value)))
    if "has_bias" in doc and not isinstance(doc["has_bias"], bool):
        problems.append(Violation("has_bias", "must be true or false", value=repr(doc["has_bias"])))
    notes = doc.get("notes", [])
    if not (isinstance(notes, list) and all(isinstance(n, str) for n in notes)):
        problems.append(Violation("notes", "must be a list of strings"))
    if problems:
        raise ConfigError(problems, source)
    sizes = {k: ints.pop(k) for k in ("n_hidden", "n_inputs", "n_outputs", "n_synapses", "max_fanout",
                                      "max_recurrent_weights") if k in ints}
    extra = {**ints, **({"has_bias": doc["has_bias"]} if "has_bias" in doc else {}), "notes": tuple(notes)}
    try:
        return custom_chip(doc["name"].strip().lower(), base=base, **sizes, **extra)
    except SpikelineError as exc:
        raise ConfigError([Violation("chip_spec", str(exc))], source) from None


def load_chip_file(path: str | os.PathLike) -> ChipSpec:
    """Read a ``spikeline.chip-spec/1`` file and register the chip it declares (the same name with another
    spec is refused)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([Violation("file", f"cannot read the chip file: {exc.strerror or exc}")], str(p)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([Violation("file", f"not valid JSON: {exc}")], str(p)) from None
    spec = spec_from_dict(doc, str(p))
    try:
        return register(spec)
    except SpikelineError as exc:
        raise ConfigError([Violation("name", str(exc), hint="give the new chip another name")], str(p)) from None
