"""``spikeline export`` / ``spikeline import``: a network or chip configuration to and from other
tools' formats. The formats themselves live in ``toolchain.io`` (one module each)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from toolchain.cli.common import POSITIVE, json_option, report_errors


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("--format", "-f", "fmt", default=None,
              help="Target format (default: from the --out file name's ending).")
@click.option("--out", "-o", "out_path", required=True, type=click.Path(dir_okay=False),
              help="File to write (atomically).")
@click.option("--record", type=click.Choice(["all", "spikes"]), default=None,
              help="Chip models: outputs to include (default all; spikes leaves the states out).")
@click.option("--clip-inputs", is_flag=True, default=None,
              help="Chip models: accept input counts up to 255 and clip them to 15 as the chip does.")
@click.option("--precision", type=click.Choice(["float32", "float64"]), default=None,
              help="Float-network models: arithmetic precision (default float32).")
@json_option
@report_errors
def export_cmd(source: str, fmt: str | None, out_path: str, record: str | None, clip_inputs: bool | None,
               precision: str | None, as_json: bool) -> None:
    """Write SOURCE (a network.json or a chip config.json) in another tool's format.

    \b
    Example:
      spikeline export runs/yinyang/network.json --out yinyang.nir
      spikeline export config.json --format onnx --record spikes --out chip.onnx
      spikeline export config.json --format rockpool --out spec.json
    """
    from toolchain.io import format_for, format_module, load_source

    out = Path(out_path)
    fmt = format_for(out, fmt)
    options = {"record": record, "clip_inputs": clip_inputs or None, "precision": precision}
    written = format_module(fmt).export(load_source(source), out,
                                        **{k: v for k, v in options.items() if v is not None})
    if as_json:
        click.echo(json.dumps({"ok": True, "format": fmt, "out": str(written)}))
    else:
        click.echo(f"{source} -> {written} ({fmt})")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("--format", "-f", "fmt", default=None,
              help="Format of SOURCE (default: from its file name's ending).")
@click.option("--out", "-o", "out_path", required=True, type=click.Path(dir_okay=False),
              help="network.json or config.json to write (atomically).")
@click.option("--dt", type=POSITIVE, default=None,
              help="NIR: the time step in seconds the graph was made for (default: its metadata, or the "
                   "profile's exporter default).")
@click.option("--profile", type=click.Choice(["snntorch", "norse", "rockpool"]), default=None,
              help="NIR: read the graph as this exporter writes it (see docs/interop.md).")
@click.option("--chip", default=None, help="rockpool specification: the chip it is for (xylo-audio2, xylo-imu, "
                                           "xylo-audio3).")
@json_option
@report_errors
def import_cmd(source: str, fmt: str | None, out_path: str, dt: float | None, profile: str | None,
               chip: str | None, as_json: bool) -> None:
    """Read SOURCE from another tool's format into a Spikeline network or chip configuration.

    \b
    Example:
      spikeline import model.nir --out network.json
      spikeline import snn.nir --profile snntorch --out network.json
      spikeline import spec.json --format rockpool --chip xylo-audio2 --out config.json
    """
    from toolchain.io import format_for, format_module

    fmt = format_for(source, fmt)
    options = {k: v for k, v in (("dt", dt), ("profile", profile), ("chip", chip)) if v is not None}
    obj = format_module(fmt).import_file(Path(source), **options)
    written = obj.save(out_path)
    if as_json:
        click.echo(json.dumps({"ok": True, "format": fmt, "out": str(written)}))
    else:
        click.echo(f"{source} ({fmt}) -> {written}")
