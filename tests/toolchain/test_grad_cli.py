"""``spikeline gradcheck`` end to end (click runner)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from toolchain.cli import main
from toolchain.grad.check import random_problem


def run(*args: str):
    return CliRunner().invoke(main, ["gradcheck", *args])


def test_gradcheck_passes_on_random_networks():
    result = run("-n", "1", "--seed", "3", "--recurrent", "--delay", "1e-3")
    assert result.exit_code == 0, result.output
    assert "1/1 networks agree" in result.output and "eventprop" in result.output


def test_gradcheck_json_on_a_saved_leaky_network(tmp_path):
    net, _, _ = random_problem(5, [3, 5, 2], readout="leaky-integrator")
    path = net.save(tmp_path / "net.json")
    result = run("--network", str(path), "-n", "1", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["ok"] and doc["loss"] == "max-voltage"
    errors = doc["results"][0]["errors"]
    assert errors["eventprop-vs-fp"] < 1e-8 and errors["fp-vs-finite-diff"] < 1e-5


def test_gradcheck_reports_bad_options():
    result = run("--sizes", "4,x,3")
    assert result.exit_code == 2 and "comma-separated" in result.output
    assert "Examples" in run("--help").output
