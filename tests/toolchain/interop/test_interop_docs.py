"""docs/interop.md runs as printed: its Python blocks (first line ``# name.py``) and ``$ spikeline``
lines, in page order, in one folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "interop.md"


def steps(text: str) -> list[tuple[str, str]]:
    """("python", code) and ("cli", command line) in page order."""
    out = []
    for m in re.finditer(r"```(python|console)\n(.*?)```", text, re.S):
        if m.group(1) == "python":
            out.append(("python", m.group(2)))
        else:
            out += [("cli", line[2:]) for line in m.group(2).splitlines() if line.startswith("$ spikeline ")]
    return out


def test_interop_page_runs(tmp_path):
    for module in ("nir", "torch", "snntorch", "rockpool", "xylosim"):
        pytest.importorskip(module)
    todo = steps(DOC.read_text())
    assert sum(kind == "cli" for kind, _ in todo) >= 6 and sum(kind == "python" for kind, _ in todo) >= 4
    root = str(DOC.parents[1])
    env = {"PYTHONPATH": root, "PATH": ""}
    for kind, body in todo:
        if kind == "python":
            name = body.split("\n", 1)[0].removeprefix("# ").strip()
            (tmp_path / name).write_text(body)
            cmd = [sys.executable, name]
        else:
            cmd = [sys.executable, "-m", "toolchain.cli", *body.split()[1:]]
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{body}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    for f in ("model.nir", "back.json", "snn_network.json", "spec.json", "config_back.json", "rockpool_config.json"):
        assert (tmp_path / f).exists(), f
