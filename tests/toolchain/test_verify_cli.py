"""``spikeline compile`` and ``spikeline verify`` end to end on a small Yin-Yang network."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from hw_models.config import load_config
from toolchain.cli import main
from toolchain.network import Network
from toolchain.verify.xylosim import XYLOSIM_SAMPLES

DT = 1e-3


@pytest.fixture()
def network_file(tmp_path):
    tau_s, tau_m = -DT / np.log(1 - 2**-2), -DT / np.log(1 - 2**-3)
    net = Network.random([5, 30, 3], seed=1, tau_syn=tau_s, tau_mem=tau_m, weight_mean=[1.0, 0.6],
                         weight_std=[1.0, 1.0], delays=[0, DT / 2], dt=DT)
    net.metadata.update(task="yinyang", task_options={"dt": DT}, t_end=0.06, decision="first-spike")
    return net.save(tmp_path / "network.json"), net


def test_compile_then_verify(tmp_path, network_file):
    path, net = network_file
    res = CliRunner().invoke(main, ["compile", str(path), "--chip", "xylo-audio2", "-o", str(tmp_path / "c.json")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.report.md").exists() and load_config(tmp_path / "c.json").n_hidden == 30
    res = CliRunner().invoke(main, ["verify", str(path), str(tmp_path / "c.json"), "--limit", "60", "--json",
                                    "-o", str(tmp_path / "v")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc["accuracy"]) == {"float", "chip-grid", "bit-accurate"}
    assert doc["samples"] == 60
    # a network that is already on no grid still maps: float and chip-grid views differ only by quantization
    assert doc["prediction_agreement"]["chip-grid_vs_float"] > 0.8
    for f in ("report.md", "report.json", "accuracy.png", "sample.png", "rates.png"):
        assert (tmp_path / "v" / f).exists()
    lo, hi = doc["accuracy_95"]["bit-accurate"]
    assert lo <= doc["accuracy"]["bit-accurate"] <= hi and hi - lo > 0.05  # 60 samples: a wide interval
    text = (tmp_path / "v" / "report.md").read_text()
    assert "## Compile" in text and "input channels" in text and "tau_syn requested" in text  # c.report.json read
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    assert report["provenance"]["network_sha256"] == digest and report["compile"]["shifts"]
    # the simulator checked against xylosim (installed here) on the first samples, in the report
    assert report["xylosim"]["ran"] and report["xylosim"]["samples"] == XYLOSIM_SAMPLES
    assert report["xylosim"]["identical"] is True and "Vmem" in report["xylosim"]["keys_compared"]
    assert "## Simulator vs xylosim" in text and "**identical**" in text


def test_compile_reports_every_problem_and_resource_table(tmp_path):
    net = Network.random([20, 600, 12], seed=0, dt=DT)
    net.save(tmp_path / "big.json")
    res = CliRunner().invoke(main, ["compile", str(tmp_path / "big.json"), "--chip", "xylo-imu", "-o",
                                    str(tmp_path / "c.json")])
    assert res.exit_code == 2
    assert "20 input channels" in res.output and "600 neurons; xylo-imu has 496" in res.output
    assert "hidden neurons" in res.output and "<-- over" in res.output
    assert not (tmp_path / "c.json").exists() and (tmp_path / "c.report.md").exists()


def test_verify_refuses_a_config_from_another_network(tmp_path, network_file):
    path, net = network_file
    CliRunner().invoke(main, ["compile", str(path), "--chip", "xylo-audio2", "-o", str(tmp_path / "c.json")])
    other = Network.random([5, 30, 3], seed=9, tau_syn=net.tau_syn[0][0], tau_mem=net.tau_mem[0][0], dt=DT)
    other.metadata.update(net.metadata)
    other.save(tmp_path / "other.json")
    res = CliRunner().invoke(main, ["verify", str(tmp_path / "other.json"), str(tmp_path / "c.json")])
    assert res.exit_code == 2 and "not compiled from this network" in res.output


def test_the_xylosim_check_is_skipped_with_a_note_without_xylosim_or_when_asked(tmp_path, network_file, monkeypatch):
    path, net = network_file
    CliRunner().invoke(main, ["compile", str(path), "--chip", "xylo-audio2", "-o", str(tmp_path / "c.json")])
    args = ["verify", str(path), str(tmp_path / "c.json"), "--limit", "20", "--json"]
    res = CliRunner().invoke(main, [*args, "--xylosim-check", "0", "-o", str(tmp_path / "none")])
    assert res.exit_code == 0, res.output
    assert "xylosim" not in json.loads(res.output)
    assert "Simulator vs xylosim" not in (tmp_path / "none" / "report.md").read_text()
    monkeypatch.setitem(sys.modules, "xylosim", None)  # as if it were not installed: the import fails
    res = CliRunner().invoke(main, [*args, "--xylosim-check", "5", "-o", str(tmp_path / "skip")])
    assert res.exit_code == 0, res.output
    check = json.loads(res.output)["xylosim"]
    assert not check["ran"] and check["identical"] is None and "pip install xylosim" in check["summary"]
    assert "Not checked: skipped (" in (tmp_path / "skip" / "report.md").read_text()
