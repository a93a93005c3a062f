"""The verify report: one Markdown page + JSON + figures that tell the whole story of a deployment.

Sections: accuracy of the float model, its chip-grid twin and the bit-accurate simulation with 95 % intervals
(:mod:`toolchain.verify.stats`) and the paired differences; the compile report (resources, shifts, time constants
requested vs realised, threshold factors, calibration candidates and the one kept) when ``NAME.report.json`` is
known; firing rates per layer, float vs chip, with dead and saturated neurons; one sample's input raster, hidden
raster(s) and readout voltages, float vs chip; the training curve (``metrics.jsonl``); confusion matrices with
class names; the simulator checked against SynSense's xylosim on the first samples, when that check ran
(:mod:`toolchain.verify.xylosim`); provenance (package versions, seed, SHA-256 of network and configuration, date,
command line).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from hw_models.atomic import atomic_save_with, atomic_write_text
from toolchain.verify.runner import VerifyResult
from toolchain.verify.stats import paired_difference, wilson

ORDER = ("float", "chip-grid", "bit-accurate")
COLORS = {"float": "#4c72b0", "chip-grid": "#55a868", "bit-accurate": "#c44e52"}
#: a neuron is saturated when it fires on average at least this many spikes per step
SATURATED_RATE = 0.9
#: packages whose versions the provenance records
PACKAGES = ("spikeline", "numpy", "numba", "scipy", "pydantic", "matplotlib", "xylosim", "aeon", "scikit-learn")


# -- numbers --------------------------------------------------------------------------------------------------
def intervals(res: VerifyResult) -> dict:
    """Per model: accuracy, correct count and the Wilson 95 % interval."""
    out = {}
    for k in ORDER:
        right = res.models[k].predictions == res.labels
        lo, hi = wilson(int(right.sum()), right.size)
        out[k] = {"accuracy": float(right.mean()) if right.size else math.nan, "correct": int(right.sum()),
                  "low": lo, "high": hi}
    return out


def differences(res: VerifyResult) -> dict:
    """Paired differences: chip-grid minus float, bit-accurate minus chip-grid, bit-accurate minus float."""
    right = {k: res.models[k].predictions == res.labels for k in ORDER}
    return {f"{b} - {a}": paired_difference(right[a], right[b])
            for a, b in (("float", "chip-grid"), ("chip-grid", "bit-accurate"), ("float", "bit-accurate"))}


def firing_rates(res: VerifyResult) -> list[dict]:
    """Per spiking layer: spikes per neuron per step, float vs bit-accurate, dead (never fires on the split) and
    saturated (>= :data:`SATURATED_RATE` spikes per step) neurons."""
    rows = []
    steps = max(res.n_steps, 1)
    for layer, (cf, cc) in enumerate(zip(res.models["float"].spike_counts, res.models["bit-accurate"].spike_counts,
                                         strict=True), start=1):
        rate_f, rate_c = cf.mean(axis=0) / steps, cc.mean(axis=0) / steps
        rows.append({"layer": layer, "kind": "readout" if layer > res.n_hidden_layers else "hidden",
                     "neurons": int(cf.shape[1]), "rate_float": float(rate_f.mean()), "rate_chip": float(rate_c.mean()),
                     "dead_float": int((cf.sum(axis=0) == 0).sum()), "dead_chip": int((cc.sum(axis=0) == 0).sum()),
                     "saturated_float": int((rate_f >= SATURATED_RATE).sum()),
                     "saturated_chip": int((rate_c >= SATURATED_RATE).sum()),
                     "per_neuron_float": rate_f.tolist(), "per_neuron_chip": rate_c.tolist()})
    return rows


def to_dict(res: VerifyResult, compile_doc: dict | None = None, provenance: dict | None = None,
            training: list[dict] | None = None) -> dict:
    ci = intervals(res)
    d = {
        "task": res.task, "split": res.split, "chip": res.chip, "dt": res.dt, "decision": res.rule,
        "samples": int(res.labels.size), "class_names": res.class_names,
        "accuracy": {k: res.models[k].accuracy for k in ORDER},
        "accuracy_95": {k: [ci[k]["low"], ci[k]["high"]] for k in ORDER},
        "correct": {k: ci[k]["correct"] for k in ORDER},
        "differences": differences(res),
        "gap_bit_accurate_vs_chip_grid_pp": 100 * (res.accuracy("bit-accurate") - res.accuracy("chip-grid")),
        "gap_chip_grid_vs_float_pp": 100 * (res.accuracy("chip-grid") - res.accuracy("float")),
        "prediction_agreement": {
            "bit-accurate_vs_chip-grid": float(np.mean(res.models["bit-accurate"].predictions
                                                       == res.models["chip-grid"].predictions)),
            "chip-grid_vs_float": float(np.mean(res.models["chip-grid"].predictions
                                               == res.models["float"].predictions))},
        "confusion": {k: res.models[k].confusion.tolist() for k in ORDER},
        "layers": res.layer_agreement, "rails": res.rails,
        "firing_rates": [{k: v for k, v in r.items() if not k.startswith("per_neuron")} for r in firing_rates(res)],
        "seconds": {k: res.models[k].seconds for k in ORDER},
    }
    if res.xylosim is not None:
        d["xylosim"] = res.xylosim
    if compile_doc is not None:
        d["compile"] = compile_summary(compile_doc)
    if training:
        d["training"] = {"epochs": len(training), "best_val_accuracy": max(r.get("val_accuracy", 0) for r in training)}
    if provenance is not None:
        d["provenance"] = provenance
    return d


def compile_summary(doc: dict) -> dict:
    """What the verify report shows of a compile report (``NAME.report.json``)."""
    return {k: doc.get(k) for k in ("chip", "dt", "layer_sizes", "shifts", "headroom_bits", "gain_correction",
                                    "calibrated", "threshold_scales", "readout_attenuation", "resources")} | {
        "candidates": calibration_candidates(doc)}


_KEPT = re.compile(r"kept the candidate '([^']+)'.*? on [\d.]+ % of (\d+) training samples \(all candidates: (.*)\)$")


def calibration_candidates(doc: dict) -> list[dict]:
    """The calibration candidates (name, agreement with the float model's decisions, kept) of a compile report:
    its ``candidates`` list, or, for reports that only state them in a warning, read from that warning."""
    if doc.get("candidates"):
        return [{"name": c.get("name"), "agreement": c.get("agreement"), "kept": bool(c.get("kept")),
                 "samples": c.get("samples")} for c in doc["candidates"]]
    for w in doc.get("warnings", []):
        m = _KEPT.search(w)
        if m:
            kept, samples = m.group(1), int(m.group(2))
            out = []
            for part in m.group(3).split("; "):
                name, _, pct = part.rpartition(": ")
                out.append({"name": name, "agreement": float(pct.rstrip(" %")) / 100, "kept": name == kept,
                            "samples": samples})
            return out
    return []


def provenance(network_path: str | os.PathLike | None = None, config_path: str | os.PathLike | None = None,
               seed: int | None = None) -> dict:
    """Package versions, seed, SHA-256 of the network and configuration files, UTC date and command line."""
    from deploy.bundle import package_versions

    def digest(path):
        return None if path is None else hashlib.sha256(Path(path).read_bytes()).hexdigest()

    return {"date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]]),
            "python": sys.version.split()[0], "versions": package_versions(PACKAGES), "seed": seed,
            "network": None if network_path is None else str(network_path), "network_sha256": digest(network_path),
            "config": None if config_path is None else str(config_path), "config_sha256": digest(config_path)}


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The epochs of a training run's ``metrics.jsonl`` (empty when absent)."""
    p = Path(path)
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


# -- Markdown -------------------------------------------------------------------------------------------------
def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"


def to_markdown(res: VerifyResult, figures: dict[str, str], compile_doc: dict | None = None,
                provenance: dict | None = None, training: list[dict] | None = None) -> str:
    d = to_dict(res, compile_doc, provenance, training)
    n = d["samples"]
    names = res.class_names
    lines = [f"# Verify: {res.task} ({res.split} split, {n} samples) on {res.chip}", "",
             f"dt = {res.dt:g} s, {res.n_steps} steps per sample, decision rule: {res.rule}, classes: "
             f"{', '.join(f'{k} {c}' for k, c in enumerate(names))}.", "",
             "## Accuracy", "",
             "| model | accuracy | 95 % interval (Wilson) | correct | seconds |", "|---|---|---|---|---|"]
    for k in ORDER:
        lo, hi = d["accuracy_95"][k]
        lines.append(f"| {k} | {100 * d['accuracy'][k]:.2f} % | {100 * lo:.2f} .. {100 * hi:.2f} % | "
                     f"{d['correct'][k]} / {n} | {d['seconds'][k]:.2f} |")
    lines += ["", "Paired differences on the same samples: only the samples on which exactly one of the two models is "
              "right count; the 95 % interval is exact (binomial) given their number.", "",
              "| difference | pp | 95 % interval | only the second right | only the first right |",
              "|---|---|---|---|---|"]
    for name, x in d["differences"].items():
        lines.append(f"| {name} | **{100 * x['difference']:+.2f}** | {100 * x['low']:+.2f} .. {100 * x['high']:+.2f} | "
                     f"{x['only_b_right']} | {x['only_a_right']} |")
    lines += ["", f"Same decision, bit-accurate vs chip-grid: "
              f"{100 * d['prediction_agreement']['bit-accurate_vs_chip-grid']:.1f} % of samples; chip-grid vs float: "
              f"{100 * d['prediction_agreement']['chip-grid_vs_float']:.1f} %.", ""]
    if "accuracy" in figures:
        lines += [f"![accuracy]({figures['accuracy']})", ""]
    if compile_doc is not None:
        lines += _compile_markdown(compile_doc)
    lines += ["## Firing rates: float model vs bit-accurate chip", "",
              f"Spikes per neuron per step, mean over neurons and samples. Dead: never fires on this split; saturated: "
              f">= {SATURATED_RATE} spikes per step.", "",
              "| layer | neurons | float | chip | dead float | dead chip | saturated float | saturated chip |",
              "|---|---|---|---|---|---|---|---|"]
    for r in d["firing_rates"]:
        lines.append(f"| {r['layer']} ({r['kind']}) | {r['neurons']} | {r['rate_float']:.4f} | {r['rate_chip']:.4f} | "
                     f"{r['dead_float']} | {r['dead_chip']} | {r['saturated_float']} | {r['saturated_chip']} |")
    if res.readout == "leaky-integrator":
        lines.append(f"| {res.n_hidden_layers + 1} (readout) | {len(res.sample.get('chip_v', [[]])[0])} | leaky: "
                     "no spikes | | | | | |")
    if "rates" in figures:
        lines += ["", f"![rates]({figures['rates']})"]
    lines += ["", "## Spikes per layer: chip-grid model vs bit-accurate simulator", "",
              "| layer | spikes/sample grid | spikes/sample chip | equal counts | count corr. | fire in both "
              "| only grid | only chip | first-spike step diff (mean) | same step | within 1 step |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["layers"]:
        corr = r["count_correlation"]
        lines.append(
            f"| {r['layer']} | {r['spikes_per_sample_grid']:.2f} | {r['spikes_per_sample_chip']:.2f} | "
            f"{_pct(r['count_equal_fraction'])} | {'-' if math.isnan(corr) else f'{corr:.3f}'} | "
            f"{r['fires_in_both']} | "
            f"{r['fires_only_grid']} | {r['fires_only_chip']} | {r['first_spike_step_diff_mean']:+.2f} | "
            f"{_pct(r['first_spike_same_step'])} | {_pct(r['first_spike_within_1_step'])} |")
    lines += ["", "Integer states against the int16 rail (32767): "
              + "; ".join(f"{k} max |x| {v['max_abs']}, {100 * v['at_rail_fraction']:.3f} % at the rail"
                          for k, v in d["rails"].items()) + ".", ""]
    if res.xylosim is not None:
        lines += _xylosim_markdown(res.xylosim)
    if "sample" in figures:
        lines += ["## One sample, float vs chip", "",
                  f"Sample 0 (label {names[int(res.labels[0])]}): input raster, hidden spikes and the readout voltages "
                  "that make the decision (float: exact, at the end of each step; chip: Vmem_out in float units).", "",
                  f"![sample]({figures['sample']})", ""]
    if training:
        lines += ["## Training", "", f"{len(training)} epochs; best validation accuracy "
                  f"{100 * d['training']['best_val_accuracy']:.2f} %.", ""]
        if "training" in figures:
            lines += [f"![training]({figures['training']})", ""]
    lines += ["## Confusion matrices (rows: label; columns: decision, last = none)", ""]
    for k in ORDER:
        m = res.models[k].confusion
        lines += [f"**{k}**", "", "| | " + " | ".join(names[: m.shape[0]]) + " | none |",
                  "|---" * (m.shape[0] + 2) + "|"]
        lines += [f"| {names[i]} | " + " | ".join(str(x) for x in row) + " |" for i, row in enumerate(m)]
        lines.append("")
    if provenance is not None:
        versions = ", ".join(f"{k} {v}" for k, v in provenance["versions"].items() if v)
        lines += ["## Provenance", "",
                  f"- date (UTC): {provenance['date_utc']}; command: `{provenance['command']}`",
                  f"- network: {provenance['network']} (SHA-256 `{provenance['network_sha256']}`), seed "
                  f"{provenance['seed']}",
                  f"- configuration: {provenance['config']} (SHA-256 `{provenance['config_sha256']}`)",
                  f"- Python {provenance['python']}; {versions}", ""]
    return "\n".join(lines)


def _xylosim_markdown(x: dict) -> list[str]:
    lines = ["## Simulator vs xylosim", ""]
    if not x["ran"]:
        return lines + [f"Not checked: {x['summary']}.", ""]
    lines.append(f"The bit-accurate simulator and SynSense's xylosim on the first {x['samples']} samples, every "
                 f"record key ({', '.join(x['keys_compared'])}): "
                 + ("**identical**." if x["identical"] else f"**they differ**: {x['divergence']}; differing entries: "
                    + ", ".join(f"{k} {n}" for k, n in x["mismatches"].items() if n) + "."))
    return lines + [""]


def _compile_markdown(doc: dict) -> list[str]:
    s = doc.get("shifts", {})
    scales = doc.get("threshold_scales") or {}
    lines = ["## Compile", "",
             f"Shifts: in {s.get('in')}, rec {s.get('rec')}, out {s.get('out')}; threshold headroom "
             f"{doc.get('headroom_bits')} bits; kernel gain correction "
             f"{'on' if doc.get('gain_correction') else 'off'}; "
             f"threshold factors (rate matching): "
             f"{', '.join(f'layer {k}: {v:.4f}' for k, v in scales.items()) or 'none'}; readout attenuation "
             f"{doc.get('readout_attenuation', 1)}; calibrated: {'yes' if doc.get('calibrated') else 'no'}.", "",
             "| resource | used | available |", "|---|---|---|"]
    lines += [f"| {r['resource']} | {r['used']:,} | {r['available']:,} |" for r in doc.get("resources", [])]
    lines += ["", "| layer | neurons | matrix (shift) | threshold float -> int | "
              "tau_syn requested -> realised (dash) | tau_mem requested -> realised (dash) |",
              "|---|---|---|---|---|---|"]

    def rng(pair, fmt="{:.4g}"):
        if pair is None:
            return "-"
        lo, hi = pair
        return fmt.format(lo) if lo == hi else f"{fmt.format(lo)} .. {fmt.format(hi)}"

    for x in doc.get("layers", []):
        th = ("leaky (none)" if x.get("threshold_float") is None
              else f"{rng(x['threshold_float'])} -> {rng(x['threshold_int'], '{:d}')}")
        lines.append(f"| {x['layer']} ({x['kind']}) | {x['size']} | {x['matrix']} ({x['shift']}) | {th} | "
                     f"{rng(x['tau_syn_requested'])} -> {rng(x['tau_syn_realised'])} s "
                     f"({','.join(map(str, x['dash_syn']))}) | {rng(x['tau_mem_requested'])} -> "
                     f"{rng(x['tau_mem_realised'])} s ({','.join(map(str, x['dash_mem']))}) |")
    cands = calibration_candidates(doc)
    if cands:
        lines += ["", f"Calibration candidates: decisions compared with the float model's on {cands[0]['samples']} "
                  "training samples (no labels).", "", "| candidate | agreement | |", "|---|---|---|"]
        lines += [f"| {c['name']} | {_pct(c['agreement'])} | {'**kept**' if c['kept'] else ''} |" for c in cands]
    lines.append("")
    return lines


# -- figures --------------------------------------------------------------------------------------------------
def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    atomic_save_with(path, lambda fh: fig.savefig(fh, format="png", dpi=110))
    plt.close(fig)


def _accuracy_figure(res: VerifyResult, out: Path) -> None:
    import matplotlib.pyplot as plt

    ci, diffs = intervals(res), differences(res)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [1, 1.15]})
    acc = np.array([100 * ci[k]["accuracy"] for k in ORDER])
    lo, hi = np.array([100 * ci[k]["low"] for k in ORDER]), np.array([100 * ci[k]["high"] for k in ORDER])
    for i, k in enumerate(ORDER):
        ax.errorbar(i, acc[i], yerr=[[acc[i] - lo[i]], [hi[i] - acc[i]]], fmt="o", color=COLORS[k], capsize=6, ms=7)
        ax.annotate(f"{acc[i]:.2f} %", (i, acc[i]), xytext=(8, 0), textcoords="offset points", va="center", fontsize=8)
    pad = max(0.5, 0.15 * (hi.max() - lo.min()))
    ax.set_ylim(max(0, lo.min() - pad), hi.max() + pad)  # room above 100 % so a marker there shows whole
    ax.set_xticks(range(3), ORDER)
    ax.set_xlim(-0.5, 2.8)
    ax.set_ylabel(f"{res.split} accuracy (%)")
    ax.set_title(f"accuracy, 95 % Wilson interval (n = {res.labels.size})", fontsize=9)
    names = list(diffs)
    for i, name in enumerate(names):
        x = diffs[name]
        v, l_, h = 100 * x["difference"], 100 * x["low"], 100 * x["high"]
        bx.errorbar(v, i, xerr=[[v - l_], [h - v]], fmt="s", color="#333333", capsize=5)
        bx.annotate(f"{v:+.2f} pp ({x['only_b_right']} vs {x['only_a_right']} differing)", (v, i), xytext=(0, 9),
                    textcoords="offset points", ha="center", fontsize=7)
    bx.axvline(0, color="#999999", lw=1, ls="--")
    bx.set_yticks(range(len(names)), names, fontsize=8)
    bx.set_ylim(-0.6, len(names) - 0.3)
    bx.set_xlabel("difference (pp), exact paired 95 % interval")
    bx.set_title("paired differences on the same samples", fontsize=9)
    fig.suptitle(f"{res.task} on {res.chip}", fontsize=10)
    fig.tight_layout()
    _save(fig, out / "accuracy.png")


def _sample_figure(res: VerifyResult, out: Path) -> None:
    import matplotlib.pyplot as plt

    fwd, chip_layers, sample = res.sample_forward, res.sample_chip_layers, res.sample
    n_hidden = res.n_hidden_layers
    ms = 1e3 * res.dt
    n_panels = 1 + n_hidden + 1
    fig, axes = plt.subplots(n_panels, 1, figsize=(8, 1.9 * n_panels + 0.6), sharex=True,
                             gridspec_kw={"height_ratios": [1] + [1.3] * n_hidden + [1.6]})
    raster = sample["raster"]
    steps, channels = np.nonzero(raster)
    axes[0].scatter((steps + 0.5) * ms, channels, s=4 + 3 * raster[steps, channels], marker="s", color="#555555")
    axes[0].set_ylabel("input\nchannel")
    axes[0].set_title(f"input raster: {int(raster.sum())} events (marker size: events per step)", fontsize=8)
    for layer in range(n_hidden):
        ax = axes[1 + layer]
        sp = fwd.layers[layer]
        ax.scatter(sp.times * 1e3, sp.neurons, s=9, marker="|", color=COLORS["float"], label="float (exact time)")
        st, nn = np.nonzero(chip_layers[layer])
        ax.scatter((st + 0.5) * ms, nn, s=10, marker="x", lw=0.7, color=COLORS["bit-accurate"],
                   label="chip (step centre)")
        ax.set_ylabel(f"hidden layer {layer + 1}\nneuron")
        ax.set_title(f"hidden layer {layer + 1}: {len(sp.times)} float spikes, {int(chip_layers[layer].sum())} chip",
                     fontsize=8)
        ax.legend(loc="upper right", fontsize=7, markerscale=1.5)
    ax = axes[-1]
    t = sample["times"] * 1e3
    names = res.class_names
    n_out = sample["float_v"].shape[1]
    cmap = plt.get_cmap("tab10" if n_out <= 10 else "tab20")
    for j in range(n_out):
        label = names[j] if len(names) == n_out else f"readout {j}"
        ax.plot(t, sample["float_v"][:, j], color=cmap(j % cmap.N), lw=1.2, label=f"{label}")
        ax.step(t, sample["chip_v"][:, j], where="post", color=cmap(j % cmap.N), lw=0.9, ls="--")
    if sample.get("threshold") is not None:
        ax.axhline(float(np.mean(sample["threshold"])), color="#999999", lw=0.8, ls=":", label="threshold")
    pf, pc = int(res.models["float"].predictions[0]), int(res.models["bit-accurate"].predictions[0])

    def name(k):
        return "none" if k < 0 else (names[k] if k < len(names) else str(k))

    ax.set_title(f"readout voltage (solid: float; dashed: chip Vmem_out x voltage unit)\nrule {res.rule}: float "
                 f"decides {name(pf)}, chip decides {name(pc)}; label {name(int(res.labels[0]))}", fontsize=8)
    ax.set_ylabel("readout V")
    ax.set_xlabel("time (ms)")
    ax.legend(loc="upper left", fontsize=7, ncol=min(n_out + 1, 6))
    fig.tight_layout()
    _save(fig, out / "sample.png")


def _rates_figure(res: VerifyResult, out: Path) -> None:
    import matplotlib.pyplot as plt

    rows = firing_rates(res)
    fig, axes = plt.subplots(1, len(rows), figsize=(3.6 * len(rows), 3.4), squeeze=False)
    for ax, r in zip(axes[0], rows, strict=True):
        f, c = np.array(r["per_neuron_float"]), np.array(r["per_neuron_chip"])
        ax.scatter(f, c, s=10, alpha=0.7, color=COLORS["bit-accurate"])
        top = max(f.max(initial=0), c.max(initial=0)) * 1.05 or 1.0
        ax.plot([0, top], [0, top], color="#999999", lw=0.8, ls="--")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("float: spikes / step")
        ax.set_ylabel("chip: spikes / step")
        ax.set_title(f"layer {r['layer']} ({r['kind']}), {r['neurons']} neurons\ndead: float {r['dead_float']}, chip "
                     f"{r['dead_chip']}; saturated: {r['saturated_float']} / {r['saturated_chip']}", fontsize=8)
    fig.tight_layout()
    _save(fig, out / "rates.png")


def _training_figure(training: list[dict], out: Path) -> None:
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] + 1 for r in training]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(epochs, [100 * r["accuracy"] for r in training], color="#4c72b0", label="train accuracy (running)")
    if all("val_accuracy" in r for r in training):
        val = [100 * r["val_accuracy"] for r in training]
        ax.plot(epochs, val, color="#55a868", label="validation accuracy")
        ax.axvline(epochs[int(np.argmax(val))], color="#999999", lw=0.8, ls=":", label="best validation (saved)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    lx = ax.twinx()
    lx.plot(epochs, [r["loss"] for r in training], color="#c44e52", lw=0.8, ls="--", label="train loss")
    lx.set_ylabel("loss")
    handles = ax.get_legend_handles_labels()[0] + lx.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=7, loc="center right")
    ax.set_title("training curve (metrics.jsonl)", fontsize=9)
    fig.tight_layout()
    _save(fig, out / "training.png")


def _figures(res: VerifyResult, out: Path, training: list[dict] | None) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    _accuracy_figure(res, out)
    files = {"accuracy": "accuracy.png"}
    if res.sample_forward is not None and res.sample:
        _sample_figure(res, out)
        files["sample"] = "sample.png"
    if res.models["float"].spike_counts:
        _rates_figure(res, out)
        files["rates"] = "rates.png"
    if training:
        _training_figure(training, out)
        files["training"] = "training.png"
    return files


def write_report(res: VerifyResult, out_dir: str | os.PathLike, compile_doc: dict | None = None,
                 provenance: dict | None = None, metrics_path: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``report.json`` and the figures into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    training = read_metrics(metrics_path) if metrics_path else []
    figures = _figures(res, out, training)
    md = atomic_write_text(out / "report.md", to_markdown(res, figures, compile_doc, provenance, training))
    js = atomic_write_text(out / "report.json", json.dumps(to_dict(res, compile_doc, provenance, training), indent=2))
    return {"markdown": md, "json": js, **{k: out / v for k, v in figures.items()}}
