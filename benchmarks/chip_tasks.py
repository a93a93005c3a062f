"""Every Xylo chip with a real task: Xylo IMU with BasicMotions, Xylo Audio 3 with FSDD (float, chip grid,
bit-accurate, gap, seeds).

Each run is the command line's own path, nothing else (``RUN`` = a `spikeline train` folder):

    nice -n 5 spikeline train --task basicmotions --chip xylo-imu --seed S --out RUN
    nice -n 5 spikeline train --task fsdd --chip xylo-audio3 --hidden 128 --epochs 40 --out RUN
    spikeline compile RUN/network.json --chip C --out RUN/config.json
    spikeline verify RUN/network.json RUN/config.json            # -> RUN/verify/report.json
    python -m benchmarks.chip_tasks --runs RUN... [--no-write]

This script only reads ``RUN/verify/report.json``, ``RUN/summary.json`` and ``RUN/network.json`` and writes the
"chip-tasks" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from benchmarks.report import machine, update_section


def read_run(run: Path) -> dict | None:
    """One run's accuracies, intervals, gap and training figures (``None`` without a verify report)."""
    path = run / "verify" / "report.json"
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    meta = json.loads((run / "network.json").read_text())
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    gap = doc["differences"]["bit-accurate - chip-grid"]
    return {"run": str(run), "task": doc["task"], "chip": doc["chip"], "seed": meta["metadata"].get("seed"),
            "sizes": "-".join(map(str, meta["layer_sizes"])), "samples": doc["samples"], "acc": doc["accuracy"],
            "ci": doc["accuracy_95"], "gap": gap, "val": summary.get("val_accuracy"),
            "train_s": summary.get("train_wall_seconds"), "epochs": summary.get("epochs_done"),
            "kept": next((c["name"] for c in doc.get("compile", {}).get("candidates", []) if c["kept"]),
                         "calibrated" if doc.get("compile", {}).get("calibrated") else "not calibrated"),
            "same": doc["prediction_agreement"]["bit-accurate_vs_chip-grid"],
            "dead": "; ".join(f"{r['dead_float']} / {r['dead_chip']} of {r['neurons']}"
                              for r in doc["firing_rates"] if r["kind"] == "hidden")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", type=Path, required=True)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--note", default="", help="what else ran on the machine (goes into the doc)")
    args = ap.parse_args()
    rows = [r for r in (read_run(run) for run in args.runs) if r is not None]
    lines = ["## Every chip with a real task (`benchmarks/chip_tasks.py`)", "",
             f"Machine: {machine()}. {args.note} "
             "Each row: `spikeline train --chip C` with the task's preset (hyperparameters chosen on the validation "
             "split only), `spikeline compile` (calibrated), `spikeline verify` on the whole test split. Accuracies "
             "with 95 % Wilson intervals; the gap is bit-accurate minus chip-grid with its exact paired interval "
             "(on the samples whose correctness differs).", "",
             "| task | chip | network | seed | val | float | chip grid | bit-accurate | gap (95 %) | same decision | "
             "dead hidden (float / chip) | kept candidate | training |", "|---" * 13 + "|"]

    def acc(r, k):
        lo, hi = r["ci"][k]
        return f"{100 * r['acc'][k]:.2f} % ({100 * lo:.1f}..{100 * hi:.1f})"

    groups = defaultdict(list)
    for r in rows:
        groups[(r["task"], r["chip"])].append(r)
        g = r["gap"]
        val = "-" if r["val"] is None else f"{100 * r['val']:.1f} %"
        lines.append(f"| {r['task']} | {r['chip']} | {r['sizes']} | {r['seed']} | {val} | "
                     f"{acc(r, 'float')} | {acc(r, 'chip-grid')} | {acc(r, 'bit-accurate')} | "
                     f"{100 * g['difference']:+.2f} pp ({100 * g['low']:+.1f}..{100 * g['high']:+.1f}) | "
                     f"{100 * r['same']:.1f} % | {r['dead']} | {r['kept']} | "
                     f"{r['epochs']} epochs, {r['train_s']:.0f} s |")
        print(r["task"], r["chip"], r["seed"], {k: round(100 * v, 2) for k, v in r["acc"].items()})
    lines += ["", "Over seeds (test samples pooled: every seed's decisions on the same test split):", "",
              "| task | chip | seeds | float mean | chip grid mean | bit-accurate mean | gap mean | "
              "differing decisions (bit-accurate vs chip grid correctness) |", "|---|---|---|---|---|---|---|---|"]
    for (task, chip), rs in groups.items():
        def mean(k, rs=rs):
            return sum(r["acc"][k] for r in rs) / len(rs)

        gap = sum(r["gap"]["difference"] for r in rs) / len(rs)
        differing = sum(r["gap"]["differing"] for r in rs)
        total = sum(r["samples"] for r in rs)
        lines.append(f"| {task} | {chip} | {len(rs)} | {100 * mean('float'):.2f} % | "
                     f"{100 * mean('chip-grid'):.2f} % | "
                     f"{100 * mean('bit-accurate'):.2f} % | {100 * gap:+.2f} pp | {differing} of {total} |")
    if not args.no_write:
        print("wrote", update_section("chip-tasks", "\n".join(lines)))


if __name__ == "__main__":
    main()
