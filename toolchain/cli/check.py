"""``spikeline check``: validate a chip configuration file and show what it uses."""

from __future__ import annotations

import json

import click

from hw_models.chips import chip_names
from toolchain.cli.common import json_option, report_errors


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--chip", "-c", default=None, help=f"Check against another chip ({', '.join(chip_names())}); "
                                                 "default: the chip the file names.")
@json_option
@report_errors
def check_cmd(config: str, chip: str | None, as_json: bool) -> None:
    """Check CONFIG (a chip configuration JSON or a bundle, verified first) against the chip's design rules;
    print every violation, warnings and the resources.

    \b
    Example:
      spikeline check config.json
      spikeline check config.json --chip xylo-imu --json
      spikeline check net.bundle
    """
    from deploy.bundle import load_deployable
    from hw_models.rules import raise_if_invalid, resources, warnings

    cfg, _ = load_deployable(config)
    raise_if_invalid(cfg, chip, source=config)
    rows = resources(cfg, chip)
    notes = warnings(cfg)
    if as_json:
        click.echo(json.dumps({"ok": True, "chip": chip or cfg.chip, "warnings": notes,
                               "resources": [{"resource": r.resource, "used": r.used, "available": r.available}
                                             for r in rows]}, indent=2))
        return
    click.echo(f"{config}: fits {chip or cfg.chip}")
    for r in rows:
        click.echo(f"  {r.resource:58s} {r.used:>8,} / {r.available:,}")
    for w in notes:
        click.echo(f"warning: {w}", err=True)
