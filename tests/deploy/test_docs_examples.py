"""The Python examples of docs/deployment.md run as printed, and the documented divergence is real."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


def named_blocks(text: str) -> dict[str, str]:
    """```python blocks whose first line is ``# <file>.py``."""
    return {m.group(1): m.group(0).split("\n", 1)[1].rsplit("```", 1)[0]
            for m in re.finditer(r"```python\n# (\w+\.py)\n.*?```", text, re.S)}


def test_walkthrough_examples_run(tmp_path):
    pytest.importorskip("xylosim")
    blocks = named_blocks(DOC.read_text())
    assert set(blocks) >= {"make_example.py", "broken.py"}
    for name, code in blocks.items():
        (tmp_path / name).write_text(code)
    root = str(DOC.parents[1])
    env = {"PYTHONPATH": root, "PATH": ""}
    subprocess.run([sys.executable, "make_example.py"], cwd=tmp_path, check=True, env=env)
    out = subprocess.run([sys.executable, "broken.py"], cwd=tmp_path, check=True, env=env,
                         capture_output=True, text=True).stdout
    assert "MISMATCH: first divergence at step 3, hidden neuron 9, Isyn: device -124, reference -172" in out
    assert out.strip() in DOC.read_text()  # the page shows exactly what the example prints
