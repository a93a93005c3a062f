"""``spikeline hil``: run a configuration on a device and on a reference, compare bit for bit."""

from __future__ import annotations

import json
import sys

import click

from deploy.bundle import load_deployable
from hw_models.atomic import atomic_write_text
from hw_models.rules import raise_if_invalid
from hw_models.simulator import validate_raster
from toolchain.cli.common import COUNT, json_option, report_errors
from toolchain.cli.sim import load_raster

BACKEND_HELP = "sim: Spikeline's simulator; xylosim: SynSense's engine; samna: a connected Xylo dev kit."
EXIT_MISMATCH = 1


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--input", "-i", "raster_path", required=True, type=click.Path(dir_okay=False),
              help="Input raster .npy: integer spike counts (T, N_in) or a batch (B, T, N_in).")
@click.option("--device", "-d", type=click.Choice(["sim", "xylosim", "samna"]), default="xylosim",
              show_default=True, help=f"The backend under test. {BACKEND_HELP}")
@click.option("--device-record", "device_record", type=click.Path(dir_okay=False),
              help="Instead of running --device, compare a record saved elsewhere (.npz with the "
                   "record keys, e.g. captured on a dev kit) for the same raster.")
@click.option("--reference", "-r", type=click.Choice(["sim", "xylosim", "samna"]), default="sim",
              show_default=True, help="The backend it must agree with, bit for bit.")
@click.option("--history", type=COUNT, default=5, show_default=True,
              help="How many steps of the diverging neuron's state to show, up to the divergence.")
@click.option("--clip-inputs", is_flag=True,
              help="Let counts above 15 per channel and step be clipped to 15, as the chip does. "
                   "Without it such a raster is refused.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Also write the full comparison as JSON to this file.")
@json_option
@report_errors
def hil(config: str, raster_path: str, device: str, device_record: str | None, reference: str, history: int,
        clip_inputs: bool, report_path: str | None, as_json: bool) -> None:
    """Run CONFIG (chip configuration JSON or bundle) on DEVICE and REFERENCE; compare every record
    key (Spikes, Vmem, Isyn, Isyn2, Spikes_out, Vmem_out, Isyn_out) bit for bit.

    Exit status: 0 identical, 1 mismatch (the first divergence is printed: step, neuron, record key,
    both values and that neuron's recent state), 2 a problem with the inputs or a backend.

    \b
    Example:
      spikeline hil config.json --input raster.npy --device xylosim --reference sim
      spikeline hil net.bundle -i raster.npy --history 10 --report hil.json --json
      spikeline hil config.json -i raster.npy --device-record devkit.npz --reference sim
    """
    from deploy.hil import compare_records, load_record, run_hil

    cfg, _ = load_deployable(config)
    raise_if_invalid(cfg, source=str(config))
    raster = load_raster(raster_path)
    validate_raster(raster, cfg.n_inputs, clip_inputs)  # fail before starting any backend
    if device_record:
        from deploy.backends import get_backend

        ref = get_backend(reference)
        ref.apply(cfg)
        report = compare_records(load_record(device_record), ref.evolve(raster, clip_inputs=clip_inputs),
                                 history=history, device_name=str(device_record), reference_name=ref.name,
                                 chip=cfg.chip)
    else:
        report = run_hil(cfg, raster, device=device, reference=reference, history=history,
                         clip_inputs=clip_inputs)
    doc = report.to_dict()
    if report_path:
        atomic_write_text(report_path, json.dumps(doc, indent=2) + "\n")
    click.echo(json.dumps(doc, indent=2) if as_json else report.format_text())
    if not report.ok:
        sys.exit(EXIT_MISMATCH)
