"""The bad inputs of issue 11, one test each: three traceback causes, silent successes, misleading messages,
and the permissions of written files."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
from click.testing import CliRunner

from hw_models.errors import InputError
from toolchain.cli import main
from toolchain.network import load_network

LATIN1 = "{\"format\": \"spikeline.network/1\", \"name\": \"r\u00e9seau\"}".encode("latin-1")


def run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


def test_non_utf8_network_is_refused(tmp_path, valid_files):
    bad = tmp_path / "network.json"
    bad.write_bytes(LATIN1)
    with pytest.raises(InputError, match="binary data \\(not UTF-8 text\\), not a network"):
        load_network(bad)
    res = run("compile", bad, "--chip", "xylo-audio2", "-o", tmp_path / "c.json")
    assert res.exit_code == 2 and "not UTF-8" in res.output


@pytest.mark.parametrize("option", ["--encoding", "--network"])
def test_deploy_refuses_non_utf8_encoding_and_network(tmp_path, valid_files, option):
    bad = tmp_path / "x.json"
    bad.write_bytes(LATIN1)
    res = run("deploy", valid_files["config"], "--bundle", tmp_path / "b.bundle", option, bad)
    assert res.exit_code == 2 and f"{bad}: this is binary data (not UTF-8 text)" in res.output
    assert not (tmp_path / "b.bundle").exists()


def test_deploy_rate_nan_is_a_usage_error(valid_files):
    res = run("deploy", valid_files["config"], "--device", "sim", "--rate", "nan")
    assert res.exit_code == 2 and "Invalid value for '--rate': 'nan' is not a finite number" in res.output


def test_deploy_network_given_a_chip_configuration_is_refused(tmp_path, valid_files):
    res = run("deploy", valid_files["config"], "--bundle", tmp_path / "b.bundle", "--network", valid_files["config"])
    assert res.exit_code == 2 and "this is a chip configuration, not a network" in res.output
    assert not (tmp_path / "b.bundle").exists()


def test_boolean_raster_is_refused(tmp_path, valid_files):
    np.save(tmp_path / "r.npy", np.load(valid_files["raster"]) > 0)
    res = run("sim", valid_files["config"], "-i", tmp_path / "r.npy", "-o", tmp_path / "rec.npz")
    assert res.exit_code == 2 and "raster is boolean" in res.output and not (tmp_path / "rec.npz").exists()


def test_compile_negative_dt_names_the_option(tmp_path, valid_files):
    res = run("compile", valid_files["network"], "--chip", "xylo-audio2", "-o", tmp_path / "c.json", "--dt", "-1")
    assert res.exit_code == 2 and "Invalid value for '--dt': -1.0 is not in the range x>0" in res.output


def test_compile_given_a_chip_configuration_says_so(tmp_path, valid_files):
    res = run("compile", valid_files["config"], "--chip", "xylo-audio2", "-o", tmp_path / "c.json")
    assert res.exit_code == 2 and "this is a chip configuration, not a network" in res.output
    assert "unknown fields" not in res.output


def test_text_file_named_npy_is_named_as_text(tmp_path, valid_files):
    (tmp_path / "r.npy").write_text("0 1 0\n1 0 0\n")
    res = run("sim", valid_files["config"], "-i", tmp_path / "r.npy", "-o", tmp_path / "rec.npz")
    assert res.exit_code == 2 and "this is text, not a raster (.npy)" in res.output
    assert "pickle" not in res.output


def test_verify_with_another_tasks_data_names_the_mismatch(tmp_path, valid_files):
    res = run("verify", valid_files["network"], valid_files["config"], "--task", "digits", "-o", tmp_path / "v")
    assert res.exit_code == 2
    assert "task 'digits' has 8 input channels, the network takes 5 data channels" in res.output
    assert "outside [0, 5)" not in res.output


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, valid_files, umask, mode):
    old = os.umask(umask)
    try:
        res = run("sim", valid_files["config"], "-i", valid_files["raster"], "-o", tmp_path / "rec.npz")
        res2 = run("deploy", valid_files["config"], "--bundle", tmp_path / "b.bundle")
    finally:
        os.umask(old)
    assert res.exit_code == 0 and res2.exit_code == 0
    for name in ("rec.npz", "b.bundle"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_rewriting_a_file_keeps_its_mode(tmp_path, valid_files):
    out = tmp_path / "rec.npz"
    run("sim", valid_files["config"], "-i", valid_files["raster"], "-o", out)
    out.chmod(0o640)
    assert run("sim", valid_files["config"], "-i", valid_files["raster"], "-o", out).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_json_errors_stay_json(tmp_path, valid_files):
    bad = tmp_path / "x.json"
    bad.write_bytes(b"")
    res = run("check", bad, "--json")
    doc = json.loads(res.stdout)
    assert res.exit_code == 2 and doc["ok"] is False and "empty" in json.dumps(doc["problems"])
