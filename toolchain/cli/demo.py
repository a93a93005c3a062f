"""``spikeline demo``: the whole pipeline on Yin-Yang, train -> compile -> verify (+ xylosim check)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from toolchain.cli.common import COUNT, SEED, json_option, report_errors

#: The embedded default: the Yin-Yang preset, shortened so the demo ends within minutes.
DEMO_EPOCHS = 30
DEMO_HIDDEN = 120


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), default="spikeline-demo",
              show_default=True, help="Folder for the run: network, configuration, reports.")
@click.option("--chip", "-c", default="xylo-audio2", show_default=True, help="Target chip.")
@click.option("--epochs", type=COUNT, default=DEMO_EPOCHS, show_default=True,
              help="Training epochs (the full Yin-Yang preset uses more; see docs/training.md).")
@click.option("--hidden", type=COUNT, default=DEMO_HIDDEN, show_default=True,
              help="Hidden neurons.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the whole run.")
@click.option("--resume", is_flag=True, help="Continue an interrupted demo training from its checkpoint.")
@json_option
@report_errors
def demo(out_dir: str, chip: str, epochs: int, hidden: int, seed: int, resume: bool, as_json: bool) -> None:
    """Train a spiking network on Yin-Yang on the chip's grid, compile it for the chip, and verify it:
    float vs chip-grid vs bit-accurate accuracy on the test split, plus a bit-for-bit check of the
    simulator against SynSense's xylosim. Ends with the path of the report.

    \b
    Example:
      spikeline demo
      spikeline demo --out /tmp/demo --epochs 10
    """
    from toolchain.compile import compile_network
    from toolchain.train.presets import preset_config
    from toolchain.train.trainer import train
    from toolchain.verify import verify, write_report
    from toolchain.verify.report import provenance
    from toolchain.verify.xylosim import XYLOSIM_SAMPLES

    out = Path(out_dir)
    say = (lambda *a, **k: None) if as_json else click.echo
    start = time.perf_counter()
    say(f"[1/3] training Yin-Yang on the {chip} grid ({epochs} epochs, 5-{hidden}-3) -> {out / 'train'}")
    config = preset_config("yinyang", chip=chip, epochs=epochs, hidden=[hidden], seed=seed)
    result = train(config, out / "train", resume=resume, quiet=as_json)
    network_path = out / "train" / "network.json"

    say(f"[2/3] compiling for {chip}")
    chip_config, report = compile_network(result.network, chip, progress=not as_json)
    chip_config.save(out / "config.json")
    report.save(out / "config.report")

    say("[3/3] verifying on the test split: float, chip grid, bit-accurate, and the simulator against SynSense's "
        f"xylosim bit for bit ({XYLOSIM_SAMPLES} samples)")
    verified = verify(result.network, chip_config, compile_options=report.to_dict(), progress=not as_json,
                      xylosim=XYLOSIM_SAMPLES)
    files = write_report(verified, out / "verify", compile_doc=report.to_dict(),
                         provenance=provenance(network_path, out / "config.json", seed),
                         metrics_path=out / "train" / "metrics.jsonl")
    xylosim = verified.xylosim["summary"]
    summary = {
        "ok": True, "network": str(network_path), "config": str(out / "config.json"),
        "report": str(files["markdown"]), "compile_report": str(out / "config.report.md"),
        "accuracy": {k: verified.accuracy(k) for k in ("float", "chip-grid", "bit-accurate")},
        "xylosim": xylosim, "seconds": round(time.perf_counter() - start, 1),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for name, acc in summary["accuracy"].items():
        click.echo(f"  {name:>13}: {100 * acc:6.2f} %")
    click.echo(f"  xylosim: {xylosim}")
    click.echo(f"done in {summary['seconds']:.0f} s; report: {files['markdown']}")

