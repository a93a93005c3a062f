"""Hardware-in-the-loop validation: run a device and a reference on one raster, compare bit for bit.

Every record key both sides provide is compared exactly. On a mismatch the report names the **first
divergence** in the chip's own processing order, so it points at the cause rather than at a
consequence. Within one time step the chip

1. delivers events into the synaptic currents (``Isyn``, ``Isyn2``, ``Isyn_out``),
2. updates hidden neurons in id order (``Vmem``, then ``Spikes``),
3. updates readout neurons in id order (``Vmem_out``, then ``Spikes_out``),

so divergences are ordered by (sample, step, phase, neuron, key). The report carries the diverging
neuron's last few steps of state from both sides, which usually shows what went wrong (a current
that is off by one weight, a threshold crossed on one side only, ...).

One caveat: alias copies are added to a neuron's *recorded* spike count after that neuron was
processed, so a spike-count difference caused by an alias source with a higher id is reported at the
(lower-id) target.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from deploy.backends import get_backend
from deploy.backends.base import Backend
from hw_models.config import ChipConfig
from hw_models.errors import InputError
from hw_models.files import read_npz
from hw_models.simulator import RECORD_KEYS, Record

#: (phase in the step, group: 0 hidden / 1 readout, rank within one neuron) per record key.
_ORDER: dict[str, tuple[int, int, int]] = {
    "Isyn": (0, 0, 0), "Isyn2": (0, 0, 1), "Isyn_out": (0, 1, 0),
    "Vmem": (1, 0, 0), "Spikes": (1, 0, 1),
    "Vmem_out": (2, 1, 0), "Spikes_out": (2, 1, 1),
}
HIDDEN_KEYS = ("Spikes", "Vmem", "Isyn", "Isyn2")
READOUT_KEYS = ("Spikes_out", "Vmem_out", "Isyn_out")


@dataclass
class Divergence:
    """Where the device first disagrees with the reference."""

    key: str
    step: int
    neuron: int
    device: int
    reference: int
    sample: int | None  # batch index; None for a single (T, N_in) raster
    history_steps: list[int] = field(default_factory=list)
    #: ``{"device": {key: [values over history_steps]}, "reference": {...}}`` for that neuron
    history: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    @property
    def layer(self) -> str:
        return "readout" if self.key in READOUT_KEYS else "hidden"

    def describe(self) -> str:
        where = f"sample {self.sample}, " if self.sample is not None else ""
        return (f"first divergence at {where}step {self.step}, {self.layer} neuron {self.neuron}, "
                f"{self.key}: device {self.device}, reference {self.reference}")


@dataclass
class HilReport:
    """Result of one comparison. ``ok`` is True iff every compared entry is identical."""

    device: str
    reference: str
    chip: str
    samples: int
    steps: int
    keys_compared: list[str]
    keys_skipped: list[str]
    mismatches: dict[str, int]  # key -> number of differing entries
    divergence: Divergence | None

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        if self.divergence is not None:
            d["divergence"]["layer"] = self.divergence.layer
        return d

    def format_text(self) -> str:
        head = (f"HIL {self.device} vs {self.reference} on {self.chip}: {self.samples} sample(s) x "
                f"{self.steps} steps, compared {', '.join(self.keys_compared)}")
        lines = [head]
        if self.keys_skipped:
            lines.append(f"not compared (one side does not record them): {', '.join(self.keys_skipped)}")
        if self.ok:
            lines.append("OK: bit-identical on every compared entry")
            return "\n".join(lines)
        d = self.divergence
        lines.append(f"MISMATCH: {d.describe()}")
        lines.append("differing entries: " + ", ".join(f"{k} {n}" for k, n in self.mismatches.items() if n))
        keys = list(d.history["device"])
        lines.append(f"{d.layer} neuron {d.neuron}, device / reference:")
        lines.append("  step " + "".join(f"{k:>16}" for k in keys))
        for i, t in enumerate(d.history_steps):
            pairs = [f"{d.history['device'][k][i]} / {d.history['reference'][k][i]}" for k in keys]
            cells = "".join(f"{p:>16}" for p in pairs)
            mark = "  <-" if t == d.step else ""
            lines.append(f"  {t:>4} {cells}{mark}")
        return "\n".join(lines)


def _as_batch(a: np.ndarray) -> np.ndarray:
    return a[None] if a.ndim == 2 else a


def compare_records(device: Record, reference: Record, history: int = 5, device_name: str = "device",
                    reference_name: str = "reference", chip: str = "?") -> HilReport:
    """Compare two records bit for bit and locate the first divergence (see the module docstring)."""
    if history < 1:
        raise InputError(f"history must be at least 1 step, got {history}")
    common = [k for k in RECORD_KEYS if k in device.data and k in reference.data]
    skipped = sorted((set(device.data) | set(reference.data)) - set(common))
    if not common:
        raise InputError("the two records share no record key; nothing to compare")
    batched = device[common[0]].ndim == 3
    dev = {k: _as_batch(np.asarray(device[k])) for k in common}
    ref = {k: _as_batch(np.asarray(reference[k])) for k in common}
    for k in common:
        if dev[k].shape != ref[k].shape:
            raise InputError(f"record {k!r} has shape {dev[k].shape} on the device and "
                             f"{ref[k].shape} on the reference; they ran different inputs or "
                             "configurations")
    mismatches: dict[str, int] = {}
    best: tuple | None = None
    for k in common:
        differs = dev[k].astype(np.int64) != ref[k].astype(np.int64)
        mismatches[k] = int(np.count_nonzero(differs))
        if not mismatches[k]:
            continue
        phase, group, rank = _ORDER[k]
        # earliest (sample, step, neuron) of this key: the first True in C order; the key's
        # phase/group/rank break ties between keys
        s, t, n = (int(i) for i in np.unravel_index(int(np.argmax(differs)), differs.shape))
        cand = (s, t, phase, group, n, rank, k)
        if best is None or cand < best:
            best = cand
    n_samples, n_steps = dev[common[0]].shape[:2]
    divergence = None
    if best is not None:
        s, t, _, _, n, _, k = best
        keys = [x for x in (READOUT_KEYS if k in READOUT_KEYS else HIDDEN_KEYS) if x in common]
        steps = list(range(max(0, t - history + 1), t + 1))
        divergence = Divergence(
            key=k, step=t, neuron=n, device=int(dev[k][s, t, n]), reference=int(ref[k][s, t, n]),
            sample=s if batched else None, history_steps=steps,
            history={side: {x: [int(v) for v in rec[x][s, steps, n]] for x in keys}
                     for side, rec in (("device", dev), ("reference", ref))})
    return HilReport(device=device_name, reference=reference_name, chip=chip, samples=n_samples,
                     steps=n_steps, keys_compared=common, keys_skipped=skipped,
                     mismatches=mismatches, divergence=divergence)


def load_record(path: str | os.PathLike) -> Record:
    """A record saved as ``.npz`` (``Record.save``, or any npz holding record keys) of integers."""
    fix = "save one with `spikeline sim CONFIG --input RASTER --out record.npz`"
    data = read_npz(path, "a record", fix)
    unknown = sorted(set(data) - set(RECORD_KEYS))
    if unknown or not data:
        raise InputError(f"{path}: expected arrays named {', '.join(RECORD_KEYS)}; found "
                         f"{', '.join(sorted(data)) or 'none'}")
    for key, arr in data.items():
        if arr.dtype.kind not in "iu" or arr.ndim not in (2, 3):
            raise InputError(f"{path}: record key {key!r} must be integers (T, N) or (B, T, N), got "
                             f"{arr.dtype} {arr.shape}; {fix}")
    return Record(data)


def run_hil(config: ChipConfig, raster, device: str | Backend = "xylosim",
            reference: str | Backend = "sim", history: int = 5, clip_inputs: bool = False) -> HilReport:
    """Apply ``config`` to both backends, run ``raster`` on each and compare the full records."""
    dev = get_backend(device) if isinstance(device, str) else device
    ref = get_backend(reference) if isinstance(reference, str) else reference
    records = []
    for backend in (dev, ref):
        backend.apply(config)  # every evolve sample starts from reset (Backend interface)
        records.append(backend.evolve(raster, record="all", clip_inputs=clip_inputs))
    return compare_records(records[0], records[1], history=history, device_name=dev.name,
                           reference_name=ref.name, chip=config.chip)
