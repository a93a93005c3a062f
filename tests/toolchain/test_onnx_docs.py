"""The Python example of docs/onnx.md runs as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "onnx.md"


def test_python_example_runs_as_printed(tmp_path):
    pytest.importorskip("onnxruntime")
    text = DOC.read_text()
    code = re.search(r"```python\n# onnx_example\.py\n(.*?)```", text, re.S).group(1)
    (tmp_path / "onnx_example.py").write_text(code)
    out = subprocess.run([sys.executable, "onnx_example.py"], cwd=tmp_path, check=True, capture_output=True,
                         text=True, env={"PYTHONPATH": str(DOC.parents[1]), "PATH": ""}).stdout
    assert "bit-identical to simulate(): True" in out and "False" not in out
    assert "```\n" + out.strip() + "\n```" in text  # the page shows exactly what the example prints
    assert (tmp_path / "chip.onnx").stat().st_size > 0
