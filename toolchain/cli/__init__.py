"""The ``spikeline`` command line. Each command lives in its own module and is imported on demand,
so ``spikeline --help`` stays fast and an optional dependency of one command never breaks another."""

from __future__ import annotations

import importlib
import sys

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
    "encode": "toolchain.cli.encode:encode_cmd",
    "sweep": "toolchain.cli.sweep:sweep_cmd",
    "export": "toolchain.cli.interop:export_cmd",
    "import": "toolchain.cli.interop:import_cmd",
}

_SHORT_HELP: dict[str, str] = {
    "demo": "The whole pipeline on Yin-Yang: train -> compile -> verify, ending with a report.",
    "finetune": "In-the-loop fine-tuning: forward pass on a backend, FP gradients at its spikes.",
    "sim": "Run a chip configuration or bundle on an input raster (bit-accurate); --decode: decisions.",
    "gradcheck": "Check that FP, EventProp and finite differences agree on random networks.",
    "check": "Check a chip configuration against the design rules; show resources used.",
    "compile": "Map and quantize a trained network onto a chip, with a design-rule report.",
    "verify": "Float vs chip-grid vs bit-accurate accuracy on a test split, with a report.",
    "hil": "Compare a device with a reference bit for bit; report the first divergence.",
    "deploy": "Write a verified bundle or RAM image, or apply a configuration to a backend.",
    "doctor": "Check installed packages, working backends, connected dev kits, bad installs.",
    "train": "Train a network on a task on a chip's grid (exact gradients, checkpoints, resume).",
    "encode": "A task's split as the chip's input rasters with labels, exactly as verify builds them.",
    "sweep": "Train, compile and verify seeds x settings (on Dask if asked); mean and spread per setting.",
    "export": "Write a network or chip configuration as NIR, ONNX or a rockpool specification.",
    "import": "Read a NIR graph or rockpool specification into a network or chip configuration.",
}


class LazyGroup(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's ``main``; with ``--json`` a usage error is printed as JSON on stdout (exit 2)."""
        argv = list(sys.argv[1:] if args is None else args)
        wants_json = "--json" in argv[:argv.index("--")] if "--" in argv else "--json" in argv
        if not (wants_json and standalone_mode):
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        from toolchain.cli.common import usage_error_json

        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            click.echo(usage_error_json(exc))
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

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
