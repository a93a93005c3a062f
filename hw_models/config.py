"""Chip configuration: the integer network a Xylo chip runs, and its JSON codec.

Field names follow rockpool's specification (``weights_in``, ``dash_mem``, ...). In memory every
matrix is normalised to one shape so the simulator never branches on it:

    weights_in   (N_in, N_hidden, S)    S = synapses per hidden neuron (1 or 2)
    weights_rec  (N_hidden, N_hidden, S)
    weights_out  (N_hidden, N_out)

Values are held as int64 *exactly as given*: nothing is clipped or wrapped here. Whether they fit a
chip is decided by :func:`hw_models.rules.check`, which collects every violation.

The JSON format (``"format": "spikeline.chip-config/2"``) is documented in ``docs/formats.md``;
version 1 files (which spelled the second synaptic dash ``dash_syn2``) still load.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.atomic import atomic_write_text
from hw_models.errors import ConfigError, SpikelineError, Violation
from hw_models.files import JSON_KINDS, json_kind, parse_json, read_bytes

FORMAT = "spikeline.chip-config/2"
#: Older versions that still load, and the field names they spelled differently.
LEGACY_FORMATS: dict[str, dict[str, str]] = {"spikeline.chip-config/1": {"dash_syn2": "dash_syn_2"}}

#: Per-hidden-neuron fields and their defaults when missing from a file.
HIDDEN_VECTORS: dict[str, int | None] = {
    "dash_mem": 1,
    "dash_syn": 1,
    "dash_syn_2": 1,  # when missing: a copy of dash_syn
    "threshold": None,  # required
    "bias": 0,
}
#: Per-readout-neuron fields and their defaults.
OUTPUT_VECTORS: dict[str, int | None] = {
    "dash_mem_out": 1,
    "dash_syn_out": 1,
    "threshold_out": None,  # required
    "bias_out": 0,
}
SHIFTS = ("weight_shift_in", "weight_shift_rec", "weight_shift_out")
MATRICES = ("weights_in", "weights_rec", "weights_out")
KNOWN_FIELDS = {"format", "chip", "dt", "aliases", "provenance", "chip_spec", *MATRICES, *SHIFTS, *HIDDEN_VECTORS,
                *OUTPUT_VECTORS}


@dataclass(eq=False)
class ChipConfig:
    """An integer Xylo network. Build with :meth:`create` (normalises shapes) or load from JSON."""

    chip: str
    dt: float
    weights_in: np.ndarray
    weights_rec: np.ndarray
    weights_out: np.ndarray
    threshold: np.ndarray
    threshold_out: np.ndarray
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    dash_syn_2: np.ndarray
    bias: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn_out: np.ndarray
    bias_out: np.ndarray
    weight_shift_in: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0
    aliases: list[list[int]] = field(default_factory=list)
    #: Where the configuration came from (``network_sha256``, ``compile`` settings, ``spikeline``
    #: version, ...): a JSON object, recorded by the compiler, not part of what the chip runs.
    provenance: dict[str, Any] = field(default_factory=dict)
    #: The ``spikeline.chip-spec/1`` document of a custom chip (:func:`hw_models.chips.spec_to_dict`), so that the
    #: configuration runs in any process; loading it registers the chip. ``None`` for the built-in chips.
    chip_spec: dict[str, Any] | None = None

    # -- sizes ------------------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return self.weights_in.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.weights_in.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.weights_out.shape[1]

    @property
    def n_synapses(self) -> int:
        return self.weights_in.shape[2]

    @property
    def has_bias(self) -> bool:
        """The chip's global bias enable: on iff any bias is non-zero."""
        return bool(np.any(self.bias) or np.any(self.bias_out))

    @property
    def dash_syns(self) -> np.ndarray:
        """(N_hidden, S) synaptic dashes, synapse k in column k."""
        return np.stack([self.dash_syn, self.dash_syn_2], axis=1)[:, : self.n_synapses]

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def create(cls, chip: str, dt: float, weights_in, weights_out, threshold, threshold_out,
               weights_rec=None, aliases=None, **fields: Any) -> ChipConfig:
        """Build a configuration from array-likes; omitted fields take the documented defaults.

        ``weights_in``/``weights_rec`` may be 2-D (one synapse) or 3-D (last axis = synapse). Per-neuron
        fields may be scalars (broadcast). Raises :class:`ConfigError` listing every shape problem.
        """
        raw = {"chip": chip, "dt": dt, "weights_in": weights_in, "weights_out": weights_out,
               "threshold": threshold, "threshold_out": threshold_out, **fields}
        if weights_rec is not None:
            raw["weights_rec"] = weights_rec
        if aliases is not None:
            raw["aliases"] = aliases
        return _from_mapping(raw, source=None, require_format=False)

    def copy(self) -> ChipConfig:
        return ChipConfig(**{k: (v.copy() if isinstance(v, np.ndarray) else
                                 [list(a) for a in v] if k == "aliases" else
                                 json.loads(json.dumps(v)) if k in ("provenance", "chip_spec") else v)
                             for k, v in self.__dict__.items()})

    def __eq__(self, other: object) -> bool:
        """Equal when the chip would run the same network (the provenance is not compared)."""
        if not isinstance(other, ChipConfig):
            return NotImplemented
        for k, v in self.__dict__.items():
            if k == "provenance":
                continue
            w = other.__dict__[k]
            if isinstance(v, np.ndarray):
                if v.shape != w.shape or not np.array_equal(v, w):
                    return False
            elif v != w:
                return False
        return True

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON document (2-D matrices when one synapse is used, 3-D otherwise)."""

        def mat(a: np.ndarray) -> list:
            return (a[..., 0] if a.shape[-1] == 1 else a).tolist()

        d: dict[str, Any] = {"format": FORMAT, "chip": self.chip, "dt": self.dt,
                             "weights_in": mat(self.weights_in),
                             "weights_rec": mat(self.weights_rec),
                             "weights_out": self.weights_out.tolist()}
        for name in SHIFTS:
            d[name] = int(getattr(self, name))
        for name in (*HIDDEN_VECTORS, *OUTPUT_VECTORS):
            d[name] = getattr(self, name).tolist()
        d["aliases"] = [list(map(int, a)) for a in self.aliases]
        if self.provenance:
            d["provenance"] = self.provenance
        if self.chip_spec is not None:
            d["chip_spec"] = self.chip_spec
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the configuration atomically as JSON."""
        return atomic_write_text(path, self.to_json() + "\n")


def from_dict(doc: Any, source: str | None = None) -> ChipConfig:
    """Decode a JSON document; raises :class:`ConfigError` with every structural problem."""
    return _from_mapping(doc, source=source, require_format=True)


CONFIG_FIX = "write the file with `ChipConfig.save` or `spikeline compile`"


def _config_error(source: str | None) -> Callable[[str], ConfigError]:
    return lambda message: ConfigError([Violation("file", message)], source)


def from_json(text: str | bytes, source: str | None = None) -> ChipConfig:
    data = text.encode("utf-8") if isinstance(text, str) else text
    doc = parse_json(data, "a chip configuration", CONFIG_FIX, _config_error(source))
    kind = json_kind(doc)
    if kind is not None and kind != JSON_KINDS["spikeline.chip-config/"]:
        raise ConfigError([Violation("file", f"this is {kind}, not a chip configuration; {CONFIG_FIX}")],
                          source)
    return from_dict(doc, source)


def load_config(path: str | os.PathLike, chip=None, validate: bool = True) -> ChipConfig:
    """Load a configuration file; with ``validate`` also apply the chip's design rules."""
    p = Path(path)
    config = from_json(read_bytes(p, "chip configuration", _config_error(str(p))), source=str(p))
    if validate:
        from hw_models.rules import raise_if_invalid

        raise_if_invalid(config, chip, source=str(p))
    return config


# ------------------------------------------------------------------------------------------------
# decoding helpers: every problem becomes a Violation, nothing is coerced silently
# ------------------------------------------------------------------------------------------------

def _int_array(name: str, value: Any, problems: list[Violation]) -> np.ndarray | None:
    """Nested lists of JSON integers -> int64 array; ``None`` (and a Violation) if anything is off."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        return value.astype(np.int64)
    if isinstance(value, np.ndarray) and value.dtype.kind == "b":
        problems.append(Violation(name, "must hold integers, got booleans"))
        return None
    try:
        obj = np.array(value, dtype=object)
    except (ValueError, TypeError) as exc:  # pragma: no cover - numpy-version dependent
        problems.append(Violation(name, f"is not a rectangular array ({exc})"))
        return None
    flat = obj.ravel()
    kinds = {type(x) for x in flat}
    if kinds <= {int, np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16, np.uint32}:
        try:
            return obj.astype(np.int64) if obj.size else np.zeros(obj.shape, np.int64)
        except OverflowError:
            problems.append(Violation(name, "holds an integer too large for any chip field"))
            return None
    for pos, x in enumerate(flat):
        if type(x) in (list, tuple, dict):
            problems.append(Violation(name, "is ragged or nested wrongly (rows of unequal length "
                                            "or mixed depths)",
                                      index=tuple(int(i) for i in np.unravel_index(pos, obj.shape)),
                                      hint="every row must have the same length"))
            return None
        if not isinstance(x, (int, np.integer)) or isinstance(x, bool):
            idx = tuple(int(i) for i in np.unravel_index(pos, obj.shape)) if obj.ndim else None
            shown = x if isinstance(x, (int, float, str, bool)) or x is None else type(x).__name__
            problems.append(Violation(name, f"must hold integers, found {shown!r}", index=idx,
                                      value=shown if not isinstance(x, float) or math.isfinite(x)
                                      else str(x),
                                      hint="the chip stores integers; quantize with "
                                           "`spikeline compile`"))
            return None
    return None  # pragma: no cover


def _from_mapping(doc: Any, source: str | None, require_format: bool) -> ChipConfig:
    problems: list[Violation] = []
    if not isinstance(doc, dict):
        raise ConfigError([Violation("file", f"must be a JSON object, got {type(doc).__name__}")],
                          source)
    fmt = doc.get("format")
    fmt = fmt if isinstance(fmt, str) or fmt is None else repr(fmt)
    if require_format and fmt != FORMAT and fmt not in LEGACY_FORMATS:
        problems.append(Violation("format", f"must be {FORMAT!r}, got {fmt!r}", value=str(fmt),
                                  hint="this file is not a Spikeline chip configuration, or it is "
                                       "from another format version"))
    renamed = LEGACY_FORMATS.get(fmt, {})
    if renamed:
        doc = {renamed.get(k, k): v for k, v in doc.items()}
        if "provenance" in doc:
            problems.append(Violation("provenance", f"is not part of format {fmt!r}",
                                      hint=f"recompile to write {FORMAT!r}"))
    for key in doc:
        if key not in KNOWN_FIELDS:
            problems.append(Violation(str(key), "unknown field",
                                      hint=f"known fields: {', '.join(sorted(KNOWN_FIELDS))}"))
    provenance = doc.get("provenance", {})
    if not isinstance(provenance, dict):
        problems.append(Violation("provenance", f"must be a JSON object, got {type(provenance).__name__}"))
    chip = doc.get("chip")
    if not isinstance(chip, str) or not chip:
        problems.append(Violation("chip", "must name a chip, e.g. 'xylo-audio2'"))
    chip_spec = doc.get("chip_spec")
    if chip_spec is not None:
        problems.extend(_register_chip_spec(chip_spec, chip, source))
    dt = doc.get("dt")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        problems.append(Violation("dt", f"must be a positive number of seconds, got {dt!r}",
                                  value=str(dt)))
    for name in ("weights_in", "weights_out", "threshold", "threshold_out"):
        if name not in doc:
            problems.append(Violation(name, "is required"))

    arrays = {name: _int_array(name, doc[name], problems)
              for name in (*MATRICES, *HIDDEN_VECTORS, *OUTPUT_VECTORS) if name in doc}
    shifts = {}
    for name in SHIFTS:
        v = doc.get(name, 0)
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            shifts[name] = int(v)
        else:
            problems.append(Violation(name, f"must be an integer, got {v!r}", value=str(v)))
    if problems:
        raise ConfigError(problems, source)

    # -- shapes -----------------------------------------------------------------------------------
    w_in = arrays["weights_in"]
    if w_in.ndim == 2:
        w_in = w_in[:, :, None]
    if w_in.ndim != 3 or w_in.shape[0] < 1 or w_in.shape[1] < 1 or w_in.shape[2] not in (1, 2):
        raise ConfigError([Violation("weights_in", f"must be [N_in][N_hidden] or "
                                     f"[N_in][N_hidden][2] with N_in, N_hidden >= 1; "
                                     f"got shape {list(arrays['weights_in'].shape)}")], source)
    n_in, n_h, n_syn = w_in.shape
    w_rec = arrays.get("weights_rec")
    if w_rec is None:
        w_rec = np.zeros((n_h, n_h, n_syn), np.int64)
    elif w_rec.ndim == 2:
        w_rec = w_rec[:, :, None]
    if w_rec.ndim != 3 or w_rec.shape[:2] != (n_h, n_h) or w_rec.shape[2] not in (1, 2):
        problems.append(Violation("weights_rec", f"must be [{n_h}][{n_h}] or [{n_h}][{n_h}][2] "
                                  f"(N_hidden = {n_h} from weights_in); got shape "
                                  f"{list(arrays['weights_rec'].shape)}"))
    else:
        n_syn = max(n_syn, w_rec.shape[2])
    w_out = arrays["weights_out"]
    if w_out.ndim != 2 or w_out.shape[0] != n_h:
        problems.append(Violation("weights_out", f"must be [{n_h}][N_out] (N_hidden = {n_h} from "
                                  f"weights_in); got shape {list(w_out.shape)}"))
    n_out = w_out.shape[1] if w_out.ndim == 2 else 0

    vectors = {}
    for names, n, what in ((HIDDEN_VECTORS, n_h, "hidden"), (OUTPUT_VECTORS, n_out, "readout")):
        for name, default in names.items():
            a = arrays.get(name)
            if a is None:
                a = np.full(n, default, np.int64)
            elif a.ndim == 0:
                a = np.full(n, int(a), np.int64)
            elif a.shape != (n,):
                problems.append(Violation(name, f"must be a number or a list of {n} values (one per "
                                          f"{what} neuron); got shape {list(a.shape)}"))
            vectors[name] = a
    if "dash_syn_2" not in doc:
        vectors["dash_syn_2"] = vectors["dash_syn"].copy()

    aliases_raw = doc.get("aliases", [])
    aliases: list[list[int]] = []
    if aliases_raw is None:
        aliases_raw = []
    if not isinstance(aliases_raw, list) or (aliases_raw and len(aliases_raw) != n_h):
        problems.append(Violation("aliases", f"must be a list of {n_h} target-id lists (one per "
                                  "hidden neuron), or empty"))
    else:
        for i, targets in enumerate(aliases_raw):
            if targets is None:
                targets = []
            if not isinstance(targets, list) or any(
                    not isinstance(t, (int, np.integer)) or isinstance(t, bool) for t in targets):
                problems.append(Violation("aliases", "must be a list of integer neuron ids",
                                          index=(i,), value=str(targets)))
                continue
            aliases.append([int(t) for t in targets])
        if not aliases_raw:
            aliases = [[] for _ in range(n_h)]
    if problems:
        raise ConfigError(problems, source)

    def widen(w: np.ndarray) -> np.ndarray:
        if w.shape[2] == n_syn:
            return w
        return np.concatenate([w, np.zeros(w.shape[:2] + (n_syn - w.shape[2],), np.int64)], axis=2)

    return ChipConfig(chip=chip, dt=float(dt), weights_in=widen(w_in), weights_rec=widen(w_rec),
                      weights_out=w_out, aliases=aliases, provenance=dict(provenance), **shifts, **vectors,
                      chip_spec=None if chip_spec is None else json.loads(json.dumps(chip_spec)))


def _register_chip_spec(doc: Any, chip: Any, source: str | None) -> list[Violation]:
    """Decode and register a carried custom chip; its name must be the configuration's ``chip``."""
    from hw_models.chips import register, spec_from_dict

    try:
        spec = spec_from_dict(doc, source)
    except ConfigError as exc:
        return [Violation(f"chip_spec.{v.field}", v.message, hint=v.hint) for v in exc.violations]
    if spec.name != chip:
        return [Violation("chip_spec", f"declares chip {spec.name!r} but the configuration names {chip!r}")]
    try:
        register(spec)
    except SpikelineError as exc:
        return [Violation("chip_spec", str(exc), hint="rename one of the two chips")]
    return []
