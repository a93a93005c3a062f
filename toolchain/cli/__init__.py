"""The ``spikeline`` command line. Each command lives in its own module and is imported on demand,
so ``spikeline --help`` stays fast and an optional dependency of one command never breaks another."""

from __future__ import annotations

import importlib

import click

#: command name -> "module:function". Add a command by adding a line here.
COMMANDS: dict[str, str] = {
    "demo": "toolchain.cli.demo:demo",
    "finetune": "toolchain.cli.finetune:finetune_cmd",
    "sim": "toolchain.cli.sim:sim",
    "gradcheck": "toolchain.cli.gradcheck:gradcheck",
    "check": "toolchain.cli.check:check_cmd",
    "compile": "toolchain.cli.compile:compile_cmd",
    "verify": "toolchain.cli.verify:verify_cmd",
    "hil": "toolchain.cli.hil:hil",
    "deploy": "toolchain.cli.deploy:deploy",
    "doctor": "toolchain.cli.doctor:doctor",
    "train": "toolchain.cli.train:train_cmd",
    "sweep": "toolchain.cli.sweep:sweep_cmd",
    "export": "toolchain.cli.interop:export_cmd",
    "import": "toolchain.cli.interop:import_cmd",
}

_SHORT_HELP: dict[str, str] = {
    "demo": "The whole pipeline on Yin-Yang: train -> compile -> verify, ending with a report.",
    "finetune": "In-the-loop fine-tuning: forward pass on a backend, FP gradients at its spikes.",
    "sim": "Run a chip configuration on an input raster (bit-accurate).",
    "gradcheck": "Check that FP, EventProp and finite differences agree on random networks.",
    "check": "Check a chip configuration against the design rules; show resources used.",
    "compile": "Map and quantize a trained network onto a chip, with a design-rule report.",
    "verify": "Float vs chip-grid vs bit-accurate accuracy on a test split, with a report.",
    "hil": "Compare a device with a reference bit for bit; report the first divergence.",
    "deploy": "Write a verified bundle or RAM image, or apply a configuration to a backend.",
    "doctor": "Check installed packages, working backends, connected dev kits, bad installs.",
    "train": "Train a network on a task on a chip's grid (exact gradients, checkpoints, resume).",
    "sweep": "Train, compile and verify seeds x settings (on Dask if asked); mean and spread per setting.",
    "export": "Write a network or chip configuration as NIR, ONNX or a rockpool specification.",
    "import": "Read a NIR graph or rockpool specification into a network or chip configuration.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spikeline")
def main() -> None:
    """Spikeline: exact-gradient SNN training, Xylo compilation and bit-accurate simulation.

    Run `spikeline COMMAND --help` for the options of a command. Docs: docs/cli.md.
    """
