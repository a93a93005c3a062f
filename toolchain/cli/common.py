"""Shared command-line behaviour: one clear line per problem, non-zero exit, optional JSON."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable

import click

from hw_models.errors import ConfigError, SpikelineError

EXIT_PROBLEM = 2


def report_errors(func: Callable) -> Callable:
    """Turn Spikeline errors into one line per problem on stderr (or JSON with ``--json``)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        as_json = bool(kwargs.get("as_json"))
        try:
            return func(*args, **kwargs)
        except SpikelineError as exc:
            if as_json:
                doc = {"ok": False, "error": type(exc).__name__,
                       "problems": ([v.to_dict() for v in exc.violations]
                                    if isinstance(exc, ConfigError) else [{"message": str(exc)}])}
                click.echo(json.dumps(doc, indent=2))
            elif isinstance(exc, ConfigError):
                for v in exc.violations:
                    click.echo(f"error: {exc.source + ': ' if exc.source else ''}{v}", err=True)
            else:
                for line in str(exc).splitlines():
                    click.echo(f"error: {line}", err=True)
            sys.exit(EXIT_PROBLEM)

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the result (or the problems) as JSON on stdout.")


def usage_error_json(exc: click.ClickException) -> str:
    """A usage error (bad option, missing argument) as the JSON document ``--json`` promises."""
    return json.dumps({"ok": False, "error": type(exc).__name__,
                       "problems": [{"message": exc.format_message()}]}, indent=2)


class FiniteFloatRange(click.FloatRange):
    """A float option that refuses NaN and infinity, then checks the range like ``click.FloatRange``."""

    name = "finite float range"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number (NaN and infinity are refused)", param, ctx)
        return super().convert(number, param, ctx)


#: Option types for every numeric option (``FiniteFloatRange(lo, hi)`` for others): a float > 0 (durations,
#: rates, learning rates), a float >= 0, a count >= 1 and a seed (0 .. 2**63 - 1, what numpy accepts).
POSITIVE = FiniteFloatRange(min=0, min_open=True)
NON_NEGATIVE = FiniteFloatRange(min=0)
COUNT = click.IntRange(min=1)
SEED = click.IntRange(min=0, max=2**63 - 1)


def scheduler_options(func: Callable) -> Callable:
    """``--scheduler WHERE`` and its older spelling ``--workers N`` (= ``--scheduler local:N``; 1 = this process).
    The command receives one ``scheduler`` argument."""
    from toolchain.dist.base import SCHEDULER_HELP

    @functools.wraps(func)
    def wrapper(*args, scheduler: str | None = None, workers: int | None = None, **kwargs):
        if workers is not None and scheduler is not None:
            raise click.UsageError("give --scheduler or --workers, not both (--workers N is --scheduler local:N)")
        if workers is not None:
            scheduler = "serial" if workers == 1 else f"local:{workers}"
        return func(*args, scheduler=scheduler, **kwargs)

    wrapper = click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
                           help="Older spelling of --scheduler local:N (1: this process).")(wrapper)
    return click.option("--scheduler", default=None, metavar="WHERE",
                        help=SCHEDULER_HELP[0].upper() + SCHEDULER_HELP[1:] + " (docs/scaling.md).")(wrapper)
