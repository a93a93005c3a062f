"""``spikeline verify``: float vs chip-grid vs bit-accurate accuracy on a task's test split."""

from __future__ import annotations

import json
from pathlib import Path

import click

from toolchain.cli.common import COUNT, json_option, report_errors, scheduler_options
from toolchain.verify.xylosim import XYLOSIM_SAMPLES


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("network", type=click.Path(dir_okay=False))
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--task", "-t", default=None,
              help="yinyang | digits | fsdd | basicmotions (default: the task recorded in network.json by "
                   "`spikeline train`).")
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test", show_default=True,
              help="Which split to evaluate; training never sees the test split.")
@click.option("--limit", type=COUNT, default=None, help="Evaluate only the first N samples.")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Report folder (default: NETWORK's folder / verify).")
@click.option("--xylosim-check", "xylosim", type=click.IntRange(min=0), default=XYLOSIM_SAMPLES, show_default=True,
              metavar="N", help="Also run the first N samples on SynSense's xylosim and compare every record key with "
                                "the bit-accurate simulator (the report's 'Simulator vs xylosim'; skipped with a note "
                                "when xylosim is not installed; 0: not checked).")
@scheduler_options
@json_option
@report_errors
def verify_cmd(network: str, config: str, task: str | None, split: str, limit: int | None, out_dir: str | None,
               xylosim: int, scheduler: str | None, as_json: bool) -> None:
    """Run a test split through the float NETWORK, its chip-grid twin and the bit-accurate simulation of
    CONFIG, and write report.md, report.json and figures side by side: accuracies with 95 % intervals, the compile
    report (CONFIG's NAME.report.json), firing rates, one sample float vs chip, the training curve (metrics.jsonl
    beside NETWORK) and provenance.

    \b
    Example:
      spikeline verify runs/yinyang/network.json runs/yinyang/config.json
      spikeline verify net.json config.json --task yinyang --limit 200 --out verify-report --json
    """
    from hw_models.config import load_config
    from toolchain.network import load_network
    from toolchain.verify import verify, write_report
    from toolchain.verify.report import provenance, to_dict

    say = (lambda *a: None) if as_json else (lambda *a: click.echo(*a, err=True))
    net = load_network(network)
    cfg = load_config(config)
    report_json = Path(config).with_name(Path(config).stem + ".report.json")
    options = json.loads(report_json.read_text()) if report_json.exists() else None
    say(f"verify: {task or net.metadata.get('task')} {split} split on {cfg.chip}"
        + (f" (compile settings from {report_json})" if options else
           " (no compile report beside the configuration: finding its compile settings)"))
    from toolchain.dist import make_executor

    with make_executor(scheduler) as executor:
        result = verify(net, cfg, task=task, split=split, limit=limit, compile_options=options, executor=executor,
                        progress=not as_json, xylosim=xylosim)
    out = Path(out_dir) if out_dir else Path(network).resolve().parent / "verify"
    metrics = Path(network).with_name("metrics.jsonl")
    files = write_report(result, out, compile_doc=options,
                         provenance=provenance(network, config, net.metadata.get("seed")),
                         metrics_path=metrics if metrics.is_file() else None)
    if as_json:
        click.echo(json.dumps({"ok": True, "report": str(files["markdown"]), **to_dict(result)}, indent=2))
        return
    d = to_dict(result)
    for name in ("float", "chip-grid", "bit-accurate"):
        lo, hi = d["accuracy_95"][name]
        click.echo(f"{name:>13}: {100 * result.accuracy(name):6.2f} %  (95 % {100 * lo:.2f} .. {100 * hi:.2f})")
    gap = d["differences"]["bit-accurate - chip-grid"]
    click.echo(f"bit-accurate - chip-grid: {100 * gap['difference']:+.2f} pp (95 % {100 * gap['low']:+.2f} .. "
               f"{100 * gap['high']:+.2f}; {gap['differing']} samples differ in correctness)")
    if result.xylosim is not None:
        click.echo(f"xylosim: {result.xylosim['summary']}")
    click.echo(f"report: {files['markdown']}")
