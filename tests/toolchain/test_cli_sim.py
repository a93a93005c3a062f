"""``spikeline sim`` end to end: both backends, batch, spikes-only, and bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hw_models.simulator import Record, simulate
from tests.hw_models.random_configs import random_config
from toolchain.cli import main


@pytest.fixture()
def files(tmp_path: Path):
    cfg, raster, _ = random_config(5, "xylo-audio2", "random")
    raster = np.minimum(raster, 15)
    cfg.save(tmp_path / "config.json")
    np.save(tmp_path / "raster.npy", raster[0])
    np.save(tmp_path / "batch.npy", raster)
    return tmp_path, cfg, raster


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("backend", ["sim", "xylosim"])
def test_sim_writes_the_record(files, backend):
    d, cfg, raster = files
    res = run("sim", d / "config.json", "--input", d / "raster.npy", "--out", d / "rec.npz",
              "--backend", backend)
    assert res.exit_code == 0, res.output
    rec = Record.load(d / "rec.npz")
    assert rec.first_difference(simulate(cfg, raster[0])) is None
    assert set(rec.keys()) == {"Spikes", "Vmem", "Isyn", "Isyn2", "Spikes_out", "Vmem_out", "Isyn_out"}


def test_sim_batch_spikes_only_json(files):
    d, cfg, raster = files
    res = run("sim", d / "config.json", "-i", d / "batch.npy", "-o", d / "rec.npz", "--record", "spikes",
              "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["ok"] and summary["shape"] == list(raster.shape)
    rec = Record.load(d / "rec.npz")
    assert set(rec.keys()) == {"Spikes", "Spikes_out"} and rec["Spikes"].shape[0] == raster.shape[0]


@pytest.mark.parametrize("bad,match", [
    (np.full((4, 3), -1), "negative"),
    (np.full((4, 3), 0.5), "integer"),
    (np.zeros((4, 99), int), "channels"),
    (np.zeros((4,), int), "shape"),
    (np.full((4, 3), 40), "at most 15"),
])
def test_sim_refuses_bad_rasters(files, bad, match):
    d, cfg, _ = files
    bad = bad if bad.shape[-1] in (99,) or bad.ndim == 1 else np.resize(bad, (4, cfg.n_inputs))
    np.save(d / "bad.npy", bad)
    res = CliRunner().invoke(main, ["sim", str(d / "config.json"), "-i", str(d / "bad.npy"), "-o",
                                    str(d / "rec.npz")])
    assert res.exit_code == 2 and match in res.output
    assert not (d / "rec.npz").exists()


def test_sim_reports_every_config_violation(files):
    d, cfg, _ = files
    doc = json.loads((d / "config.json").read_text())
    doc["dash_mem"][0] = 99
    doc["weight_shift_in"] = 20
    (d / "broken.json").write_text(json.dumps(doc))
    res = CliRunner().invoke(main, ["sim", str(d / "broken.json"), "-i", str(d / "raster.npy"), "-o",
                                    str(d / "rec.npz"), "--json"])
    assert res.exit_code == 2
    problems = json.loads(res.output)["problems"]
    assert {p["field"] for p in problems} == {"dash_mem", "weight_shift_in"}


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "toolchain.cli", "sim", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "--backend" in out and "Example" in out


def test_check_command(files):
    d, cfg, _ = files
    res = run("check", d / "config.json")
    assert res.exit_code == 0 and "fits xylo-audio2" in res.output and "hidden neurons" in res.output
    doc = json.loads((d / "config.json").read_text())
    doc["threshold"][2] = 99999
    (d / "bad.json").write_text(json.dumps(doc))
    res = CliRunner().invoke(main, ["check", str(d / "bad.json")])
    assert res.exit_code == 2 and "threshold[2]" in res.output and "[-32768, 32767]" in res.output
