"""HM2-BP on MNIST-class images, deployed bit-accurately onto a custom chip, against FP on the same network.

For each (task, engine) of :data:`RUNS`: train on the chip grid of ``examples/chips/mnist-196.json`` (the
task's preset with the run's overrides; an existing run directory is resumed or reused), compile with
calibration, and run the full test split through the float model, the chip-grid model and the bit-accurate
simulator (``spikeline verify``). Writes the "hm2bp" section of docs/benchmarks.md.

    python -m benchmarks.hm2bp [--runs runs/bench] [--only mnist5k-hm2bp ...] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.report import machine, update_section
from hw_models.chips import load_chip_file
from toolchain.compile import compile_network
from toolchain.network import load_network
from toolchain.train.presets import preset_config
from toolchain.train.trainer import train
from toolchain.verify import verify, write_report

CHIP = Path(__file__).resolve().parent.parent / "examples" / "chips" / "mnist-196.json"
#: FP trains the same network on the spike-time loss (first-spike cross-entropy, decided by the first spike)
#: (readout weights start a little positive and silent readouts are bumped: a silent readout has no FP gradient)
FP = {"engine": "fp", "loss": "first-spike", "loss_options": {}, "init_psp": [[0.02, 0.05], [0.01, 0.03]],
      "bump": 2e-3, "bump_silent": [0.9, 0.5]}
#: full 28x28 images (784 inputs, no downsampling) on a 784-input chip; the input PSPs scaled for 4x the inputs
#: (the mean by 1/4, the spread by 1/2, so the hidden layer's initial drive matches the 14x14 runs')
FULL_SIZE = {"chip": str(CHIP.with_name("fashion-784.json")), "task_options": {"factor": 1},
             "init_psp": [[0.005, 0.025], [0.01, 0.03]]}
#: HM2-BP with the count cross-entropy (see fashion-hm2bp-ce below)
CE = {"loss": "spike-count", "loss_options": {"gain": 0.5}, "lr": 5e-3, "gamma": 0.5, "average": 0.999, "epochs": 6}
#: the count cross-entropy with the hidden penalty (docs/training.md) and the hidden layer learning at 0.3x the rate
PENALTY = {"loss_options": {**CE["loss_options"], "hidden_penalty": 0.01, "hidden_ceiling": 40}, "lr_scale": [0.3, 1.0]}
#: the `fashion` preset before it became the 40 ms count cross-entropy (2026-12-08): every Fashion-MNIST run
#: below but `fashion-hm2bp-ce-t40` starts from it, so each keeps the settings it was trained with
FASHION_20MS = {"task_options": {}, "t_end": 0.02, "loss": "count-mse",
                "loss_options": {"desired": 8.0, "undesired": 1.0, "margin": 1.0}, "epochs": 5, "lr": 5e-4,
                "gamma": 0.9, "average": 0.0}
#: a 40 ms trial: 36 steps of the rate code (the task's default: 16 in 20 ms)
LONG_TRIAL = {"task_options": {"n_steps": 36}, "t_end": 0.04}
#: run name -> (task, overrides of the task's preset); the sizes of the runs fit a 2-core machine's session
RUNS: dict[str, tuple[str, dict]] = {
    "mnist5k-hm2bp": ("mnist5k", {}),
    "mnist5k-hm2bp-float": ("mnist5k", {"mode": "float"}),
    "mnist5k-fp": ("mnist5k", FP),
    "fashion-hm2bp": ("fashion", {**FASHION_20MS}),
    # the preset's rate then: validation swung 40-68 %
    "fashion-hm2bp-lr2e-3": ("fashion", {**FASHION_20MS, "lr": 2e-3, "epochs": 10}),
    # count cross-entropy (|dE/do| <= gain, where count-mse's errors of up to ~20 spikes gave gradient norms of
    # 10^3-10^4) at a 10x rate, averaged; chosen on 10000 training / 2000 validation images over 3 epochs
    # (validation: count-mse 72.2 % after 2; gain 0.5 at lr 5e-4 78.4, 2e-3 81.3, 5e-3 82.1, 1e-2 80.5 %;
    # gain 1 at 5e-4 77.8 %); on all 55000 images lr 5e-3 (gamma 0.9) reached 83.8 and 85.1 % in 2 epochs, then
    # the hidden layer fell to ~170 spikes per sample and blew up to 5600 (56.4 %); 2e-3 with the gradient norm
    # clipped at 10 blew up in the first epoch. So: 5e-3, halved every epoch (gain 2 at that rate blew up in the
    # first epoch too). Its readouts burst where the chip fires once per step: docs/benchmarks.md
    "fashion-hm2bp-ce": ("fashion", {**FASHION_20MS, **CE}),
    # the same on full-size images (784 inputs; input PSPs scaled for 4x the inputs as in FULL_SIZE: mean / 4,
    # spread / 2), and on 14x14 images for longer with a slower decay of the rate. Before HM2-BP's readout rule both
    # blew up (the hidden layer ran away: 784 in epoch 2, -12 in epoch 6 after 86.4 % validation at epoch 5); -12,
    # rerun with the rule, trains through its 12 epochs (docs/benchmarks.md)
    "fashion-hm2bp-ce-784": ("fashion", {**FASHION_20MS, **CE, **FULL_SIZE, "init_psp": [[0.005, 0.025], [0.0, 0.03]]}),
    "fashion-hm2bp-ce-12": ("fashion", {**FASHION_20MS, **CE, "gamma": 0.7, "epochs": 12}),
    # against the runaway: the count losses' hidden penalty past 40 spikes per trial, and the hidden layer's rate
    # at 0.3x. Without the slower hidden layer the 784-input run's hidden layer fell silent instead (97 % of the
    # neurons, 62 % validation after one epoch); 0.01 past 10 spikes starved it (validation 77 -> 61 % over 12
    # epochs). The 15-epoch run still ran away in epoch 9 (every hidden neuron near 36 spikes, under the ceiling);
    # its saved network is epoch 7's. These two, like fashion-hm2bp-ce, were trained before HM2-BP's readout rule
    # (hm2bp.readout_error): a rerun from scratch gives other figures (docs/benchmarks.md)
    "fashion-hm2bp-ce-pen": ("fashion", {**FASHION_20MS, **CE, **PENALTY, "epochs": 15, "gamma": 0.8}),
    "fashion-hm2bp-ce-784-pen": ("fashion", {**FASHION_20MS, **CE, **FULL_SIZE,
                                              "init_psp": [[0.005, 0.025], [0.0, 0.03]],
                                              **PENALTY}),
    # with HM2-BP's readout rule (a silent readout asked to fire less gets no error; docs/gradients.md) and no
    # penalty: twice the hidden layer (its readout weights' spread scaled by 1 / sqrt(2)), 8 epochs at gamma 0.6
    # the -12 recipe with the readout penalty past 16 spikes per trial (the chip's readouts fire at most once per
    # step, 20 in the trial). Trained before the option existed, with the same penalty written into the kernel
    # (the same arithmetic; its checkpoint's settings lack the two options)
    "fashion-hm2bp-ce-12-rc": ("fashion", {**FASHION_20MS, **CE, "gamma": 0.7, "epochs": 12, "loss_options": {
        **CE["loss_options"], "readout_penalty": 0.05, "readout_ceiling": 16}}),
    "fashion-hm2bp-ce-600": ("fashion", {**FASHION_20MS, **CE, "hidden": [600],
                                         "init_psp": [[0.02, 0.05], [0.0, 0.021]],
                                         "epochs": 8, "gamma": 0.6}),
    "fashion-hm2bp-ce-600-rc": ("fashion", {**FASHION_20MS, **CE, "hidden": [600],
                                            "init_psp": [[0.02, 0.05], [0.0, 0.021]],
                                            "epochs": 8, "gamma": 0.6, "loss_options": {
                                                **CE["loss_options"], "readout_penalty": 0.05,
                                                "readout_ceiling": 16}}),
    # the -12-rc recipe on a 40 ms trial: the rate code stretched from 16 to 36 steps (the same 0.5 events per pixel
    # and step, so twice the events; 4 steps after it for the readouts), the readout ceiling at 32 of the chip's 40
    # steps. More steps give the counts twice the range and HM2-BP's rates more spikes to average over
    "fashion-hm2bp-ce-t40": ("fashion", {"lr": 5e-3, "gamma": 0.7}),
    # the same at half the rate, decayed more slowly: the `fashion` preset since 2026-12-08
    "fashion-hm2bp-t40": ("fashion", {}),
    # the preset with twice the hidden layer (its readout weights' spread scaled by 1 / sqrt(2))
    "fashion-hm2bp-t40-600": ("fashion", {"hidden": [600], "init_psp": [[0.02, 0.05], [0.0, 0.021]]}),
    "fashion-fp": ("fashion", {**FASHION_20MS, **FP, "epochs": 3}),
    # the same, longer: 37 s per epoch on a quiet machine
    "fashion-fp-15": ("fashion", {**FASHION_20MS, **FP, "epochs": 15}),
    "fashion-fp-784": ("fashion", {**FASHION_20MS, **FP, **FULL_SIZE, "epochs": 15}),
    # the same with parameter averaging (an exponential moving average over about 1000 steps, 0.6 epoch), longer
    "fashion-fp-784-avg": ("fashion", {**FASHION_20MS, **FP, **FULL_SIZE, "epochs": 18, "average": 0.999}),
    # the same on a chip clock twice as fine (0.5 ms: readouts tie within one step half as often); the inputs keep
    # their rate per millisecond (40 steps of up to 0.25 events); dashes one higher keep the time constants within 8 %
    "fashion-fp-784-avg-fine": ("fashion", {**FASHION_20MS, **FP, **FULL_SIZE, "epochs": 18, "average": 0.999,
                                            "dt": 5e-4,
                                            "task_options": {**FULL_SIZE["task_options"], "n_steps": 40,
                                                             "max_rate": 0.25},
                                            "dash_syn": [3, 3], "dash_mem": [4, 4]}),
    # Xylo Audio 2 (8 readouts): 10 digits through the Hadamard output code, counts decided by argmax C @ counts
    "digits-hm2bp": ("digits", {"chip": "xylo-audio2", "dt": 1e-3, "task_options": {"max_count": 4}, "clock": False,
                                "hidden": [200], "dash_syn": [2, 2], "dash_mem": [3, 3], "lr_scale": None,
                                "init_psp": [[0.05, 0.1], [0.0, 0.05]], "loss": "count-mse", "engine": "hm2bp",
                                "loss_options": {"desired": 6.0, "undesired": 1.0, "margin": 1.0}, "t_end": 0.012,
                                "epochs": 10, "batch_size": 16, "lr": 3e-3, "gamma": 0.9}),
}


#: runs compiled without the health check: with calibration, 2-3 of the 10 readouts still reach the int16 rail
#: on the calibration samples (the compile refuses that by default); the bit-accurate column shows what it costs.
#: FP's first-spike readouts pass: the check reads only the states that can change a first-spike decision
#: (docs/compiler.md), and a losing readout on the negative rail cannot
NO_HEALTH_CHECK = {"fashion-hm2bp", "fashion-hm2bp-lr2e-3"}


def run_one(name: str, root: Path) -> dict:
    """Train (or reuse) the run, then compile and verify it (cached in ``deploy/result.json``)."""
    task, overrides = RUNS[name]
    out = root / name
    config = preset_config(task, **{"chip": str(CHIP), **overrides})
    if not (out / "summary.json").exists() or "test_accuracy" not in json.loads((out / "summary.json").read_text()):
        train(config, out, resume=(out / "last.ckpt").exists())
    summary = json.loads((out / "summary.json").read_text())
    cached = out / "deploy" / "result.json"
    if cached.exists():
        return {**json.loads(cached.read_text()), "summary": summary, "out": out}
    net = load_network(out / "network.json")
    t0 = time.perf_counter()
    chip_config, report = compile_network(net, net.metadata["chip"], check_health=name not in NO_HEALTH_CHECK)
    (out / "deploy").mkdir(exist_ok=True)
    chip_config.save(out / "deploy" / "config.json")
    result = verify(net, chip_config, compile_options=report.to_dict())
    write_report(result, out / "deploy" / "verify")
    acc = {k: result.accuracy(k) for k in ("float", "chip-grid", "bit-accurate")}
    differ = float(np.mean(result.models["chip-grid"].predictions != result.models["bit-accurate"].predictions))
    res = {"accuracy": acc, "differ": differ, "samples": int(result.labels.size), "deploy_seconds":
           time.perf_counter() - t0, "settings": config.settings()}
    cached.write_text(json.dumps(res, indent=1))
    return {**res, "summary": summary, "out": out}


#: issue 16's targets: bit-accurate test accuracy, and |bit-accurate - chip grid| <= 0.5 pp
TARGETS = {"fashion-hm2bp": 0.88, "fashion-hm2bp-t40": 0.88, "mnist5k-hm2bp": 0.95}
MAX_GAP_PP = 0.5


def verdict(name: str, acc: dict) -> str:
    if name not in TARGETS:
        return "-"
    gap = 100 * abs(acc["bit-accurate"] - acc["chip-grid"])
    ok_acc, ok_gap = acc["bit-accurate"] >= TARGETS[name], gap <= MAX_GAP_PP
    return (f"{'met' if ok_acc else 'missed'} (>= {100 * TARGETS[name]:.0f} %), gap "
            f"{'met' if ok_gap else 'missed'} (<= {MAX_GAP_PP} pp)")


def table(results: dict[str, dict]) -> str:
    lines = ["## HM2-BP on MNIST-class images, bit-accurate on a custom chip (`benchmarks/hm2bp.py`)", "",
             f"Machine: {machine()}; the runs went two at a time side by side (one per core; FP's batched engine "
             "asks for both, so its epochs shared a core with the other run), so wall times per epoch are those of "
             "a busy 2-core machine, comparable between the rows. The HM2-BP Fashion-MNIST runs of "
             f"`NO_HEALTH_CHECK` ({', '.join(sorted(NO_HEALTH_CHECK))}) are compiled without the health check "
             "(after calibration 2-3 of their 10 count readouts still reach the int16 rail on the calibration "
             "samples, which the compiler refuses by default): the bit-accurate column is what that costs; the "
             "others with the default, health-checked compile. "
             "Chip: `examples/chips/mnist-196.json` (Xylo Audio 2 arithmetic, 196 inputs, 10 readouts; the `-784` "
             "runs: `examples/chips/fashion-784.json`, full-size 28x28 images, 784 inputs). Network 196-300-10 "
             "(784-300-10), tau_syn = tau(2) = 3.5 ms, tau_mem = tau(3) = 7.5 ms, 1 ms steps, 16-step rate code "
             "(`-fine`: 0.5 ms steps, 40-step code of up to 0.25 events, tau(3) = 3.7 ms and tau(4) = 7.7 ms), "
             "20 ms trial (`-t40`: 36-step code, 40 ms trial; `-600`: 600 hidden neurons), trained on the chip "
             "grid (int8 weights, on-grid thresholds). HM2-BP: `count-mse` (desired 8, undesired 1, margin 1; "
             "`-ce` and `-t40`: the count cross-entropy, see `RUNS`), decided by the most output spikes; FP: the "
             "same network with "
             "the first-spike cross-entropy, decided by the first spike. Float / chip grid / bit-accurate: the "
             "saved network (best validation epoch) as a float model, its chip-grid twin, and the compiled "
             "configuration in the bit-accurate simulator, on the full test split. `digits-hm2bp`: scikit-learn "
             "digits on Xylo Audio 2 (8 inputs, rows in time, 8-200-8 with the 10-on-8 Hadamard output code, "
             "counts decided by argmax C @ counts), to set against the FP preset's figures in the sections above.",
             "",
             "| run | chip | train samples x epochs | test samples | float | chip grid | bit-accurate | "
             "bit-accurate minus chip grid | differing decisions | wall time per epoch | test spikes per sample | "
             "target |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        a, s = r["accuracy"], r["summary"]
        n_train = r["settings"].get("train_subset") or "all"
        if a is None:  # trained, not compiled: the trainer's test accuracy is the chip-grid network's
            lines.append(f"| {name} | {s['chip'].rsplit('/', 1)[-1]} | {n_train} x {s['epochs_done']} | "
                         f"{s['n_test']} | not run | {100 * s['test_accuracy']:.2f} % | not run | - | - | "
                         f"{s['train_wall_seconds'] / s['epochs_done']:.0f} s | {s['test_spikes_per_sample']:.0f} | "
                         f"{'missed (not deployed)' if name in TARGETS else '-'} |")
            continue
        lines.append(f"| {name} | {s['chip'].rsplit('/', 1)[-1]} | {n_train} x {s['epochs_done']} | {r['samples']} | "
                     f"{100 * a['float']:.2f} % | "
                     f"{100 * a['chip-grid']:.2f} % | {100 * a['bit-accurate']:.2f} % | "
                     f"**{100 * (a['bit-accurate'] - a['chip-grid']):+.2f} pp** | {100 * r['differ']:.2f} % | "
                     f"{s['train_wall_seconds'] / s['epochs_done']:.0f} s | {s['test_spikes_per_sample']:.0f} | "
                     f"{verdict(name, a)} |")
    lines += ["", "Validation accuracy after each epoch (from each run's `metrics.jsonl`; the saved network is the "
              "best epoch). MNIST-5k: the same 20 epochs for every engine and mode. Fashion-MNIST (all 55000 "
              "training images, 5000 for validation): the epochs of the table's column, within a session's CPU budget:",
              ""]
    for name, r in results.items():
        history = [json.loads(line) for line in (r["out"] / "metrics.jsonl").read_text().splitlines() if line]
        lines.append(f"- {name}: " + ", ".join(f"{100 * h['val_accuracy']:.1f}" for h in history) + " %")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs/bench")
    ap.add_argument("--only", nargs="*", default=list(RUNS), choices=list(RUNS))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="tabulate the runs already deployed; train nothing")
    args = ap.parse_args()
    load_chip_file(CHIP)
    load_chip_file(FULL_SIZE["chip"])
    results = {}
    for name in args.only:
        if args.report_only and not (Path(args.runs) / name / "deploy" / "result.json").exists():
            summary = Path(args.runs) / name / "summary.json"
            if summary.exists() and "test_accuracy" in json.loads(summary.read_text()):
                results[name] = {"summary": json.loads(summary.read_text()), "accuracy": None, "out": summary.parent,
                                 "settings": preset_config(RUNS[name][0], **{"chip": str(CHIP), **RUNS[name][1]})
                                 .settings()}
            print(name, "not deployed: trainer figures only" if name in results else "not trained: skipped")
            continue
        results[name] = run_one(name, Path(args.runs))
        print(name, json.dumps(results[name]["accuracy"]))
    text = table(results)
    print(text)
    if not args.no_write:
        print("wrote", update_section("hm2bp", text))


if __name__ == "__main__":
    main()
