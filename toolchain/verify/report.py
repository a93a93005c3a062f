"""The verify report: Markdown + JSON + figures (float vs chip raster of one sample, accuracy chart)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from hw_models.atomic import atomic_save_with, atomic_write_text
from toolchain.verify.runner import VerifyResult

ORDER = ("float", "chip-grid", "bit-accurate")


def to_dict(res: VerifyResult) -> dict:
    return {
        "task": res.task, "split": res.split, "chip": res.chip, "dt": res.dt, "decision": res.rule,
        "samples": int(res.labels.size),
        "accuracy": {k: res.models[k].accuracy for k in ORDER},
        "gap_bit_accurate_vs_chip_grid_pp": 100 * (res.accuracy("bit-accurate") - res.accuracy("chip-grid")),
        "gap_chip_grid_vs_float_pp": 100 * (res.accuracy("chip-grid") - res.accuracy("float")),
        "prediction_agreement": {
            "bit-accurate_vs_chip-grid": float(np.mean(res.models["bit-accurate"].predictions
                                                       == res.models["chip-grid"].predictions)),
            "chip-grid_vs_float": float(np.mean(res.models["chip-grid"].predictions
                                               == res.models["float"].predictions))},
        "confusion": {k: res.models[k].confusion.tolist() for k in ORDER},
        "layers": res.layer_agreement, "rails": res.rails,
        "seconds": {k: res.models[k].seconds for k in ORDER},
    }


def to_markdown(res: VerifyResult, figures: dict[str, str]) -> str:
    d = to_dict(res)
    acc = d["accuracy"]
    lines = [f"# Verify: {res.task} ({res.split} split, {d['samples']} samples) on {res.chip}", "",
             f"dt = {res.dt:g} s, decision rule: {res.rule}.", "",
             "| model | accuracy | seconds |", "|---|---|---|"]
    lines += [f"| {k} | {100 * acc[k]:.2f} % | {d['seconds'][k]:.2f} |" for k in ORDER]
    lines += ["", f"Bit-accurate minus chip-grid: **{d['gap_bit_accurate_vs_chip_grid_pp']:+.2f} pp**; "
              f"chip-grid minus float: {d['gap_chip_grid_vs_float_pp']:+.2f} pp. Same prediction, bit-accurate vs "
              f"chip-grid: {100 * d['prediction_agreement']['bit-accurate_vs_chip-grid']:.1f} % of samples.", ""]
    if "accuracy" in figures:
        lines += [f"![accuracy]({figures['accuracy']})", ""]
    lines += ["## Spikes per layer: chip-grid model vs bit-accurate simulator", "",
              "| layer | spikes/sample grid | spikes/sample chip | equal counts | count corr. | fire in both "
              "| only grid | only chip | first-spike step diff (mean) | same step | within 1 step |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["layers"]:
        def pct(x):
            return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"

        corr = r["count_correlation"]
        lines.append(
            f"| {r['layer']} | {r['spikes_per_sample_grid']:.2f} | {r['spikes_per_sample_chip']:.2f} | "
            f"{pct(r['count_equal_fraction'])} | {'-' if math.isnan(corr) else f'{corr:.3f}'} | {r['fires_in_both']} | "
            f"{r['fires_only_grid']} | {r['fires_only_chip']} | {r['first_spike_step_diff_mean']:+.2f} | "
            f"{pct(r['first_spike_same_step'])} | {pct(r['first_spike_within_1_step'])} |")
    rails = d["rails"]
    lines += ["", "Integer states against the int16 rail (32767): "
              + "; ".join(f"{k} max |x| {v['max_abs']}, {100 * v['at_rail_fraction']:.3f} % at the rail"
                          for k, v in rails.items()) + ".", ""]
    if "raster" in figures:
        lines += ["## One sample, float vs chip", "", f"![raster]({figures['raster']})", ""]
    lines += ["## Confusion matrices (rows: label; columns: decision, last = none)", ""]
    for k in ORDER:
        m = res.models[k].confusion
        n = m.shape[0]
        lines += [f"**{k}**", "", "| | " + " | ".join(map(str, range(n))) + " | none |",
                  "|---" * (n + 2) + "|"]
        lines += [f"| {i} | " + " | ".join(str(x) for x in row) + " |" for i, row in enumerate(m)]
        lines.append("")
    return "\n".join(lines)


def _figures(res: VerifyResult, out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    acc = [100 * res.models[k].accuracy for k in ORDER]
    fig, ax = plt.subplots(figsize=(4.5, 3))
    bars = ax.bar(ORDER, acc, color=["#4c72b0", "#55a868", "#c44e52"])
    ax.bar_label(bars, fmt="%.1f %%")
    ax.set_ylim(0, 105)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{res.task} on {res.chip}")
    fig.tight_layout()
    atomic_save_with(out / "accuracy.png", lambda fh: fig.savefig(fh, format="png", dpi=110))
    plt.close(fig)
    files["accuracy"] = "accuracy.png"

    fwd, chip_layers = res.sample_forward, res.sample_chip_layers
    if fwd is not None and chip_layers:
        n_panels = len(chip_layers)
        fig, axes = plt.subplots(n_panels, 1, figsize=(7, 2.2 * n_panels), sharex=True, squeeze=False)
        for layer, ax in enumerate(axes[:, 0]):
            sp = fwd.layers[layer]
            ax.scatter(sp.times * 1e3, sp.neurons, s=9, marker="|", color="#4c72b0", label="float (exact)")
            steps, neurons = np.nonzero(chip_layers[layer])
            ax.scatter((steps + 0.5) * res.dt * 1e3, neurons, s=14, marker="x", color="#c44e52",
                       label="chip (step centre)")
            ax.yaxis.get_major_locator().set_params(integer=True)
            ax.set_ylabel("readout" if layer == n_panels - 1 and len(fwd.layers) == n_panels else f"layer {layer + 1}")
        axes[0, 0].legend(loc="upper right", fontsize=7)
        axes[-1, 0].set_xlabel("time (ms)")
        fig.suptitle(f"sample 0, label {int(res.labels[0])}: float model vs bit-accurate chip")
        fig.tight_layout()
        atomic_save_with(out / "raster.png", lambda fh: fig.savefig(fh, format="png", dpi=110))
        plt.close(fig)
        files["raster"] = "raster.png"
    return files


def write_report(res: VerifyResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = _figures(res, out)
    md = atomic_write_text(out / "report.md", to_markdown(res, figures))
    js = atomic_write_text(out / "report.json", json.dumps(to_dict(res), indent=2))
    return {"markdown": md, "json": js, **{k: out / v for k, v in figures.items()}}
