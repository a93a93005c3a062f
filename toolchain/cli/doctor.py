"""``spikeline doctor``: installed versions, working backends, connected dev kits, known-bad installs."""

from __future__ import annotations

import json
import sys

import click

from toolchain.cli.common import json_option, report_errors

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "absent": "dim"}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@json_option
@report_errors
def doctor(as_json: bool) -> None:
    """Check this installation: package versions (numpy, pydantic, nir, onnx, xylosim, samna, ...),
    which backends work (xylosim is run and compared with sim bit for bit), whether a Xylo dev kit is
    connected, and known-bad installs (the stub `samna` from the public package index).

    Exit status 1 if any check fails.

    \b
    Example:
      spikeline doctor
      spikeline doctor --json
    """
    from deploy.doctor import run_doctor

    report = run_doctor()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        console.print(f"Python {report.python} on {report.platform}")
        packages = Table(title="Packages")
        packages.add_column("package")
        packages.add_column("version")
        for name, version in report.packages.items():
            packages.add_row(name, version or "[dim]not installed[/dim]")
        console.print(packages)
        checks = Table(title="Checks")
        for col in ("check", "status", "detail"):
            checks.add_column(col, overflow="fold")
        for c in report.checks:
            checks.add_row(c.name, f"[{STYLE[c.status]}]{c.status}[/]", c.detail)
        console.print(checks)
    if not report.ok:
        sys.exit(1)
