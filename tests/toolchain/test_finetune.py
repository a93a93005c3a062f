"""In-the-loop fine-tuning end to end on a tiny Yin-Yang run."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from toolchain.cli import main
from toolchain.train.presets import preset_config
from toolchain.train.trainer import train


def test_finetune_a_tiny_run(tmp_path):
    config = preset_config("yinyang", hidden=[24], epochs=2, train_subset=300, val_subset=200, seed=1)
    train(config, tmp_path / "run")
    res = CliRunner().invoke(main, ["finetune", str(tmp_path / "run"), "--out", str(tmp_path / "ft"),
                                    "--epochs", "1", "--train-subset", "96", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert np.isfinite(doc["history"][0]["loss"])
    # the kept network is the best of "before" and every epoch (not merely no worse than before)
    epochs = [h["val_bit_accurate"] for h in doc["history"]]
    assert len(epochs) == 1
    assert doc["bit_accurate_after"]["val"] == max(doc["bit_accurate_before"]["val"], *epochs)
    assert doc["improved"] is (epochs[0] > doc["bit_accurate_before"]["val"])
    for name in ("network.json", "config.json", "finetune.json"):
        assert (tmp_path / "ft" / name).exists()


def test_finetune_refuses_a_folder_without_a_run(tmp_path):
    res = CliRunner().invoke(main, ["finetune", str(tmp_path), "--out", str(tmp_path / "ft")])
    assert res.exit_code == 2 and "last.ckpt" in res.output
