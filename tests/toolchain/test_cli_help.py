"""Every registered command imports, and its --help explains itself with an example."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from toolchain.cli import COMMANDS, main


def test_top_level_help_lists_every_command():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    for name in COMMANDS:
        assert name in res.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help(name):
    res = CliRunner().invoke(main, [name, "--help"])
    assert res.exit_code == 0, res.output
    assert "Example" in res.output or "example" in res.output, f"`spikeline {name} --help` shows no example"
