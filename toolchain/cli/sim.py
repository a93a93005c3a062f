"""``spikeline sim``: run a chip configuration on an input raster, bit-accurately."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from hw_models.errors import InputError
from hw_models.simulator import validate_raster
from toolchain.cli.common import json_option, report_errors


def load_raster(path: str | Path) -> np.ndarray:
    """The counts of a raster file: a ``.npy`` ``(T, N_in)`` / ``(B, T, N_in)`` or an ``.npz`` from
    ``spikeline encode`` (:mod:`toolchain.io.rasters`)."""
    from toolchain.io.rasters import load_rasters

    return load_rasters(path).rasters


def decision_rule(network_path: str | None, bundle, rule: str | None, n_outputs: int):
    """``(rule, output code, class names or None)`` for ``--decode``: from ``--network``, else the bundle's
    network, else ``--rule`` alone; ``--rule`` overrides the network's rule."""
    from toolchain.data import class_names
    from toolchain.verify.chip_decode import RULE_ALIASES, RULES, network_rule

    meta = None
    if network_path:
        from toolchain.network import load_network

        meta = load_network(network_path).metadata
    elif bundle is not None and isinstance(bundle.network, dict):
        meta = bundle.network.get("metadata") or {}
    if meta is None and rule is None:
        raise InputError("--decode needs the decision rule: pass --network network.json, a bundle that holds "
                         f"its network (deploy --network), or --rule ({', '.join(RULES)})")
    if rule is not None:
        code = None if meta is None or meta.get("output_code") is None else np.asarray(meta["output_code"], float)
        rule = RULE_ALIASES[rule]
    else:
        rule, code = network_rule(meta)
    n_classes = n_outputs if code is None else code.shape[0]
    names = (meta or {}).get("class_names") or (class_names(meta.get("task"), n_classes) if meta else None)
    return rule, code, names


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--input", "-i", "raster_path", required=True, type=click.Path(dir_okay=False),
              help="Input raster .npy: integer spike counts (T, N_in) or a batch (B, T, N_in).")
@click.option("--out", "-o", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the record (.npz with Spikes, Vmem, Isyn, Isyn2, Spikes_out, Vmem_out, "
                   "Isyn_out).")
@click.option("--backend", "-b", type=click.Choice(["sim", "xylosim", "samna"]), default="sim",
              show_default=True,
              help="sim: Spikeline's bit-accurate simulator; xylosim: SynSense's engine (pip install "
                   "xylosim); samna: a connected Xylo dev kit.")
@click.option("--record", type=click.Choice(["all", "spikes"]), default="all", show_default=True,
              help="'spikes' keeps only Spikes and Spikes_out (faster, smaller).")
@click.option("--clip-inputs", is_flag=True,
              help="Let counts above 15 per channel and step be clipped to 15, as the chip does. "
                   "Without it such a raster is refused.")
@click.option("--decode", is_flag=True,
              help="Print each sample's decision (and class name) by the network's decision rule; spiking and "
                   "leaky (voltage) readouts alike. With labels (an .npz from `spikeline encode`): the accuracy.")
@click.option("--network", "network_path", type=click.Path(dir_okay=False),
              help="With --decode: the network.json whose decision rule, output code and class names to use "
                   "(default: the bundle's network).")
@click.option("--rule", type=click.Choice(["first-spike", "spike-count", "max-voltage", "integrated-voltage"]),
              default=None, help="With --decode: this decision rule instead of the network's.")
@click.option("--show", type=click.IntRange(min=0), default=10, show_default=True,
              help="With --decode: how many samples' decisions to print (--json lists all).")
@json_option
@report_errors
def sim(config: str, raster_path: str, out_path: str, backend: str, record: str, clip_inputs: bool, decode: bool,
        network_path: str | None, rule: str | None, show: int, as_json: bool) -> None:
    """Simulate CONFIG (a chip configuration JSON or a bundle) on an input raster and save the record.

    \b
    Example:
      spikeline sim config.json --input raster.npy --out record.npz
      spikeline sim config.json --input batch.npy --out rec.npz --backend xylosim --record spikes
      spikeline sim net.bundle --input test.npz --out rec.npz --decode
      spikeline sim config.json -i test.npz -o rec.npz --decode --network network.json --json
    """
    from deploy.backends import get_backend
    from deploy.bundle import load_deployable
    from hw_models.rules import raise_if_invalid
    from toolchain.io.rasters import load_rasters

    if not decode and (network_path or rule):
        raise InputError("--network and --rule choose how --decode decides; add --decode")
    cfg, bundle = load_deployable(config)
    raise_if_invalid(cfg, source=str(config))
    data = load_rasters(raster_path)
    raster = data.rasters
    validate_raster(raster, cfg.n_inputs, clip_inputs)  # fail before starting a backend
    if decode:
        rule_name, code, names = decision_rule(network_path, bundle, rule, cfg.n_outputs)
        if record == "spikes" and rule_name in ("max-voltage", "integrated-voltage"):
            raise InputError(f"rule {rule_name} decides on the readout voltage (Vmem_out); drop --record spikes")
    engine = get_backend(backend)
    engine.apply(cfg)
    start = time.perf_counter()
    rec = engine.evolve(raster, record=record, clip_inputs=clip_inputs)
    elapsed = time.perf_counter() - start
    rec.save(out_path)
    spikes = rec["Spikes"]
    summary = {
        "ok": True, "backend": backend, "config": str(config), "out": str(out_path),
        "shape": list(raster.shape), "keys": sorted(rec.keys()),
        "hidden_spikes": int(spikes.sum(dtype=np.int64)),
        "readout_spikes": int(rec["Spikes_out"].sum(dtype=np.int64)),
        "seconds": round(elapsed, 4),
    }
    if decode:
        summary["decision"] = decisions(rec, rule_name, code, names, data.labels)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{backend}: {raster.shape} -> {out_path} ({summary['hidden_spikes']} hidden spikes, "
               f"{summary['readout_spikes']} readout spikes, {elapsed:.3f} s)")
    if not decode:
        if summary["readout_spikes"] == 0:
            click.echo("no readout spiked; a leaky (voltage) readout decides without spikes: add --decode")
        return
    d = summary["decision"]
    click.echo(f"decisions ({d['rule']}):")
    for row in d["samples"][:show]:
        label = "" if "label" not in row else f" (label {row['label_name']}{'' if row['correct'] else ', wrong'})"
        click.echo(f"  sample {row['sample']}: {row['name']}{label}")
    if len(d["samples"]) > show:
        click.echo(f"  ... {len(d['samples']) - show} more (--show N or --json for all)")
    if "accuracy" in d:
        click.echo(f"accuracy: {100 * d['accuracy']:.2f} % ({d['correct']} of {len(d['samples'])} samples)")


def decisions(rec, rule: str, code, names: list[str] | None, labels: np.ndarray | None) -> dict:
    """Each sample's class (-1: no decision) by ``rule``, its name and, with labels, whether it is right."""
    from toolchain.verify.chip_decode import decide

    pred = decide(rec, rule, code)
    n_classes = rec["Spikes_out"].shape[-1] if code is None else code.shape[0]
    names = names or [str(k) for k in range(n_classes)]

    def name(k: int) -> str:
        return "no decision" if k < 0 else names[k]

    rows = []
    for i, k in enumerate(pred.tolist()):
        row = {"sample": i, "class": k, "name": name(k)}
        if labels is not None:
            row.update(label=int(labels[i]), label_name=name(int(labels[i])), correct=bool(k == labels[i]))
        rows.append(row)
    out = {"rule": rule, "class_names": names, "samples": rows}
    if labels is not None:
        out["correct"] = int(sum(r["correct"] for r in rows))
        out["accuracy"] = out["correct"] / len(rows)
    return out
