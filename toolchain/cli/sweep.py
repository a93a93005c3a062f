"""``spikeline sweep``: seeds x settings, each trained, compiled and verified; a table of mean and spread."""

from __future__ import annotations

import json
import math

import click

from toolchain.cli.common import json_option, report_errors, scheduler_options


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--task", "-t", required=True, help="Task to train on (yinyang, digits, fsdd, ...).")
@click.option("--seeds", default="0-4", show_default=True, help="Seeds: a range 0-4, a list 0,2,5, or both 1-3,7.")
@click.option("--set", "sets", multiple=True, metavar="KEY=V1,V2",
              help="A training setting and the values to sweep (JSON where it parses), e.g. --set lr=1e-3,3e-3 "
                   "--set 'hidden=[100],[200]'. One value fixes the setting for every run. Repeatable.")
@click.option("--chip", "-c", default="xylo-audio2", show_default=True, help="Chip to train for and compile onto.")
@click.option("--verify-limit", type=click.IntRange(min=1), default=None,
              help="Verify on the first N test samples only (default: the whole test split).")
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Sweep folder: runs/<combination>/ (training run, config, result.json), sweep.md, sweep.json.")
@scheduler_options
@json_option
@report_errors
def sweep_cmd(task: str, seeds: str, sets: tuple[str, ...], chip: str, verify_limit: int | None, out_dir: str,
              scheduler: str | None, as_json: bool) -> None:
    """Train, compile and verify every combination of seeds and settings, one task each, and write a table
    with the mean and spread over seeds per setting. Started again, it skips finished combinations and
    continues half-trained ones, so an interrupted sweep gives the same table.

    \b
    Examples:
      spikeline sweep --task yinyang --seeds 0-4 --out runs/sweep-yy
      spikeline sweep --task yinyang --seeds 0-1 --set lr=1e-3,3e-3 --set epochs=20 --scheduler local:2 --out runs/lr
    """
    from toolchain.dist import make_executor
    from toolchain.train.sweep import parse_seeds, parse_values, sweep

    seed_list = parse_seeds(seeds)
    grid, fixed = {}, {}
    for pair in sets:
        key, values = parse_values(pair)
        (grid if len(values) > 1 else fixed)[key] = values if len(values) > 1 else values[0]
    with make_executor(scheduler) as executor:
        if not as_json:
            n = len(seed_list) * math.prod(len(v) for v in grid.values())
            click.echo(f"sweep: {n} runs of {task} on {chip} ({executor.name}) -> {out_dir}")
        doc = sweep(task, seed_list, grid, out_dir, chip=chip, fixed=fixed, executor=executor,
                    verify_limit=verify_limit)
    if as_json:
        click.echo(json.dumps({"ok": True, "out": out_dir, "table": doc["table"]}, indent=2))
        return
    for e in doc["table"]:
        acc, gap = e["bit-accurate"], e["gap_pp"]
        click.echo(f"{e['setting']}: bit-accurate {acc['mean']:.2f} % (± {acc['std']:.2f} over {len(e['seeds'])} "
                   f"seeds), gap {gap['mean']:+.2f} pp")
    click.echo(f"table: {out_dir}/sweep.md")
