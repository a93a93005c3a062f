"""``spikeline train``: train a network on a task, on a chip's grid, with exact gradients."""

from __future__ import annotations

import json

import click

from hw_models.errors import InputError
from toolchain.cli.common import COUNT, NON_NEGATIVE, POSITIVE, SEED, json_option, report_errors, scheduler_options


def _parse_pairs(pairs: tuple[str, ...], what: str) -> dict:
    """``KEY=VALUE`` pairs; VALUE is JSON when it parses as JSON, else a string."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"{what} {pair!r} is not KEY=VALUE (e.g. {what} lr=0.002)")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--task", "-t", required=True, help="Task to train on: yinyang, digits, fsdd or basicmotions.")
@click.option("--chip", "-c", default="xylo-audio2", show_default=True,
              help="Target chip: its size limits and readout count constrain the network.")
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run directory: network.json, metrics.jsonl, last.ckpt, summary.json go here.")
@click.option("--mode", type=click.Choice(["grid", "float"]), default="grid", show_default=True,
              help="grid: quantization-aware training on the chip's grid; float: no weight/threshold "
                   "quantization (for comparison).")
@click.option("--epochs", type=COUNT, default=None, help="Number of epochs (default: the task's preset).")
@click.option("--batch-size", type=COUNT, default=None, help="Minibatch size (default: the task's preset).")
@click.option("--lr", type=POSITIVE, default=None, help="Adam learning rate (default: the task's preset).")
@click.option("--hidden", default=None, help="Hidden layer sizes, comma separated, e.g. 200 or 100,50.")
@click.option("--engine", type=click.Choice(["fp", "fp-forward", "eventprop", "hm2bp"]), default=None,
              help="Gradient engine (default: the task's preset, else fp). fp, fp-forward and eventprop give the "
                   "same exact gradient (fp is fastest); hm2bp is HM2-BP's count gradient for the rate-coded "
                   "count-mse loss.")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of the initial weights and of the minibatch order.")
@click.option("--hop-delay-steps", type=NON_NEGATIVE, default=None,
              help="Delay of every hidden hop in chip steps (default 0.5: the mean of the chip's 0..1 "
                   "step; 1.0 is DESIGN.md's one step).")
@click.option("--train-subset", type=COUNT, default=None,
              help="Train on the first N training samples only (quick experiments).")
@click.option("--learn-tau", is_flag=True, default=False,
              help="Learn every neuron's time constants too (its dashes on the chip grid, straight-through); "
                   "off by default: on yinyang it did not help (docs/training.md). Runs on the per-sample path.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override any training setting (VALUE is JSON), e.g. --set gamma=0.9 "
                   "--set 'loss_options={\"gain\": 3.0}'. Repeatable.")
@click.option("--task-option", "task_opts", multiple=True, metavar="KEY=VALUE",
              help="A task option, e.g. --task-option encoding=delta for fsdd. Repeatable.")
@scheduler_options
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run from OUT/last.ckpt (same settings required); the result "
                   "equals an uninterrupted run bit for bit.")
@click.option("--stop-after", type=COUNT, default=None,
              help="Stop after this many epochs in this call (continue later with --resume).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or per-epoch lines.")
@json_option
@report_errors
def train_cmd(task: str, chip: str, out_dir: str, mode: str, epochs: int | None, batch_size: int | None,
              lr: float | None, hidden: str | None, engine: str | None, seed: int, hop_delay_steps: float | None,
              train_subset: int | None, learn_tau: bool, sets: tuple[str, ...], task_opts: tuple[str, ...],
              scheduler: str | None, resume: bool, stop_after: int | None, quiet: bool, as_json: bool) -> None:
    """Train a spiking network for TASK on CHIP's grid and write OUT/network.json.

    Starts from the task's preset (toolchain/train/presets.py), overridden by the options. The saved
    network is the epoch with the best validation accuracy; the test split is evaluated once at the end.

    \b
    Examples:
      spikeline train --task yinyang --chip xylo-audio2 --out runs/yinyang
      spikeline train --task digits --out runs/digits --epochs 5 --train-subset 300
      spikeline train --task fsdd --out runs/fsdd --mode float --set gamma=0.9
      spikeline train --task yinyang --out runs/yinyang --resume
      spikeline train --task fsdd --out runs/fsdd --scheduler local:2
    """
    from toolchain.train.presets import preset_config
    from toolchain.train.trainer import train

    overrides = _parse_pairs(sets, "--set")
    given = {"chip": chip, "mode": mode, "epochs": epochs, "batch_size": batch_size, "lr": lr,
             "engine": engine, "seed": seed, "hop_delay_steps": hop_delay_steps, "train_subset": train_subset}
    overrides.update({k: v for k, v in given.items() if v is not None})
    if learn_tau:
        overrides["learn_tau"] = True
    if hidden is not None:
        try:
            overrides["hidden"] = [int(n) for n in hidden.split(",")]
        except ValueError:
            raise InputError(f"--hidden {hidden!r}: give sizes as integers separated by commas, e.g. 200 "
                             "or 100,50") from None
    if task_opts:
        overrides["task_options"] = _parse_pairs(task_opts, "--task-option")
    config = preset_config(task, **overrides)
    result = train(config, out_dir, resume=resume, scheduler=scheduler, stop_after=stop_after,
                   quiet=quiet or as_json)
    summary = {"ok": True, "out": str(out_dir), **result.summary}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    s = result.summary
    line = (f"{s['task']} ({s['mode']}, {s['chip']}): {s['epochs_done']}/{s['epochs']} epochs, best "
            f"validation accuracy {100 * s['val_accuracy']:.2f}% (epoch {s['best_epoch'] + 1})")
    if "test_accuracy" in s:
        line += f", test accuracy {100 * s['test_accuracy']:.2f}%"
    click.echo(f"{line}; {s['train_wall_seconds']:.1f} s training -> {out_dir}/network.json")
