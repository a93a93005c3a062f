"""Float vs chip-grid vs bit-accurate test accuracy of trained networks, and in-the-loop fine-tuning.

For each task's run directory (written by benchmarks/train_accuracy.py; default runs/<task>/): compile for
the run's chip (calibrated on training data), verify on the full test split, and optionally fine-tune with
the bit-accurate simulator in the loop and verify again. Writes the "deployment" section of
docs/benchmarks.md.

    python -m benchmarks.deployment_accuracy [--tasks yinyang digits fsdd] [--finetune yinyang digits]
        [--finetune-epochs 3] [--runs runs] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from benchmarks.report import machine, update_section
from hw_models.config import load_config
from toolchain.compile import compile_network
from toolchain.compile.report import report_from_dict
from toolchain.network import load_network
from toolchain.verify import verify, write_report


def evaluate(network_path: Path, out: Path, config_path: Path | None = None) -> dict:
    """Compile (calibrated) and verify; with ``config_path``, verify that configuration as deployed instead
    (a fine-tuned network goes to the chip with the configuration fine-tuning produced)."""
    net = load_network(network_path)
    t0 = time.perf_counter()
    if config_path is None:
        config, report = compile_network(net, net.metadata.get("chip", "xylo-audio2"))
        config.save(out / "config.json")
        report.save(out / "config.report")
        options = report.to_dict()
    else:
        config = load_config(config_path)
        options = json.loads(config_path.with_name(config_path.stem + ".report.json").read_text())
        report = report_from_dict(options)
    result = verify(net, config, compile_options=options)
    write_report(result, out / "verify")
    acc = {k: result.accuracy(k) for k in ("float", "chip-grid", "bit-accurate")}
    differ = float(np.mean(result.models["chip-grid"].predictions != result.models["bit-accurate"].predictions))
    val = verify(net, config, split="val", compile_options=options)  # a second, independent look at the gap
    return {"accuracy": acc, "gap_pp": 100 * (acc["bit-accurate"] - acc["chip-grid"]), "differ": differ,
            "stderr_pp": 100 * math.sqrt(differ / result.labels.size),
            "val_gap_pp": 100 * (val.accuracy("bit-accurate") - val.accuracy("chip-grid")),
            "samples": int(result.labels.size), "chip": config.chip, "seconds": time.perf_counter() - t0,
            "notes": report.warnings}


def kept_candidate(notes: list[str]) -> str:
    """The calibration candidate the compiler kept, from its report's notes."""
    for note in notes:
        if note.startswith("kept the candidate '"):
            return note.split("'")[1]
    return "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["yinyang", "digits", "fsdd"])
    ap.add_argument("--finetune", nargs="*", default=["yinyang", "digits"])
    ap.add_argument("--finetune-epochs", type=int, default=3)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from toolchain.inloop.finetune import finetune

    rows, ft_rows = [], []
    for task in args.tasks:
        run = Path(args.runs) / task
        if not (run / "network.json").exists():
            print(f"{task}: no trained run at {run} (run benchmarks/train_accuracy.py first); skipped")
            continue
        res = evaluate(run / "network.json", run / "deploy")
        rows.append((task, res))
        print(task, json.dumps(res["accuracy"]), f"gap {res['gap_pp']:+.2f} pp")
        if task in (args.finetune or []):
            t0 = time.perf_counter()
            ft = finetune(run, run / "finetuned", backend="sim", epochs=args.finetune_epochs)
            after = evaluate(run / "finetuned" / "network.json", run / "finetuned" / "deploy",
                             run / "finetuned" / "config.json")
            ft_rows.append((task, res, ft.summary, after, time.perf_counter() - t0))
            print(task, "fine-tuned:", json.dumps(after["accuracy"]))
    lines = ["## Deployment: float vs chip grid vs bit-accurate (`benchmarks/deployment_accuracy.py`)", "",
             f"Machine: {machine()}. Each trained network (benchmarks/train_accuracy.py) compiled with calibration on "
             "its first 200 training samples: threshold headroom 2, 1 or 0 bits, shifts lowered until the states stay "
             "below half or 7/8 of the int16 range, thresholds as trained, rate matched or divided by the kernel gain; "
             "of these candidates the one "
             "whose decisions agree most often with the float model's on 1000 training samples is kept (last "
             "column). Then the whole test split runs through the float model, the chip-grid model and the "
             "bit-accurate simulator (`spikeline verify`). Target: bit-accurate within 1.0 pp of the chip-grid model. "
             "The same difference on the validation split is shown for comparison; it is biased low, because the "
             "validation split chose the training epoch (the float model's validation accuracy is optimistic, the "
             "chip's is not). When a fraction d of the test decisions differ between the two models, the split's n "
             "samples measure the gap with a standard error of about sqrt(d / n) (column 'differing decisions').",
             "",
             "| task | chip | test samples | float | chip grid | bit-accurate | bit-accurate minus chip grid | "
             "differing decisions (d), sqrt(d / n) | same on the validation split | calibration kept |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for task, r in rows:
        a = r["accuracy"]
        lines.append(f"| {task} | {r['chip']} | {r['samples']} | {100 * a['float']:.2f} % | "
                     f"{100 * a['chip-grid']:.2f} % | {100 * a['bit-accurate']:.2f} % | **{r['gap_pp']:+.2f} pp** | "
                     f"{100 * r['differ']:.1f} %, {r['stderr_pp']:.2f} pp | {r['val_gap_pp']:+.2f} pp | "
                     f"{kept_candidate(r['notes'])} |")
    if ft_rows:
        lines += ["", "### In-the-loop fine-tuning (`spikeline finetune`, bit-accurate simulator in the loop)", "",
                  f"{args.finetune_epochs} epochs; the epoch with the best bit-accurate *validation* accuracy is kept; "
                  "test accuracy before and after. The fine-tuned network is again a chip-grid network: its own "
                  "chip-grid test accuracy and the gap of its deployed configuration are in the last columns, and "
                  "the trained network's chip-grid accuracy (the table above) is repeated for comparison.", "",
                  "| task | bit-accurate test before | bit-accurate test after | change | val before -> after | "
                  "fine-tuning time | chip grid, trained | chip grid, fine-tuned | bit-accurate after minus "
                  "chip grid fine-tuned | minus chip grid trained |", "|---|---|---|---|---|---|---|---|---|---|"]
        for task, before, summary, after, secs in ft_rows:
            b, a = before["accuracy"]["bit-accurate"], after["accuracy"]["bit-accurate"]
            g0, g1 = before["accuracy"]["chip-grid"], after["accuracy"]["chip-grid"]
            vb, va = summary["bit_accurate_before"]["val"], summary["bit_accurate_after"]["val"]
            lines.append(f"| {task} | {100 * b:.2f} % | {100 * a:.2f} % | {100 * (a - b):+.2f} pp | "
                         f"{100 * vb:.2f} % -> {100 * va:.2f} % | {secs:.0f} s | {100 * g0:.2f} % | {100 * g1:.2f} % | "
                         f"**{100 * (a - g1):+.2f} pp** | **{100 * (a - g0):+.2f} pp** |")
    if not args.no_write:
        print("wrote", update_section("deployment", "\n".join(lines)))
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
