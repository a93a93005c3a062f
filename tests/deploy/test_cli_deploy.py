"""The hil, deploy and doctor commands, end to end through the `spikeline` entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from deploy_netgen import FlippedWeightBackend, fake_install, random_config, random_raster

import deploy.hil
from deploy.backends.sim import SimBackend
from deploy.bundle import load_bundle
from deploy.doctor import run_doctor, usb_devices
from deploy.ram_image import config_from_ram_image, load_ram_image
from toolchain.cli import main


@pytest.fixture
def files(tmp_path):
    config = random_config(2, n_hidden=10, aliases=True, bias=True)
    config.save(tmp_path / "config.json")
    np.save(tmp_path / "raster.npy", random_raster(2, steps=40))
    return tmp_path, config


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_hil_clean(files):
    pytest.importorskip("xylosim")
    d, _ = files
    res = run("hil", d / "config.json", "--input", d / "raster.npy", "--device", "xylosim",
              "--reference", "sim", "--report", d / "hil.json")
    assert res.exit_code == 0, res.output
    assert "OK: bit-identical" in res.output
    assert json.loads((d / "hil.json").read_text())["ok"] is True


def test_hil_mismatch_exits_1_and_names_the_divergence(files, monkeypatch):
    d, config = files
    pre, post = (int(i) for i in np.argwhere(config.weights_rec[..., 0] != 0)[0])
    broken = FlippedWeightBackend("weights_rec", (pre, post, 0), 6)
    real = deploy.hil.get_backend
    monkeypatch.setattr(deploy.hil, "get_backend", lambda name: broken if name == "xylosim" else real(name))
    res = run("hil", d / "config.json", "-i", d / "raster.npy", "--json")
    assert res.exit_code == 1
    doc = json.loads(res.output)
    assert doc["ok"] is False and doc["divergence"]["neuron"] == post
    assert doc["divergence"]["key"] == "Isyn" and doc["device"] == "sim+flipped-bit"
    text = run("hil", d / "config.json", "-i", d / "raster.npy")
    assert text.exit_code == 1 and "MISMATCH: first divergence at step" in text.output


def test_hil_bad_input_exits_2(files):
    d, _ = files
    np.save(d / "bad.npy", np.zeros((5, 3), int))
    res = run("hil", d / "config.json", "-i", d / "bad.npy", "--device", "sim")
    assert res.exit_code == 2 and "3 channels" in res.output


def test_deploy_bundle_ram_image_and_device(files):
    d, config = files
    (d / "enc.json").write_text(json.dumps({"kind": "rate"}))
    res = run("deploy", d / "config.json", "--bundle", d / "net.bundle", "--encoding", d / "enc.json",
              "--ram-image", d / "ram", "--device", "sim", "--test-bench", d / "tb", "--input", d / "raster.npy")
    assert res.exit_code == 0, res.output
    assert load_bundle(d / "net.bundle").encoding == {"kind": "rate"}
    assert config_from_ram_image(load_ram_image(d / "ram")) == config
    assert "sim: configuration applied" in res.output
    assert len(list((d / "tb" / "vmem").glob("nmpram_*.txt"))) == 40
    pytest.importorskip("xylosim")
    res = run("deploy", d / "net.bundle", "--device", "xylosim", "--steps", "50", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["device"]["matches_sim"] is True


def test_deploy_refusals(files):
    d, _ = files
    assert run("deploy", d / "config.json").exit_code == 2
    res = run("deploy", d / "config.json", "--test-bench", d / "tb")
    assert res.exit_code == 2 and "go together" in res.output
    run("deploy", d / "config.json", "--bundle", d / "net.bundle")
    data = bytearray((d / "net.bundle").read_bytes())
    (d / "cut.bundle").write_bytes(bytes(data[: len(data) // 2]))
    res = run("deploy", d / "cut.bundle", "--device", "sim")
    assert res.exit_code == 2 and "truncated or corrupted" in res.output
    from deploy.backends.samna import samna_status
    if not samna_status().installed:
        res = run("deploy", d / "config.json", "--device", "samna")
        assert res.exit_code == 2 and "SynSense" in res.output


def test_doctor_json():
    res = run("doctor", "--json")
    doc = json.loads(res.output)
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["backend sim"]["status"] == "ok"
    assert doc["packages"]["numpy"] == np.__version__
    if doc["packages"]["xylosim"]:
        assert checks["backend xylosim"]["status"] == "ok"
    failed = [c["name"] for c in doc["checks"] if c["status"] == "fail"]
    assert doc["ok"] is (not failed)
    assert res.exit_code == (1 if failed else 0), failed  # a fail check, and only one, makes the exit status 1


def test_doctor_flags_the_samna_stub(tmp_path, monkeypatch):
    fake_install(tmp_path, "0.0.1", ["samna/__init__.py"])
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    importlib.invalidate_caches()
    report = run_doctor(usb_root=tmp_path / "no-usb")
    checks = {c.name: c for c in report.checks}
    assert checks["backend samna"].status == "fail" and "stub" in checks["backend samna"].detail
    assert not report.ok and report.packages["samna"] == "0.0.1"
    res = run("doctor")
    assert res.exit_code == 1 and "stub" in res.output


def test_usb_scan(tmp_path):
    for name, manu, prod in (("1-1", "SynSense", "Xylo Audio 3 dev kit"), ("1-2", "Logitech", "Mouse")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manufacturer").write_text(manu + "\n")
        (tmp_path / name / "product").write_text(prod + "\n")
    assert usb_devices(tmp_path) == ["SynSense Xylo Audio 3 dev kit (usb 1-1)"]
    report = run_doctor(usb_root=tmp_path)
    device = next(c for c in report.checks if c.name == "device")
    assert device.status == "warn" and "SynSense" in device.detail


def test_hil_against_a_saved_device_record(files):
    d, config = files
    raster = np.load(d / "raster.npy")
    pre, post = (int(i) for i in np.argwhere(config.weights_rec[..., 0] != 0)[0])
    broken = FlippedWeightBackend("weights_rec", (pre, post, 0), 6)
    broken.apply(config)
    broken.evolve(raster).save(d / "devkit.npz")
    res = run("hil", d / "config.json", "-i", d / "raster.npy", "--device-record", d / "devkit.npz", "--json")
    assert res.exit_code == 1
    doc = json.loads(res.output)
    assert doc["device"].endswith("devkit.npz") and doc["divergence"]["neuron"] == post
    clean = SimBackend()
    clean.apply(config)
    clean.evolve(raster).save(d / "good.npz")
    assert run("hil", d / "config.json", "-i", d / "raster.npy", "--device-record", d / "good.npz").exit_code == 0
    np.savez(d / "junk.npz", foo=np.zeros(3))
    res = run("hil", d / "config.json", "-i", d / "raster.npy", "--device-record", d / "junk.npz")
    assert res.exit_code == 2 and "expected arrays named" in res.output
