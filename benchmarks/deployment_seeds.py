"""The deployment gap (bit-accurate minus chip-grid test accuracy) over several training seeds.

One test split measures a network's gap with a standard error of about sqrt(d / n) (d: fraction of differing
decisions, n: test samples), about 1 pp for digits' 270 samples. Networks trained with other seeds show how
much of a single figure is the compiler and how much is the draw. This script only reads the verify reports
that ``benchmarks/deployment_accuracy.py`` wrote (``ROOT/TASK/deploy/verify/report.json``), one ROOT per seed,
and writes the "deployment-seeds" section of docs/benchmarks.md:

    spikeline train --task digits --seed 1 --out runs/seed1/digits
    python -m benchmarks.deployment_accuracy --runs runs/seed1 --tasks digits --finetune --no-write
    python -m benchmarks.deployment_seeds --roots runs runs/seed1 runs/seed2 [--tasks digits ...] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from benchmarks.report import machine, update_section


def read_gap(root: Path, task: str) -> dict | None:
    """Test accuracies, gap and differing decisions of ``root/task``'s verify report (``None`` if absent)."""
    path = root / task / "deploy" / "verify" / "report.json"
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    seed = json.loads((root / task / "network.json").read_text())["metadata"].get("seed")
    return {"seed": seed, "samples": doc["samples"], "chip_grid": doc["accuracy"]["chip-grid"],
            "bit_accurate": doc["accuracy"]["bit-accurate"], "gap_pp": doc["gap_bit_accurate_vs_chip_grid_pp"],
            "differ": 1.0 - doc["prediction_agreement"]["bit-accurate_vs_chip-grid"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--roots", nargs="+", type=Path, default=[Path("runs"), Path("runs/seed1"), Path("runs/seed2")])
    ap.add_argument("--tasks", nargs="+", default=["yinyang", "digits", "fsdd"])
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    lines = ["## Deployment gap over training seeds (`benchmarks/deployment_seeds.py`)", "",
             f"Machine: {machine()}. Each task's preset trained with seeds 0, 1 and 2 (seed 0 is the network of the "
             "tables above), each compiled and verified on the whole test split by "
             "`benchmarks/deployment_accuracy.py` as above (no fine-tuning). Per seed: bit-accurate minus "
             "chip-grid test accuracy, and in brackets the fraction of test decisions that differ. The mean's "
             "standard error is the spread of the seeds' gaps divided by sqrt(number of seeds).", "",
             "| task | test samples | gap per seed (differing decisions) | mean gap | standard error of the mean |",
             "|---|---|---|---|---|"]
    for task in args.tasks:
        gaps = [g for g in (read_gap(root, task) for root in args.roots) if g is not None]
        if not gaps:
            print(f"{task}: no verify report under {', '.join(map(str, args.roots))}; skipped")
            continue
        values = [g["gap_pp"] for g in gaps]
        mean = sum(values) / len(values)
        sem = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))
               if len(values) > 1 else float("nan"))
        per_seed = "; ".join(f"seed {g['seed']}: {g['gap_pp']:+.2f} pp ({100 * g['differ']:.1f} %)" for g in gaps)
        lines.append(f"| {task} | {gaps[0]['samples']} | {per_seed} | **{mean:+.2f} pp** | {sem:.2f} pp |")
        print(task, per_seed, f"mean {mean:+.2f} pp, sem {sem:.2f} pp")
    if not args.no_write:
        print("wrote", update_section("deployment-seeds", "\n".join(lines)))


if __name__ == "__main__":
    main()
