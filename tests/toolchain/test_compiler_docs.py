"""docs/compiler.md's Python example, run as written on a small trained network, reports the same bit-accurate
accuracy as ``spikeline compile`` + ``spikeline verify`` on the same network."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from toolchain.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "compiler.md"


def test_the_python_example_matches_compile_and_verify(tmp_path):
    block = re.search(r"```python\n# compile_and_verify\.py\n(.*?)```", DOC.read_text(), re.S).group(1)
    (tmp_path / "compile_and_verify.py").write_text(block)
    res = CliRunner().invoke(main, ["train", "--task", "yinyang", "--out", str(tmp_path / "runs" / "yinyang"),
                                    "--hidden", "24", "--epochs", "2", "--train-subset", "400", "--workers", "1",
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    out = subprocess.run([sys.executable, "compile_and_verify.py"], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    python_accuracy = float(re.search(r"bit-accurate accuracy: ([0-9.]+)", out.stdout).group(1))
    assert "health (200 calibration samples)" in out.stdout

    run = tmp_path / "runs" / "yinyang"
    res = CliRunner().invoke(main, ["compile", str(run / "network.json"), "--chip", "xylo-audio2", "--out",
                                    str(tmp_path / "cli.json")])
    assert res.exit_code == 0, res.output
    assert "health (200 calibration samples)" in res.output and "calibrated: kept" in res.output
    res = CliRunner().invoke(main, ["verify", str(run / "network.json"), str(tmp_path / "cli.json"), "--json",
                                    "-o", str(tmp_path / "v")])
    assert res.exit_code == 0, res.output
    cli_accuracy = json.loads(res.output)["accuracy"]["bit-accurate"]
    assert f"{cli_accuracy:.4f}" == f"{python_accuracy:.4f}"
    assert (run / "config.json").read_text().split('"created"')[0] == (tmp_path / "cli.json").read_text().split(
        '"created"')[0]                                                # the same configuration, byte for byte
