"""``spikeline encode`` and ``spikeline sim --decode`` / bundles: the rasters verify builds, decisions for any
readout, and one-line errors (exit 2) for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from deploy.bundle import save_bundle
from hw_models.simulator import simulate
from toolchain.cli import main
from toolchain.compile import compile_network
from toolchain.data import load_task
from toolchain.data.inputs import network_inputs
from toolchain.io.rasters import load_rasters
from toolchain.network import Network
from toolchain.verify import verify

DT = 1e-3


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """A 5-30-3 Yin-Yang network with a leaky-integrator readout (no readout ever spikes), its configuration
    and a bundle holding both."""
    d = tmp_path_factory.mktemp("leaky")
    tau_s, tau_m = -DT / np.log(1 - 2**-2), -DT / np.log(1 - 2**-3)
    net = Network.random([5, 30, 3], seed=1, tau_syn=tau_s, tau_mem=tau_m, weight_mean=[1.0, 0.3],
                         weight_std=[1.0, 1.0], delays=[0, DT / 2], dt=DT, readout="leaky-integrator")
    net.metadata.update(task="yinyang", task_options={"dt": DT}, t_end=0.06, decision="integrated-voltage")
    net.save(d / "network.json")
    cfg, report = compile_network(net, "xylo-audio2")
    cfg.save(d / "config.json")
    report.save(d / "config.report")
    save_bundle(d / "net.bundle", cfg, network=net.to_dict())
    return d, net, cfg, report


def test_encode_network_gives_verify_rasters_and_labels(leaky, tmp_path):
    d, net, _, _ = leaky
    res = run("encode", d / "network.json", "--split", "val", "--limit", "40", "--out", tmp_path / "v.npz")
    assert res.exit_code == 0, res.output
    assert "yinyang val: 40 samples x 60 steps x 5 channels" in res.output and "(yin, yang, dot)" in res.output
    got = load_rasters(tmp_path / "v.npz")
    _, labels, rasters = network_inputs(net, "val", 40)
    assert np.array_equal(got.rasters, rasters) and np.array_equal(got.labels, labels)
    assert got.rasters.sum() > 0 and len(set(got.labels.tolist())) == 3
    assert got.class_names == ["yin", "yang", "dot"] and got.meta["split"] == "val"


def test_encode_preset_with_clock_channels(tmp_path):
    """digits' preset adds 8 clock channels, one tick per row (row_steps 4): the rasters carry them."""
    res = run("encode", "--task", "digits", "--split", "test", "--limit", "5", "--out", tmp_path / "d.npz",
              "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["shape"] == [5, 80, 16] and doc["clock"]["n_ticks"] == 8
    got = load_rasters(tmp_path / "d.npz")
    task = load_task("digits", max_count=8, row_steps=4, dt=0.25e-3)
    data = task.rasters("test")[:5]  # 8 rows of 1 ms: 32 steps of data in the preset's 20 ms trial
    assert np.array_equal(got.rasters[:, :32, :8], data) and not got.rasters[:, 32:, :8].any() and data.sum() > 0
    ticks = np.zeros((80, 8), int)
    ticks[np.arange(8) * 4, np.arange(8)] = 1
    assert all(np.array_equal(r[:, 8:], ticks) for r in got.rasters)
    assert np.array_equal(got.labels, task.test.labels[:5])


def test_sim_decode_leaky_readout_equals_verify(leaky, tmp_path):
    d, net, cfg, report = leaky
    run("encode", d / "network.json", "--split", "test", "--limit", "30", "--out", tmp_path / "t.npz")
    plain = run("sim", d / "config.json", "-i", tmp_path / "t.npz", "-o", tmp_path / "r.npz")
    assert plain.exit_code == 0 and "add --decode" in plain.output  # a leaky readout never spikes
    expected = verify(net, cfg, split="test", limit=30, compile_options=report.to_dict()).models["bit-accurate"]
    for source in (["--network", d / "network.json"], []):  # the network given, or the bundle's network
        target = d / "config.json" if source else d / "net.bundle"
        res = run("sim", target, "-i", tmp_path / "t.npz", "-o", tmp_path / "r.npz", "--decode", *source, "--json")
        assert res.exit_code == 0, res.output
        dec = json.loads(res.output)["decision"]
        assert [r["class"] for r in dec["samples"]] == expected.predictions.tolist()
        assert dec["accuracy"] == pytest.approx(expected.accuracy) and dec["rule"] == "integrated-voltage"
        assert {r["name"] for r in dec["samples"]} <= {"yin", "yang", "dot"}
    res = run("hil", d / "net.bundle", "-i", tmp_path / "t.npz", "--device", "sim")  # hil reads the same file
    assert res.exit_code == 0 and "30 sample(s)" in res.output, res.output
    res = run("sim", d / "net.bundle", "-i", tmp_path / "t.npz", "-o", tmp_path / "r.npz", "--decode", "--show", "3")
    assert res.exit_code == 0 and "sample 2:" in res.output and "sample 3:" not in res.output
    assert "27 more" in res.output and "accuracy:" in res.output


def test_sim_decode_spiking_readout_by_rule(tmp_path):
    """A plain .npy raster and --rule alone: the readout that spikes first, by the chip's rule."""
    net = Network.random([4, 20, 2], seed=3, weight_mean=[2.0, 2.0], dt=DT)
    cfg, _ = compile_network(net, "xylo-audio2")
    cfg.save(tmp_path / "c.json")
    raster = np.random.default_rng(0).poisson(0.5, (6, 40, 4)).clip(0, 15)
    np.save(tmp_path / "r.npy", raster)
    res = run("sim", tmp_path / "c.json", "-i", tmp_path / "r.npy", "-o", tmp_path / "rec.npz", "--decode",
              "--rule", "first-spike", "--json")
    assert res.exit_code == 0, res.output
    dec = json.loads(res.output)["decision"]
    out = simulate(cfg, raster)["Spikes_out"]
    assert out.sum() > 0
    for row, spikes in zip(dec["samples"], out, strict=True):  # the class spiked in the earliest step with a spike
        steps = np.flatnonzero(spikes.any(axis=1))
        if steps.size == 0:
            assert row["class"] == -1 and row["name"] == "no decision"
        else:
            assert spikes[steps[0], row["class"]] > 0 and row["name"] == str(row["class"])
    assert any(r["class"] >= 0 for r in dec["samples"])
    assert "accuracy" not in dec  # no labels in a .npy


def test_check_and_sim_accept_a_bundle_and_refuse_a_tampered_one(leaky, tmp_path):
    d, _, cfg, _ = leaky
    res = run("check", d / "net.bundle", "--json")
    assert res.exit_code == 0 and json.loads(res.output)["chip"] == "xylo-audio2"
    data = bytearray((d / "net.bundle").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "bad.bundle").write_bytes(bytes(data))
    np.save(tmp_path / "r.npy", np.zeros((5, cfg.n_inputs), int))
    for args in (["check", tmp_path / "bad.bundle"],
                 ["sim", tmp_path / "bad.bundle", "-i", tmp_path / "r.npy", "-o", tmp_path / "x.npz"]):
        res = run(*args)
        assert res.exit_code == 2 and "not valid JSON" not in res.output
        assert res.output.startswith("error: ") and "bad.bundle" in res.output


@pytest.mark.parametrize("args,message", [
    (["encode", "--out", "{t}/x.npz"], "give either NETWORK"),
    (["encode", "{d}/network.json", "--task", "yinyang", "--out", "{t}/x.npz"], "not both"),
    (["encode", "--task", "nope", "--out", "{t}/x.npz"], "unknown task 'nope'"),
    (["encode", "--task", "yinyang", "--out", "{t}/x.npy"], "name it *.npz"),
    (["encode", "{d}/network.json", "--task-option", "dt=0.001", "--out", "{t}/x.npz"], "--task-option goes with"),
    (["sim", "{d}/config.json", "-i", "{t}/r.npy", "-o", "{t}/x.npz", "--decode"], "needs the decision rule"),
    (["sim", "{d}/config.json", "-i", "{t}/r.npy", "-o", "{t}/x.npz", "--rule", "first-spike"], "add --decode"),
    (["sim", "{d}/net.bundle", "-i", "{t}/r.npy", "-o", "{t}/x.npz", "--decode", "--record", "spikes"],
     "drop --record spikes"),
    (["sim", "{d}/config.json", "-i", "{t}/norasters.npz", "-o", "{t}/x.npz"], "needs an array 'rasters'"),
])
def test_bad_input_is_one_line_exit_2(leaky, tmp_path, args, message):
    d = leaky[0]
    np.save(tmp_path / "r.npy", np.zeros((5, 5), int))
    np.savez(tmp_path / "norasters.npz", x=np.zeros(3))
    res = run(*[a.format(d=d, t=tmp_path) for a in args])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.output
