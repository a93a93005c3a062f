"""``spikeline compile``: a trained float network -> a Xylo chip configuration + compile report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hw_models.chips import chip_names
from toolchain.cli.common import POSITIVE, json_option, report_errors, scheduler_options


def report_stem(out: Path) -> Path:
    """Where the compile report of ``config.json`` goes: ``config.report.md`` / ``.json``."""
    return out.with_name(out.stem + ".report")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("network", type=click.Path(dir_okay=False))
@click.option("--chip", "-c", required=True, help=f"Target chip: {', '.join(chip_names())}.")
@click.option("--out", "-o", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Chip configuration JSON to write; the report goes next to it (NAME.report.md/.json).")
@click.option("--dt", type=POSITIVE, default=None,
              help="Seconds per chip step (default: the network's own dt, set by `spikeline train`).")
@click.option("--headroom-bits", type=click.IntRange(0, 8), default=None,
              help="Keep integer thresholds below 2**(15 - headroom) so membranes can overshoot. Default: with "
                   "calibration, try 2, 1 and 0 and keep the one whose decisions agree best with the float "
                   "model's; without, 2.")
@click.option("--gain-correction/--no-gain-correction", default=None,
              help="Divide thresholds by the float-to-chip PSP area ratio (docs/compiler.md, 'Units'). Default: "
                   "with calibration, try both and keep the better-agreeing candidate; without, off.")
@click.option("--calibrate/--no-calibrate", default=True, show_default=True,
              help="Run candidates on the first training samples of the network's task: lower the shift of any "
                   "layer whose states pass half (or 7/8) of the int16 range, try rate matching and the kernel "
                   "gain correction, and keep the candidate whose decisions agree best with the float model's "
                   "(docs/compiler.md).")
@click.option("--health-check/--no-health-check", default=True, show_default=True,
              help="Run the result on the calibration samples and refuse it (exit 2) when the readout reaches the "
                   "int16 rail or a layer goes silent or saturates where the float model does not.")
@scheduler_options
@json_option
@report_errors
def compile_cmd(network: str, chip: str, out_path: str, dt: float | None, headroom_bits: int | None,
                gain_correction: bool | None, calibrate: bool, health_check: bool, scheduler: str | None,
                as_json: bool) -> None:
    """Map, quantize and check NETWORK (network.json) for a chip.

    Every problem is reported at once with a resource table (used vs available); the exit status is 2
    when the network does not fit. With --scheduler the calibration's simulations are split by sample among
    the workers; the configuration and report are the same as in one process.

    \b
    Example:
      spikeline compile runs/yinyang/network.json --chip xylo-audio2 --out runs/yinyang/config.json
    """
    from toolchain.compile import CompileError, compile_network
    from toolchain.dist import make_executor
    from toolchain.network import load_network

    out = Path(out_path)
    net = load_network(network)
    try:
        with make_executor(scheduler) as executor:
            config, report = compile_network(net, chip, dt=dt, headroom_bits=headroom_bits,
                                             gain_correction=gain_correction, calibrate=calibrate,
                                             check_health=health_check, source=network, progress=not as_json,
                                             executor=executor)
    except CompileError as err:
        if err.report is not None:
            md, _ = err.report.save(report_stem(out))
            if not as_json and err.report.health and not err.report.health["ok"]:
                click.echo(f"{network}: the configuration fails the health check on {chip}; report: {md}", err=True)
            elif not as_json:
                click.echo(f"{network} does not fit {chip}; report: {md}", err=True)
                for resource, used, available in err.report.resources:
                    flag = "  <-- over" if used > available else ""
                    click.echo(f"  {resource:58s} {used:>8,} / {available:,}{flag}", err=True)
        raise
    config.save(out)
    md, js = report.save(report_stem(out))
    if as_json:
        click.echo(json.dumps({"ok": True, "config": str(out), "report": str(js), **report.to_dict()},
                              indent=2, default=str))
        return
    click.echo(f"{network} -> {out} ({chip}; shifts in/rec/out {report.shifts['in']}/{report.shifts['rec']}/"
               f"{report.shifts['out']}); report: {md}")
    kept = next((c for c in report.candidates if c.get("kept")), None)
    if kept is not None and kept.get("samples"):
        click.echo(f"calibrated: kept '{kept['name']}' of {len(report.candidates)} candidates (decisions agree with "
                   f"the float model's on {100 * kept['agreement']:.1f} % of {kept['samples']} training samples)")
    if report.health:
        click.echo(report.health["summary"])
    for note in report.notes:
        if note.startswith(("not calibrated", "health not checked")):
            click.echo(f"note: {note}")
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
