"""Custom chips declared in files (spikeline.chip-spec/1) and carried inside configurations (chip_spec)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hw_models.chips import get_chip, load_chip_file, spec_from_dict, spec_to_dict
from hw_models.config import ChipConfig, from_dict, load_config
from hw_models.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _chip_file(tmp_path, name="file-chip-1", **fields):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"format": "spikeline.chip-spec/1", "name": name, "n_inputs": 40, "n_hidden": 50,
                                "n_outputs": 10, **fields}))
    return path


def test_chip_file_loads_registers_and_round_trips(tmp_path):
    chip = get_chip(str(_chip_file(tmp_path)))
    assert (chip.n_inputs, chip.n_hidden, chip.n_outputs, chip.custom) == (40, 50, 10, True)
    assert get_chip("file-chip-1") is chip and chip.max_fanout == 50 and chip.weight_bits == 8
    assert spec_from_dict(spec_to_dict(chip)) == chip
    with pytest.raises(ConfigError, match="different chip is already registered"):
        (tmp_path / "other").mkdir()
        load_chip_file(_chip_file(tmp_path / "other", name="file-chip-1", n_hidden=60))


def test_bad_chip_files_report_every_problem(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "spikeline.chip-spec/1", "name": "bad", "n_hidden": -3, "colour": 1,
                                "base": "xylo-nano"}))
    with pytest.raises(ConfigError) as err:
        load_chip_file(path)
    fields = {v.field for v in err.value.violations}
    assert {"n_hidden", "colour", "base"} <= fields
    path.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_chip_file(path)


def _config(chip: str, spec: dict | None) -> ChipConfig:
    return ChipConfig.create(chip, 1e-3, weights_in=np.ones((40, 3), int), weights_out=np.ones((3, 10), int),
                             threshold=100, threshold_out=50, chip_spec=spec)


def test_a_configuration_carries_its_custom_chip_into_another_process(tmp_path):
    spec = spec_to_dict(load_chip_file(_chip_file(tmp_path, name="carried-chip")))
    cfg = _config("carried-chip", spec)
    cfg.save(tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == cfg
    code = ("import sys; from hw_models.config import load_config; from hw_models.chips import get_chip; "
            "c = load_config(sys.argv[1]); print(get_chip(c.chip).n_inputs)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "config.json")], check=True,
                         capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert out.stdout.strip() == "40"  # a fresh process knows the chip from the configuration alone
    doc = cfg.to_dict()
    doc["chip"] = "another-name"
    with pytest.raises(ConfigError, match="declares chip 'carried-chip'"):
        from_dict(doc)


def test_cli_sim_runs_a_configuration_for_a_chip_declared_in_a_file(tmp_path):
    """`spikeline sim` in a fresh process, on a configuration compiled for a file-declared chip."""
    spec = spec_to_dict(load_chip_file(_chip_file(tmp_path, name="cli-chip")))
    _config("cli-chip", spec).save(tmp_path / "config.json")
    np.save(tmp_path / "raster.npy", np.ones((5, 40), np.int64))
    out = subprocess.run([sys.executable, "-m", "toolchain.cli", "sim", str(tmp_path / "config.json"), "--input",
                          str(tmp_path / "raster.npy"), "--out", str(tmp_path / "record.npz")], capture_output=True,
                         text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert np.load(tmp_path / "record.npz")["Spikes"].shape == (5, 3)
