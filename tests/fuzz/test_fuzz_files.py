"""Every file argument of every command, corrupted many ways: exit 2 with one ``error:`` line, or success
when the corruption left a valid file; never a traceback, never success on a file that must be refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.corrupt import byte_level, json_level, raster_level, record_level
from toolchain.cli import main

#: command -> (file role, argv builder taking {role: path} and an output folder, exit codes of success)
COMMANDS = {
    "sim": lambda f, o: ["sim", f["config"], "-i", f["raster"], "-o", o / "rec.npz"],
    "check": lambda f, o: ["check", f["config"]],
    "compile": lambda f, o: ["compile", f["network"], "--chip", "xylo-audio2", "-o", o / "c.json",
                             "--no-calibrate"],
    "hil": lambda f, o: ["hil", f["config"], "-i", f["raster"], "--device", "sim"],
    "hil-record": lambda f, o: ["hil", f["config"], "-i", f["raster"], "--device-record", f["record"]],
    "deploy-bundle": lambda f, o: ["deploy", f["config"], "--bundle", o / "b.bundle", "--network", f["network"],
                                   "--encoding", f["encoding"]],
    "deploy-device": lambda f, o: ["deploy", f["bundle"], "--device", "sim", "--steps", "10"],
    "verify": lambda f, o: ["verify", f["network"], f["config"], "--limit", "3", "-o", o / "v"],
    "gradcheck": lambda f, o: ["gradcheck", "--network", f["network"], "--networks", "1"],
}
#: (command, file role) pairs fuzzed; slow commands get only corruptions that must be refused.
CASES = [("sim", "config"), ("sim", "raster"), ("check", "config"), ("compile", "network"), ("hil", "config"),
         ("hil", "raster"), ("hil-record", "record"), ("deploy-bundle", "config"), ("deploy-bundle", "network"),
         ("deploy-bundle", "encoding"), ("deploy-device", "bundle"), ("verify", "network"), ("verify", "config"),
         ("gradcheck", "network")]
SLOW = {"verify", "gradcheck"}
SUCCESS_CODES = {"hil-record": {0, 1}}  # 1: the records differ, reported as such


def check_outcome(res, must_fail: bool, success_codes: set[int], label: str) -> None:
    """The fuzz property for one CLI run."""
    where = f"[{label}] exit {res.exit_code}:\n{res.output[-1500:]}"
    assert res.exception is None or isinstance(res.exception, SystemExit), \
        f"traceback {where}\n{res.exception!r}"
    assert "Traceback" not in res.output, where
    if res.exit_code == 2:
        errors = [ln for ln in res.output.splitlines() if ln.startswith(("error:", "Error:"))]
        assert errors, f"exit 2 without an error line {where}"
        assert all(len(ln) < 2000 for ln in errors), where
    else:
        assert not must_fail, f"invalid input accepted {where}"
        assert res.exit_code in success_codes, where


@pytest.mark.parametrize(("command", "role"), CASES, ids=[f"{c}:{r}" for c, r in CASES])
def test_corrupted_file(command, role, valid_files, tmp_path, record_cases):
    original = valid_files[role].read_bytes()
    # another kind of file in its place (bundles and configurations stand in for each other)
    others = {k: p.read_bytes() for k, p in valid_files.items()
              if k != role and {k, role} != {"config", "bundle"}}
    strategies = [byte_level(original, others)]
    if valid_files[role].suffix == ".json":
        strategies.append(json_level(json.loads(original)))
    elif role == "raster":
        strategies.append(raster_level(np.load(valid_files[role])))
    elif role == "record":
        with np.load(valid_files[role]) as z:
            strategies.append(record_level({k: z[k] for k in z.files}))
    corruption = st.one_of(*strategies)
    if command in SLOW:
        corruption = corruption.filter(lambda c: c[2])
    runner = CliRunner()
    cases = []

    @settings(settings.get_profile("fuzz"), max_examples=max(4, settings.get_profile("fuzz").max_examples
                                                                // (4 if command in SLOW else 1)))
    @given(corruption)
    def run(case):
        label, data, must_fail = case
        bad = tmp_path / f"bad{valid_files[role].suffix}"
        bad.write_bytes(data)
        files = {**valid_files, role: bad}
        out = tmp_path / "out"
        res = runner.invoke(main, [str(a) for a in COMMANDS[command](files, out)])
        cases.append(label)
        check_outcome(res, must_fail, SUCCESS_CODES.get(command, {0}), f"{command} {role}: {label}")

    run()
    record_cases(len(cases))


def test_valid_files_succeed(valid_files, tmp_path):
    """The property's other half: the uncorrupted files go through every command."""
    for command in ("sim", "check", "compile", "hil", "hil-record", "deploy-bundle", "deploy-device"):
        res = CliRunner().invoke(main, [str(a) for a in COMMANDS[command](valid_files, Path(tmp_path))])
        assert res.exit_code == 0, (command, res.output)
