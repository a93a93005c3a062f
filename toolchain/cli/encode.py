"""``spikeline encode``: a task's split as the chip's input rasters, with labels (exactly as verify builds them)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hw_models.errors import InputError
from toolchain.cli.common import json_option, report_errors


def encoded_split(network: str | None, task: str | None, chip: str, task_opts: tuple[str, ...], split: str,
                  limit: int | None):
    """``(rasters, labels, class names, meta)`` of a network's task or of a task's training preset."""
    from toolchain.data import class_names
    from toolchain.data.inputs import metadata_inputs

    if (network is None) == (task is None):
        raise InputError("give either NETWORK (a network.json: its task, options, dt and clock) or --task T "
                         "(the task's training preset), not both")
    if network is not None and task_opts:
        raise InputError("--task-option goes with --task; a network's task options are the ones it was trained with")
    if network is not None:
        from toolchain.network import load_network

        net = load_network(network)
        meta, n_inputs, dt = net.metadata, net.layer_sizes[0], net.dt
        source = {"network": str(network)}
    else:
        from toolchain.cli.train import _parse_pairs
        from toolchain.train.presets import preset_config
        from toolchain.train.trainer import input_metadata, layer_sizes, load_config_task

        overrides = {"task_options": _parse_pairs(task_opts, "--task-option")} if task_opts else {}
        config = preset_config(task, chip=chip, **overrides)
        task_data = load_config_task(config)
        meta, n_inputs, dt = input_metadata(config, task_data), layer_sizes(config, task_data)[0], config.dt
        source = {"preset": task, "chip": chip}
    _, labels, rasters = metadata_inputs(meta, n_inputs, dt, split, limit)
    names = meta.get("class_names") or class_names(meta.get("task"), int(meta.get("n_classes") or labels.max() + 1))
    info = {"task": meta["task"], "split": split, "task_options": meta.get("task_options"), "dt": dt,
            "t_end": meta["t_end"], "clock": meta.get("clock"), **source}
    return rasters, labels, list(names), info


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("network", required=False, type=click.Path(dir_okay=False))
@click.option("--task", "-t", default=None,
              help="Encode with a task's training preset (the options `spikeline train --task T` uses) "
                   "instead of a network's recorded options.")
@click.option("--chip", "-c", default="xylo-audio2", show_default=True,
              help="With --task: the chip whose input count bounds the clock channels.")
@click.option("--task-option", "task_opts", multiple=True, metavar="KEY=VALUE",
              help="With --task: a task option, e.g. --task-option encoding=delta. Repeatable.")
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test", show_default=True,
              help="Which split of the task.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N samples.")
@click.option("--out", "-o", "out_path", required=True, type=click.Path(dir_okay=False),
              help="The .npz to write: rasters (B, T, N_in), labels, class_names, meta.")
@json_option
@report_errors
def encode_cmd(network: str | None, task: str | None, chip: str, task_opts: tuple[str, ...], split: str,
               limit: int | None, out_path: str, as_json: bool) -> None:
    """Turn a split of NETWORK's task (or of --task T's preset) into the chip's input rasters and labels,
    exactly as `spikeline verify` builds them: same task options, step dt, clock channels, trial length.

    \b
    Example:
      spikeline encode runs/yinyang/network.json --split test --out test.npz
      spikeline encode --task yinyang --split val --limit 100 --out val.npz
      spikeline sim runs/yinyang/config.json --input test.npz --out rec.npz --decode --network runs/yinyang/network.json
    """
    from toolchain.io.rasters import save_rasters

    if Path(out_path).suffix != ".npz":
        raise InputError(f"--out {out_path}: encode writes an .npz (rasters, labels, class names); name it *.npz")
    rasters, labels, names, info = encoded_split(network, task, chip, task_opts, split, limit)
    save_rasters(out_path, rasters, labels, names, info)
    summary = {"ok": True, "out": str(out_path), "shape": list(rasters.shape), "classes": names,
               "events": int(rasters.sum()), **info}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    b, t, n = rasters.shape
    click.echo(f"{info['task']} {split}: {b} samples x {t} steps x {n} channels (dt {info['dt']:g} s), "
               f"{len(names)} classes ({', '.join(names)}) -> {out_path}")
