"""``spikeline sweep``: 2 settings x 2 seeds on a real LocalCluster; interrupted (the command killed after its
first finished combination) and started again, it skips what was finished and gives the table of an
uninterrupted serial sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolchain.cli import main
from toolchain.train.sweep import parse_seeds, parse_values

pytest.importorskip("distributed")

ARGS = ["--task", "yinyang", "--seeds", "0-1", "--set", "lr=0.001,0.003", "--set", "epochs=1",
        "--set", "hidden=[8]", "--set", "train_subset=32", "--set", "val_subset=16", "--verify-limit", "40"]


def table_without_times(folder: Path) -> list:
    doc = json.loads((folder / "sweep.json").read_text())
    for row in doc["runs"]:
        row.pop("train_wall_seconds")
    return [doc["table"], doc["runs"]]


def test_seeds_and_values_parse_and_bad_ones_are_refused():
    assert parse_seeds("0-2,5") == [0, 1, 2, 5]
    assert parse_values("hidden=[100],[200]") == ("hidden", [[100], [200]])
    assert parse_values("engine=fp,eventprop") == ("engine", ["fp", "eventprop"])
    result = CliRunner().invoke(main, ["sweep", "--task", "yinyang", "--seeds", "3-1", "--out", "x"])
    assert result.exit_code == 2 and "--seeds '3-1'" in result.output


def test_an_interrupted_sweep_resumes_to_the_same_table(tmp_path):
    reference = tmp_path / "serial"
    result = CliRunner().invoke(main, ["sweep", *ARGS, "--out", str(reference)])
    assert result.exit_code == 0, result.output
    table = table_without_times(reference)
    assert len(table[0]) == 2 and all(len(e["seeds"]) == 2 for e in table[0])
    assert "lr=0.001" in (reference / "sweep.md").read_text()

    out = tmp_path / "cluster"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cmd = [sys.executable, "-m", "toolchain.cli", "sweep", *ARGS, "--scheduler", "local:2", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 900
    while not list(out.glob("runs/*/result.json")) and proc.poll() is None:
        if time.monotonic() > deadline:  # a watchdog, so a hang fails instead of blocking the suite
            pytest.fail("the awaited event did not happen")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the command and its cluster's worker processes
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/result.json")}
    assert 1 <= len(finished) < 4 and not (out / "sweep.json").exists()

    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())  # finished combinations were not rerun
    assert table_without_times(out) == table
