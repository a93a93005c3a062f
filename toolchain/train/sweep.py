"""Sweeps: every combination of seeds and settings trained, compiled and verified, as one task each on an
executor (:mod:`toolchain.dist`), summarised as a table with the mean and spread over seeds per setting.

A combination's folder ``OUT/runs/<name>`` holds its training run and ``result.json`` (written atomically
when the combination is done). A sweep that is started again skips every combination whose ``result.json``
records the same settings, and continues a half-trained one from its checkpoint, so an interrupted and
restarted sweep gives the same table. On a cluster, OUT must be on a filesystem the workers share.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.atomic import atomic_write_text
from hw_models.errors import InputError
from toolchain.dist import Executor, SerialExecutor

RESULT_FILE = "result.json"
MODELS = ("float", "chip-grid", "bit-accurate")


@dataclass(frozen=True)
class Combination:
    """One point of the sweep: the seed and the swept settings (``settings`` excludes the seed)."""

    seed: int
    settings: tuple[tuple[str, Any], ...]

    @property
    def name(self) -> str:
        parts = [f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in self.settings] + [f"seed={self.seed}"]
        return re.sub(r"[^A-Za-z0-9=._,+-]", "_", ",".join(parts))

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in self.settings) or "preset"


def parse_seeds(text: str) -> list[int]:
    """``"0-4"``, ``"0,2,5"`` or ``"1-3,7"`` -> the seeds, in order, each once."""
    seeds: list[int] = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise InputError(f"--seeds {text!r}: give seeds as 0-4, 0,2,5 or 1-3,7 (non-negative, ascending ranges)")
        lo, hi = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        seeds.extend(s for s in range(lo, hi + 1) if s not in seeds)
    return seeds


def parse_values(pair: str) -> tuple[str, list[Any]]:
    """``"lr=1e-3,3e-3"`` -> ("lr", [0.001, 0.003]); values are JSON where they parse (``hidden=[100],[200]``),
    else strings (``engine=fp,eventprop``)."""
    key, sep, text = pair.partition("=")
    if not sep or not key or not text:
        raise InputError(f"--set {pair!r} is not KEY=V1,V2,... (e.g. --set lr=1e-3,3e-3)")
    try:
        values = json.loads(f"[{text}]")
    except json.JSONDecodeError:
        values = []
        for v in text.split(","):
            try:
                values.append(json.loads(v))
            except json.JSONDecodeError:
                values.append(v)
    if len(values) != len({json.dumps(v) for v in values}):
        raise InputError(f"--set {pair!r} names a value twice")
    return key, values


def combinations(seeds: list[int], grid: dict[str, list[Any]]) -> list[Combination]:
    keys = sorted(grid)
    return [Combination(seed, tuple(zip(keys, values, strict=True)))
            for values in itertools.product(*(grid[k] for k in keys)) for seed in seeds]


def run_combination(item: tuple, *_: Any) -> dict[str, Any]:
    """Train, compile and verify one combination (runs wherever the executor puts it); returns its result."""
    from toolchain.compile import compile_network
    from toolchain.train.presets import preset_config
    from toolchain.train.trainer import train
    from toolchain.verify import verify

    task, chip, fixed, combo, out, verify_limit = item
    folder = Path(out) / "runs" / combo.name
    settings = {"task": task, "chip": chip, **fixed, **dict(combo.settings), "seed": combo.seed}
    done = _finished(folder, settings)
    if done is not None:
        return done
    config = preset_config(task, **{k: v for k, v in settings.items() if k != "task"})
    result = train(config, folder, resume=(folder / "last.ckpt").exists())
    config_chip, _ = compile_network(result.network, chip)
    config_chip.save(folder / "config.json")
    ver = verify(result.network, config_chip, limit=verify_limit)
    doc = {"combination": combo.name, "settings": settings, "seed": combo.seed, "swept": dict(combo.settings),
           "val_accuracy": result.summary["val_accuracy"],
           "accuracy": {m: ver.accuracy(m) for m in MODELS}, "n_test": int(len(ver.labels)),
           "gap_pp": 100 * (ver.accuracy("bit-accurate") - ver.accuracy("chip-grid")),
           "train_wall_seconds": result.summary["train_wall_seconds"]}
    atomic_write_text(folder / RESULT_FILE, json.dumps(doc, indent=1))
    return doc


def _finished(folder: Path, settings: dict) -> dict | None:
    try:
        doc = json.loads((folder / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("settings") == settings else None


def sweep(task: str, seeds: list[int], grid: dict[str, list[Any]], out: str | Path, chip: str = "xylo-audio2",
          fixed: dict[str, Any] | None = None, executor: Executor | None = None, verify_limit: int | None = None
          ) -> dict[str, Any]:
    """Run every combination of ``seeds`` x ``grid`` (``fixed``: settings for all) and write ``OUT/sweep.md`` and
    ``OUT/sweep.json``; returns the JSON document. Finished combinations are not run again."""
    if not seeds:
        raise InputError("a sweep needs at least one seed (--seeds 0-4)")
    if "seed" in grid or "seed" in (fixed or {}):
        raise InputError("give seeds with --seeds, not --set seed=...")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    combos = combinations(seeds, grid)
    executor = executor or SerialExecutor()
    rows = executor.map(run_combination, [(task, chip, dict(fixed or {}), c, str(out), verify_limit) for c in combos])
    doc = {"task": task, "chip": chip, "seeds": seeds, "grid": grid, "fixed": fixed or {},
           "runs": rows, "table": summarise(combos, rows)}
    atomic_write_text(out / "sweep.json", json.dumps(doc, indent=1))
    atomic_write_text(out / "sweep.md", to_markdown(doc))
    return doc


def summarise(combos: list[Combination], rows: list[dict]) -> list[dict[str, Any]]:
    """Per setting (over seeds): mean and sample standard deviation of each accuracy and of the gap."""
    groups: dict[str, list[dict]] = {}
    for combo, row in zip(combos, rows, strict=True):
        groups.setdefault(combo.label, []).append(row)
    table = []
    for label, group in groups.items():
        entry: dict[str, Any] = {"setting": label, "seeds": [r["seed"] for r in group]}
        columns = [*((m, [r["accuracy"][m] * 100 for r in group]) for m in MODELS),
                   ("gap_pp", [r["gap_pp"] for r in group]), ("val", [r["val_accuracy"] * 100 for r in group])]
        for name, values in columns:
            entry[name] = {"mean": float(np.mean(values)),
                           "std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan}
        table.append(entry)
    return table


def to_markdown(doc: dict) -> str:
    def cell(stat: dict) -> str:
        return f"{stat['mean']:.2f}" + ("" if math.isnan(stat["std"]) else f" ± {stat['std']:.2f}")

    lines = [f"# Sweep: {doc['task']} on {doc['chip']}", "",
             f"Seeds {', '.join(map(str, doc['seeds']))}; mean ± sample standard deviation over seeds; accuracies in "
             "% on the test split, gap = bit-accurate minus chip grid in pp.", "",
             "| setting | validation | float | chip grid | bit-accurate | gap (pp) |", "|---|---|---|---|---|---|"]
    for e in doc["table"]:
        lines.append(f"| {e['setting']} | {cell(e['val'])} | {cell(e['float'])} | {cell(e['chip-grid'])} | "
                     f"{cell(e['bit-accurate'])} | {cell(e['gap_pp'])} |")
    lines += ["", "| run | validation | float | chip grid | bit-accurate |", "|---|---|---|---|---|"]
    for r in doc["runs"]:
        a = r["accuracy"]
        lines.append(f"| {r['combination']} | {100 * r['val_accuracy']:.2f} | {100 * a['float']:.2f} | "
                     f"{100 * a['chip-grid']:.2f} | {100 * a['bit-accurate']:.2f} |")
    return "\n".join(lines) + "\n"
