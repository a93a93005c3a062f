"""benchmarks/deployment_seeds.py: the table of deployment gaps over seeds, read from verify reports."""

from __future__ import annotations

import json
import math
import sys

from benchmarks import deployment_seeds


def write_run(root, task: str, seed: int, chip_grid: float, bit_accurate: float, agree: float) -> None:
    (root / task / "deploy" / "verify").mkdir(parents=True)
    (root / task / "network.json").write_text(json.dumps({"metadata": {"seed": seed}}))
    report = {"samples": 200, "accuracy": {"chip-grid": chip_grid, "bit-accurate": bit_accurate},
              "gap_bit_accurate_vs_chip_grid_pp": 100 * (bit_accurate - chip_grid),
              "prediction_agreement": {"bit-accurate_vs_chip-grid": agree}}
    (root / task / "deploy" / "verify" / "report.json").write_text(json.dumps(report))


def test_mean_gap_and_its_standard_error_over_seeds(tmp_path, monkeypatch, capsys):
    write_run(tmp_path / "s0", "digits", 0, 0.95, 0.94, 0.98)
    write_run(tmp_path / "s1", "digits", 1, 0.95, 0.96, 0.97)
    assert deployment_seeds.read_gap(tmp_path / "s2", "digits") is None       # a missing seed is skipped
    gap = deployment_seeds.read_gap(tmp_path / "s0", "digits")
    assert gap["seed"] == 0 and math.isclose(gap["gap_pp"], -1.0) and math.isclose(gap["differ"], 0.02)
    monkeypatch.setattr(sys, "argv", ["deployment_seeds", "--roots", str(tmp_path / "s0"), str(tmp_path / "s1"),
                                      str(tmp_path / "s2"), "--tasks", "digits", "fsdd", "--no-write"])
    deployment_seeds.main()
    out = capsys.readouterr().out
    assert "seed 0: -1.00 pp (2.0 %); seed 1: +1.00 pp (3.0 %)" in out
    assert "mean +0.00 pp, sem 1.00 pp" in out                                 # sd sqrt(2), / sqrt(2)
    assert "fsdd: no verify report" in out
