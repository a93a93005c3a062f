"""``spikeline finetune``: in-the-loop fine-tuning of a trained run through a backend (chip in the loop)."""

from __future__ import annotations

import json

import click

from toolchain.cli.common import COUNT, POSITIVE, SEED, json_option, report_errors


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the fine-tuned network.json, config.json and finetune.json.")
@click.option("--backend", "-b", type=click.Choice(["sim", "xylosim", "samna"]), default="sim", show_default=True,
              help="What runs the forward pass: the bit-accurate simulator, xylosim, or a dev kit.")
@click.option("--epochs", type=COUNT, default=3, show_default=True)
@click.option("--lr", type=POSITIVE, default=None, help="Adam learning rate (default: 1/20 of the run's).")
@click.option("--batch-size", type=COUNT, default=None, help="Default: the run's.")
@click.option("--train-subset", type=COUNT, default=None,
              help="Use only the first N training samples per epoch.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@json_option
@report_errors
def finetune_cmd(run_dir: str, out_dir: str, backend: str, epochs: int, lr: float | None, batch_size: int | None,
                 train_subset: int | None, seed: int, as_json: bool) -> None:
    """Fine-tune the network of a `spikeline train` RUN_DIR with the chip in the loop: the backend runs the
    forward pass, FP gradients are taken at the spikes it produced (crossing times estimated inside each step
    from the integer membranes), the update stays on the chip grid, the network is recompiled. Keeps the
    epoch with the best bit-accurate validation accuracy; reports test accuracy before and after.

    \b
    Example:
      spikeline finetune runs/yinyang --out runs/yinyang-ft --epochs 3
    """
    from toolchain.inloop.finetune import finetune

    result = finetune(run_dir, out_dir, backend=backend, epochs=epochs, lr=lr, batch_size=batch_size,
                      train_subset=train_subset, seed=seed, log=(lambda *_: None) if as_json else click.echo,
                      progress=not as_json)
    if as_json:
        click.echo(json.dumps({"ok": True, **result.summary, "history": result.history}, indent=2))
