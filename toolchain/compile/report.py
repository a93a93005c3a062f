"""The compile report: what went where, how it was quantized, what it uses, and every problem."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hw_models.atomic import atomic_write_text
from hw_models.errors import Violation


@dataclass
class LayerReport:
    layer: int
    kind: str
    size: int
    ids: str
    relays: int
    matrix: str  # chip matrix carrying the layer's input: in | rec | out
    shift: int
    current_unit: float  # float current per chip i LSB
    voltage_unit: float  # float voltage per chip v LSB (= current_unit * dt)
    threshold_float: tuple[float, float] | None
    threshold_int: tuple[int, int] | None
    max_weight_error: float
    max_weight: float
    tau_syn_requested: tuple[float, float]
    tau_syn_realised: tuple[float, float]
    dash_syn: list[int]
    tau_mem_requested: tuple[float, float]
    tau_mem_realised: tuple[float, float]
    dash_mem: list[int]


@dataclass
class CompileReport:
    chip: str
    dt: float
    layer_sizes: list[int]
    layout: dict
    shifts: dict[str, int]
    layers: list[LayerReport]
    resources: list[tuple[str, int, int]]
    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    gain_correction: bool = False
    headroom_bits: int = 2
    calibrated: bool = False
    threshold_scales: dict[str, float] = field(default_factory=dict)  # layer -> rate-matching factor
    readout_attenuation: int = 1  # leaky readout: weights coarsened by this power of two to fit int16
    notes: list[str] = field(default_factory=list)  # what the compiler did (calibration steps), not problems
    #: calibration candidates: name, settings, agreement with the float model's decisions, kept or not
    candidates: list[dict] = field(default_factory=list)
    #: the health check (toolchain.compile.health): per-layer rows, problems, samples used; empty if not run
    health: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict:
        d = asdict(self)
        d["violations"] = [v.to_dict() for v in self.violations]
        d["resources"] = [{"resource": r, "used": u, "available": a, "fits": u <= a} for r, u, a in self.resources]
        d["ok"] = self.ok
        return d

    def to_markdown(self) -> str:
        def rng(pair, fmt="{:.4g}"):
            if pair is None:
                return "-"
            lo, hi = pair
            return fmt.format(lo) if lo == hi else f"{fmt.format(lo)} .. {fmt.format(hi)}"

        lines = [f"# Compile report: {'-'.join(map(str, self.layer_sizes))} on {self.chip}", "",
                 f"dt = {self.dt:g} s; shifts: in {self.shifts['in']}, rec {self.shifts['rec']}, "
                 f"out {self.shifts['out']}; kernel gain correction {'on' if self.gain_correction else 'off'}. "
                 f"Status: **{'fits' if self.ok else 'does not fit'}**.", ""]
        if self.violations:
            lines += ["## Problems", ""] + [f"- {v}" for v in self.violations] + [""]
        lines += ["## Resources", "", "| resource | used | available | |", "|---|---|---|---|"]
        lines += [f"| {r} | {u:,} | {a:,} | {'ok' if u <= a else '**over**'} |" for r, u, a in self.resources]
        lines += ["", "## Layers", "",
                  "| layer | neurons | chip ids | relays | matrix (shift) | threshold float -> int | current unit |"
                  " max weight error | tau_syn requested -> realised (dash) | tau_mem requested -> realised (dash) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for x in self.layers:
            th = ("leaky (none)" if x.threshold_float is None else
                  f"{rng(x.threshold_float)} -> {rng(x.threshold_int, '{:d}')}")
            rel = x.max_weight_error / x.max_weight if x.max_weight else 0.0
            lines.append(
                f"| {x.layer} ({x.kind}) | {x.size} | {x.ids} | {x.relays} | {x.matrix} ({x.shift}) | {th} | "
                f"{x.current_unit:.4g} | {rel:.2%} of max | {rng(x.tau_syn_requested)} -> "
                f"{rng(x.tau_syn_realised)} ({','.join(map(str, x.dash_syn))}) | {rng(x.tau_mem_requested)} -> "
                f"{rng(x.tau_mem_realised)} ({','.join(map(str, x.dash_mem))}) |")
        if self.candidates:
            lines += ["", "## Calibration candidates", "",
                      "Decisions compared with the float model's on training samples (no labels used); candidates "
                      "far behind on the calibration samples are not scored on the rest.", "",
                      "| candidate | agreement | samples | |", "|---|---|---|---|"]
            for c in self.candidates:
                agree = "-" if c["agreement"] is None else f"{100 * c['agreement']:.1f} %"
                lines.append(f"| {c['name']} | {agree} | {c['samples']} | {'**kept**' if c.get('kept') else ''} |")
        if self.health:
            from toolchain.compile.health import health_markdown

            lines += ["", *health_markdown(self.health)]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        if self.warnings:
            lines += ["", "## Warnings", ""] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"

    def save(self, stem: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``stem.md`` and ``stem.json`` atomically."""
        stem = Path(stem)
        md = atomic_write_text(stem.with_name(stem.name + ".md"), self.to_markdown())
        js = atomic_write_text(stem.with_name(stem.name + ".json"), json.dumps(self.to_dict(), indent=2, default=str))
        return md, js


def report_from_dict(doc: dict) -> CompileReport:
    """The settings part of a saved report (what ``compile_network(reuse=...)`` needs), from its JSON."""
    return CompileReport(chip=doc["chip"], dt=doc["dt"], layer_sizes=list(doc["layer_sizes"]),
                         layout=doc.get("layout", {}),
                         shifts={k: int(v) for k, v in doc["shifts"].items()}, layers=[], resources=[],
                         gain_correction=bool(doc.get("gain_correction", False)),
                         headroom_bits=int(doc.get("headroom_bits", 2)), calibrated=bool(doc.get("calibrated")),
                         threshold_scales={str(k): float(v) for k, v in doc.get("threshold_scales", {}).items()},
                         readout_attenuation=int(doc.get("readout_attenuation", 1)))
