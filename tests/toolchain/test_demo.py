"""``spikeline demo`` end to end (one short epoch): train -> compile -> verify -> xylosim check."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from toolchain.cli import main


def test_demo_runs_the_whole_pipeline(tmp_path):
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "d"), "--epochs", "1", "--hidden", "16",
                                    "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc["accuracy"]) == {"float", "chip-grid", "bit-accurate"}
    assert doc["xylosim"].startswith("identical")
    assert json.loads(Path(doc["report"]).with_name("report.json").read_text())["xylosim"]["identical"] is True
    for key in ("network", "config", "report", "compile_report"):
        assert Path(doc[key]).exists(), key
    text = Path(doc["report"]).read_text()  # the report tells the whole story
    for section in ("## Accuracy", "## Compile", "## Firing rates", "## Simulator vs xylosim", "## One sample",
                    "## Training", "## Provenance"):
        assert section in text, section
