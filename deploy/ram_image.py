"""RAM images of a chip configuration for Xylo Audio 2 and Xylo Audio 3 (test benches, flashing).

An image is one list of words per configuration RAM, in the layout of SynSense's only public
RAM-image writer (``xylosim.tools.save_to_RAM_files_V2``) and the memory maps of
``docs/ram-image.md`` (reference: ``xylo.md`` §3). On disk it is a folder holding one
``<ram>.ini`` file per RAM (one hex word per line, two's complement for signed fields, ``//`` lines
are comments; the same file names and word formats as xylosim's writer) and ``ram_image.json``
(format ``spikeline.ram-image/1``: chip, register values, and per RAM its base address, capacity,
word count, hex digits and SHA-256).

Layout (``N_h`` hidden neurons, ``N_o`` readouts, ``IEN``/``OEN`` the input/output windows):

* ``IWTRAM``/``IWT2RAM``: dense input weights, synapse 1/2, row-major ``[input][IEN]``.
* ``OWTRAM``: dense readout weights ``[OEN][N_o]``, rows = the last ``OEN`` hidden neurons.
* ``NDMRAM``, ``NDSRAM``, ``NTHRAM``, ``NBRAM``: per neuron, ``N_h`` hidden then ``N_o`` readout words.
* ``RDS2RAM``/``HDS2RAM``: per hidden neuron, the synapse-2 dash.
* ``RARAM``/``HARAM``: alias target per hidden neuron (``-1`` = none); ``RCRAM``/``HCRAM``:
  ``2 * is_alias_source + is_alias_target``.
* Sparse recurrent weights: for each pre-neuron, in id order, a run of rows ``(target id, w1, w2)``
  in ``RFORAM``/``RWTRAM``/``RWT2RAM`` (``HFORAM``/``HWTRAM``/``HWT2RAM`` on Audio 3); the run
  length (the pre-neuron's effective fan-out) is in ``REFOCRAM``/``HEFOCRAM``. Two consecutive rows
  of one run may not target the same neuron: a zero-weight dummy row is inserted between them.

Differences from xylosim's writer, on purpose: values that do not fit their word are an error
(xylosim truncates silently); the dummy row never targets the neuron it separates (xylosim always
uses neuron ``N_h - 1``, which breaks the rule when that neuron is the repeated target); the round
robin over multapses does not skip rounds (xylosim's ``i += 1`` inside the inner loop can); the
Audio 3 fan-out count gets 3 hex digits (it can reach 1024). State RAMs (synaptic currents,
membranes, spike counts) are not part of a configuration image: reset clears them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.atomic import atomic_write_text
from hw_models.chips import get_chip
from hw_models.config import ChipConfig
from hw_models.errors import ConfigError, InputError, SpikelineError, Violation
from hw_models.rules import raise_if_invalid

FORMAT = "spikeline.ram-image/1"
MANIFEST = "ram_image.json"


@dataclass(frozen=True)
class Ram:
    """One configuration RAM: its name, base address (``None`` if not public), size and word format."""

    name: str
    address: int | None
    capacity: int
    digits: int  # hex digits per word
    signed: bool


def _map(rows: list[tuple[str, int | None, int, int, bool]]) -> dict[str, Ram]:
    return {name: Ram(name, addr, cap, digits, signed) for name, addr, cap, digits, signed in rows}


#: Configuration RAMs per chip, keyed by role. Addresses and sizes: xylo.md §3.1 (Audio 3) and §3.2
#: (Audio 2; its bias RAM has no published address).
RAM_MAPS: dict[str, dict[str, Ram]] = {
    "xylo-audio2": _map([
        ("IWTRAM", 0x00100, 16000, 2, True), ("IWT2RAM", 0x03F80, 16000, 2, True),
        ("NDSRAM", 0x089C8, 1008, 1, False), ("RDS2RAM", 0x08DB8, 1000, 1, False),
        ("NDMRAM", 0x091A0, 1008, 1, False), ("NTHRAM", 0x09590, 1008, 4, True),
        ("NBRAM", None, 1008, 2, True),
        ("RCRAM", 0x09980, 1000, 1, False), ("RARAM", 0x09D68, 1000, 3, True),
        ("REFOCRAM", 0x0A538, 1000, 2, False), ("RFORAM", 0x0A920, 32000, 3, False),
        ("RWTRAM", 0x12620, 32000, 2, True), ("RWT2RAM", 0x1A320, 32000, 2, True),
        ("OWTRAM", 0x22020, 8000, 2, True),
    ]),
    "xylo-audio3": _map([
        ("IWTRAM", 0x00200, 2048, 2, True), ("IWT2RAM", 0x00A00, 2048, 2, True),
        ("NDSRAM", 0x01DE0, 1024, 1, False), ("HDS2RAM", 0x021E0, 992, 1, False),
        ("NDMRAM", 0x025C0, 1024, 1, False), ("NBRAM", 0x029C0, 1024, 2, True),
        ("NTHRAM", 0x02DC0, 1024, 4, True),
        ("HCRAM", 0x031C0, 992, 1, False), ("HARAM", 0x035A0, 992, 3, True),
        ("HEFOCRAM", 0x03D60, 992, 3, False), ("HFORAM", 0x04140, 31744, 3, False),
        ("HWTRAM", 0x0BD40, 31744, 2, True), ("HWT2RAM", 0x13940, 31744, 2, True),
        ("OWTRAM", 0x1B540, 4096, 2, True),
    ]),
}
#: Role -> RAM name per chip (Audio 2 calls hidden neurons "reservoir": R..., Audio 3 "hidden": H...).
_ROLES = {
    "xylo-audio2": {"dash_syn_2": "RDS2RAM", "alias_ctrl": "RCRAM", "alias_target": "RARAM",
                    "fanout_count": "REFOCRAM", "fanout_target": "RFORAM", "rec_w1": "RWTRAM",
                    "rec_w2": "RWT2RAM"},
    "xylo-audio3": {"dash_syn_2": "HDS2RAM", "alias_ctrl": "HCRAM", "alias_target": "HARAM",
                    "fanout_count": "HEFOCRAM", "fanout_target": "HFORAM", "rec_w1": "HWTRAM",
                    "rec_w2": "HWT2RAM"},
}


@dataclass
class RamImage:
    """Words per RAM (plain Python ints; negative where the RAM is signed) and the register values."""

    chip: str
    registers: dict[str, Any]
    words: dict[str, list[int]]

    @property
    def rams(self) -> dict[str, Ram]:
        return RAM_MAPS[self.chip]

    def hex_lines(self, name: str) -> list[str]:
        ram = self.rams[name]
        return [to_hex(w, ram.digits, ram.signed, name) for w in self.words[name]]

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``<ram>.ini`` files and ``ram_image.json`` (last) atomically into ``directory``."""
        folder = Path(directory)
        entries = {}
        for name, ram in self.rams.items():
            addr = "unpublished" if ram.address is None else f"0x{ram.address:05X}"
            header = (f"// {name} {self.chip} base {addr}, {len(self.words[name])} of {ram.capacity} "
                      f"words, {ram.digits} hex digits each\n")
            text = header + "".join(f"{h}\n" for h in self.hex_lines(name))
            atomic_write_text(folder / f"{name.lower()}.ini", text)
            entries[name] = {"file": f"{name.lower()}.ini", "address": ram.address,
                             "capacity": ram.capacity, "words": len(self.words[name]),
                             "hex_digits": ram.digits, "signed": ram.signed,
                             "sha256": hashlib.sha256(text.encode()).hexdigest()}
        manifest = {"format": FORMAT, "chip": self.chip, "registers": self.registers, "rams": entries}
        atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        return folder


# -- words ------------------------------------------------------------------------------------------

def to_hex(value: int, digits: int, signed: bool, where: str = "word") -> str:
    """``value`` as ``digits`` hex digits (two's complement when ``signed``); out of range is an error."""
    bits = 4 * digits
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not lo <= value <= hi:
        raise SpikelineError(f"{where}: value {value} does not fit {digits} hex digits "
                             f"({'signed' if signed else 'unsigned'} range [{lo}, {hi}])")
    return f"{value & ((1 << bits) - 1):0{digits}x}"


def from_hex(word: str, digits: int, signed: bool, where: str = "word") -> int:
    """Inverse of :func:`to_hex`."""
    text = word.strip()
    if len(text) != digits or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise InputError(f"{where}: {word!r} is not a word of {digits} hex digits")
    v = int(text, 16)
    bits = 4 * digits
    return v - (1 << bits) if signed and v >= 1 << (bits - 1) else v


# -- the sparse recurrent rows --------------------------------------------------------------------

def fanout_rows(entries: list[tuple[int, int, int]], n_hidden: int) -> list[tuple[int, int, int]]:
    """Rows ``(target, w1, w2)`` of one pre-neuron in the order the chip stores them.

    ``entries`` may name a target more than once (multapses). Rows go round robin over the targets
    in ascending id (all first rows, then all second rows, ...), rows with both weights zero are
    dropped, and a zero-weight dummy row is inserted wherever two consecutive rows would target the
    same neuron (the chip forbids that). The dummy targets neuron ``n_hidden - 1`` (as xylosim's
    writer does) unless that is the repeated target, then ``n_hidden - 2``.
    """
    per_target: dict[int, list[tuple[int, int]]] = {}
    for target, w1, w2 in entries:
        if w1 or w2:
            per_target.setdefault(int(target), []).append((int(w1), int(w2)))
    rows: list[tuple[int, int, int]] = []
    rounds = max((len(v) for v in per_target.values()), default=0)
    for i in range(rounds):
        for target in sorted(per_target):
            if i >= len(per_target[target]):
                continue
            if rows and rows[-1][0] == target:
                dummy = n_hidden - 1 if target != n_hidden - 1 else n_hidden - 2
                if dummy < 0:
                    raise SpikelineError(f"cannot separate repeated rows to neuron {target}: the "
                                         "network has a single hidden neuron")
                rows.append((dummy, 0, 0))
            rows.append((target, *per_target[target][i]))
    return rows


# -- writer -----------------------------------------------------------------------------------------

def _windows(config: ChipConfig) -> tuple[int, int]:
    spec = get_chip(config.chip)
    n_h = config.n_hidden
    return min(n_h, spec.input_window or n_h), min(n_h, spec.output_window or n_h)


def build_ram_image(config: ChipConfig) -> RamImage:
    """The RAM image of a configuration for Xylo Audio 2 or Audio 3 (validated first)."""
    if config.chip not in RAM_MAPS:
        raise SpikelineError(f"no RAM map is known for chip {config.chip!r}; RAM images are written for "
                             f"{' and '.join(RAM_MAPS)} (the public memory maps, xylo.md §3)")
    raise_if_invalid(config)
    roles = _ROLES[config.chip]
    n_h, n_o = config.n_hidden, config.n_outputs
    ien, oen = _windows(config)
    w_in, w_rec = config.weights_in, config.weights_rec
    two = config.n_synapses == 2

    def syn(w: np.ndarray, k: int) -> np.ndarray:
        return w[..., k] if two or k == 0 else np.zeros(w.shape[:-1], np.int64)

    words: dict[str, list[int]] = {
        "IWTRAM": syn(w_in, 0)[:, :ien].ravel().tolist(),
        "IWT2RAM": syn(w_in, 1)[:, :ien].ravel().tolist(),
        "OWTRAM": config.weights_out[n_h - oen:].ravel().tolist(),
        "NDMRAM": [*config.dash_mem.tolist(), *config.dash_mem_out.tolist()],
        "NDSRAM": [*config.dash_syn.tolist(), *config.dash_syn_out.tolist()],
        "NTHRAM": [*config.threshold.tolist(), *config.threshold_out.tolist()],
        "NBRAM": [*config.bias.tolist(), *config.bias_out.tolist()],
        roles["dash_syn_2"]: config.dash_syn_2.tolist(),
    }
    target = [a[0] if a else -1 for a in (config.aliases or [[] for _ in range(n_h)])]
    is_target = [0] * n_h
    for t in target:
        if t >= 0:
            is_target[t] = 1
    words[roles["alias_target"]] = target
    words[roles["alias_ctrl"]] = [2 * (t >= 0) + is_target[i] for i, t in enumerate(target)]

    counts, targets, w1s, w2s = [], [], [], []
    for pre in range(n_h):
        posts = np.flatnonzero(np.any(w_rec[pre] != 0, axis=1))
        rows = fanout_rows([(int(p), int(syn(w_rec, 0)[pre, p]), int(syn(w_rec, 1)[pre, p]))
                            for p in posts], n_h)
        counts.append(len(rows))
        for t, a, b in rows:
            targets.append(t)
            w1s.append(a)
            w2s.append(b)
    words[roles["fanout_count"]] = counts
    words[roles["fanout_target"]] = targets
    words[roles["rec_w1"]] = w1s
    words[roles["rec_w2"]] = w2s

    problems = []
    rams = RAM_MAPS[config.chip]
    for name, values in words.items():
        ram = rams[name]
        if len(values) > ram.capacity:
            problems.append(Violation(name, f"needs {len(values):,} words; the RAM holds "
                                      f"{ram.capacity:,}", value=len(values), limit=ram.capacity,
                                      hint="prune recurrent weights (dummy rows also take space)"
                                      if name == roles["fanout_target"] else ""))
        for v in values:  # never wrap: every value must fit its word
            to_hex(v, ram.digits, ram.signed, name)
    if problems:
        raise ConfigError(problems, "RAM image")
    registers = {"dt": config.dt, "n_inputs": config.n_inputs, "n_hidden": n_h, "n_outputs": n_o,
                 "input_enable_count": ien, "output_enable_count": oen,
                 "weight_shift_in": config.weight_shift_in, "weight_shift_rec": config.weight_shift_rec,
                 "weight_shift_out": config.weight_shift_out, "synapse2_enable": two,
                 "alias_enable": any(t >= 0 for t in target), "bias_enable": config.has_bias}
    return RamImage(chip=config.chip, registers=registers, words=words)


def save_ram_image(config: ChipConfig, directory: str | os.PathLike) -> Path:
    """Build and write the RAM image of ``config`` into ``directory``."""
    return build_ram_image(config).save(directory)


# -- reader -----------------------------------------------------------------------------------------

def load_ram_image(directory: str | os.PathLike) -> RamImage:
    """Read an image folder written by :meth:`RamImage.save`, checking format, sizes and hashes."""
    folder = Path(directory)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except OSError as exc:
        raise InputError(f"{folder}: no readable {MANIFEST} ({exc.strerror or exc}); write images "
                         "with `spikeline deploy config.json --ram-image DIR`") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{folder / MANIFEST}: not valid JSON ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise InputError(f"{folder}: RAM image format {manifest.get('format')!r} is not supported "
                         f"(this Spikeline reads {FORMAT!r})")
    chip = manifest.get("chip")
    if chip not in RAM_MAPS:
        raise InputError(f"{folder}: unknown chip {chip!r} in {MANIFEST}")
    words: dict[str, list[int]] = {}
    for name, ram in RAM_MAPS[chip].items():
        entry = manifest.get("rams", {}).get(name)
        if entry is None:
            raise InputError(f"{folder}: {MANIFEST} does not list the RAM {name}")
        path = folder / entry["file"]
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if hashlib.sha256(text.encode()).hexdigest() != entry.get("sha256"):
            raise InputError(f"{path}: SHA-256 differs from {MANIFEST} (file changed or truncated)")
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("//")]
        words[name] = [from_hex(ln, ram.digits, ram.signed, f"{path.name} line {i + 1}")
                       for i, ln in enumerate(lines)]
        if len(words[name]) != entry.get("words"):
            raise InputError(f"{path}: {len(words[name])} words, {MANIFEST} says {entry.get('words')}")
    return RamImage(chip=chip, registers=dict(manifest.get("registers", {})), words=words)


def config_from_ram_image(image: RamImage) -> ChipConfig:
    """Decode an image back into the :class:`ChipConfig` it was written from."""
    reg, w, roles = image.registers, image.words, _ROLES[image.chip]
    try:
        n_in, n_h, n_o = int(reg["n_inputs"]), int(reg["n_hidden"]), int(reg["n_outputs"])
        ien, oen = int(reg["input_enable_count"]), int(reg["output_enable_count"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"RAM image registers incomplete or malformed ({exc})") from None
    expected = {"IWTRAM": n_in * ien, "IWT2RAM": n_in * ien, "OWTRAM": oen * n_o, "NDMRAM": n_h + n_o,
                "NDSRAM": n_h + n_o, "NTHRAM": n_h + n_o, "NBRAM": n_h + n_o, roles["dash_syn_2"]: n_h,
                roles["alias_target"]: n_h, roles["alias_ctrl"]: n_h, roles["fanout_count"]: n_h,
                roles["fanout_target"]: sum(w[roles["fanout_count"]]),
                roles["rec_w1"]: sum(w[roles["fanout_count"]]),
                roles["rec_w2"]: sum(w[roles["fanout_count"]])}
    for name, n in expected.items():
        if len(w[name]) != n:
            raise InputError(f"RAM {name} holds {len(w[name])} words; the registers imply {n}")
    n_syn = 2 if reg.get("synapse2_enable") else 1
    weights_in = np.zeros((n_in, n_h, n_syn), np.int64)
    weights_in[:, :ien, 0] = np.reshape(w["IWTRAM"], (n_in, ien))
    in2 = np.reshape(w["IWT2RAM"], (n_in, ien))
    if n_syn == 2:
        weights_in[:, :ien, 1] = in2
    elif np.any(in2):
        raise InputError("IWT2RAM holds weights but synapse 2 is disabled in the registers")
    weights_out = np.zeros((n_h, n_o), np.int64)
    weights_out[n_h - oen:] = np.reshape(w["OWTRAM"], (oen, n_o))
    weights_rec = np.zeros((n_h, n_h, n_syn), np.int64)
    pos = 0
    for pre, count in enumerate(w[roles["fanout_count"]]):
        previous = None
        for t, a, b in zip(w[roles["fanout_target"]][pos:pos + count], w[roles["rec_w1"]][pos:pos + count],
                           w[roles["rec_w2"]][pos:pos + count], strict=True):
            if not 0 <= t < n_h:
                raise InputError(f"fan-out row of neuron {pre} targets {t}, not a hidden neuron")
            if t == previous:
                raise InputError(f"fan-out rows of neuron {pre}: two consecutive rows target {t}")
            previous = t
            if not (a or b):
                continue  # a dummy row
            if np.any(weights_rec[pre, t]):
                raise InputError(f"neuron {pre} has two weighted rows to neuron {t} (a multapse); a "
                                 "ChipConfig holds one weight per pair and synapse")
            if n_syn == 1 and b:
                raise InputError("a recurrent synapse-2 weight is set but synapse 2 is disabled")
            weights_rec[pre, t, 0] = a
            if n_syn == 2:
                weights_rec[pre, t, 1] = b
        pos += count
    target, ctrl = w[roles["alias_target"]], w[roles["alias_ctrl"]]
    is_target = [0] * n_h
    for t in target:
        if t >= 0:
            is_target[t] = 1
    for i, t in enumerate(target):
        if ctrl[i] != 2 * (t >= 0) + is_target[i]:
            raise InputError(f"alias control word {ctrl[i]} of neuron {i} contradicts the alias "
                             "targets (expected 2 * is_source + is_target)")
    return ChipConfig.create(
        image.chip, float(reg["dt"]), weights_in, weights_out, w["NTHRAM"][:n_h], w["NTHRAM"][n_h:],
        weights_rec=weights_rec, aliases=[[t] if t >= 0 else [] for t in target],
        dash_mem=w["NDMRAM"][:n_h], dash_mem_out=w["NDMRAM"][n_h:], dash_syn=w["NDSRAM"][:n_h],
        dash_syn_out=w["NDSRAM"][n_h:], dash_syn_2=w[roles["dash_syn_2"]], bias=w["NBRAM"][:n_h],
        bias_out=w["NBRAM"][n_h:], weight_shift_in=int(reg["weight_shift_in"]),
        weight_shift_rec=int(reg["weight_shift_rec"]), weight_shift_out=int(reg["weight_shift_out"]))


# -- test-bench vectors -----------------------------------------------------------------------------

#: State RAM dumps per step: folder, file prefix, record keys (hidden then readout), hex digits.
STATE_DUMPS = (("spk_res", "rspkram", ("Spikes",), 2, False), ("spk_out", "ospkram", ("Spikes_out",), 2, False),
               ("isyn", "nscram", ("Isyn", "Isyn_out"), 4, True), ("isyn2", "nsc2ram", ("Isyn2",), 4, True),
               ("vmem", "nmpram", ("Vmem", "Vmem_out"), 4, True))


def input_events_text(raster: np.ndarray) -> str:
    """Input spikes as test-bench commands (xylosim's ``inp_spks.txt``): per step with events a
    ``// time step t`` line, then ``idle n`` = advance n steps since the previous step with events
    (since the start for the first; omitted when 0), then one ``wr IN<ch>`` per event (hex channel).
    A last comment line gives the total number of steps, which xylosim's file does not record."""
    lines, idle = [], -1
    for t, counts in enumerate(raster):
        idle += 1
        if not np.any(counts):
            continue
        lines.append(f"// time step {t}")
        if idle > 0:
            lines.append(f"idle {idle}")
        idle = 0
        for ch, n in enumerate(counts):
            lines += [f"wr IN{to_hex(int(ch), 1, False, 'input channel')}"] * int(n)
    lines.append(f"// {len(raster)} steps in total ({idle} silent steps after the last event)")
    return "\n".join(lines) + "\n"


def save_test_bench(config: ChipConfig, raster, directory: str | os.PathLike, record=None) -> Path:
    """Everything a hardware test bench needs to replay one run, in the layout of xylosim's
    ``save_to_RAM_files_V2``: the configuration RAM image, ``basic_config.json`` (sizes, shifts,
    synapse-2/alias/bias enables), ``spk_in/inp_spks.txt`` (input events) and, per time step ``t``,
    the expected state RAMs ``spk_res/rspkram_t.txt``, ``spk_out/ospkram_t.txt``, ``isyn/nscram_t.txt``,
    ``isyn2/nsc2ram_t.txt``, ``vmem/nmpram_t.txt``. ``record`` defaults to Spikeline's simulation of
    ``raster``; it must be a single sample ``(T, N)``.
    """
    from hw_models.simulator import simulate, validate_raster

    image = build_ram_image(config)
    arr = validate_raster(raster, config.n_inputs)
    if np.asarray(raster).ndim != 2:
        raise InputError("a test bench replays one sample: give a raster (T, N_in), not a batch")
    record = simulate(config, raster) if record is None else record
    folder = Path(directory)
    image.save(folder)
    reg = image.registers
    basic = {"IN": reg["n_inputs"], "RSN": reg["n_hidden"], "ON": reg["n_outputs"],
             "IWBS": reg["weight_shift_in"], "RWBS": reg["weight_shift_rec"], "OWBS": reg["weight_shift_out"],
             "time_resolution_wrap": 0, "DT": reg["dt"], "N_SYNS": 2 if reg["synapse2_enable"] else 1,
             "RA": reg["alias_enable"], "BIAS": reg["bias_enable"]}
    atomic_write_text(folder / "basic_config.json", json.dumps(basic) + "\n")
    atomic_write_text(folder / "spk_in" / "inp_spks.txt", input_events_text(arr[0]))
    for sub, prefix, keys, digits, signed in STATE_DUMPS:
        if any(k not in record.keys() for k in keys):
            raise InputError(f"the record lacks {', '.join(keys)}; simulate with record='all'")
        words = np.concatenate([np.asarray(record[k], np.int64) for k in keys], axis=1)
        if words.shape[0] != arr.shape[1]:
            raise InputError(f"the record has {words.shape[0]} steps, the raster {arr.shape[1]}")
        for t, row in enumerate(words):
            text = "".join(f"{to_hex(int(v), digits, signed, f'{prefix} step {t}')}\n" for v in row)
            atomic_write_text(folder / sub / f"{prefix}_{t}.txt", text)
    return folder
