"""RAM images: round trip through the files, agreement with SynSense's own writer
(xylosim.tools.save_to_RAM_files_V2) on Xylo Audio 2, the dummy-row rule, refusals."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from deploy_netgen import random_config, random_raster

from deploy.ram_image import (
    RAM_MAPS,
    build_ram_image,
    config_from_ram_image,
    fanout_rows,
    from_hex,
    load_ram_image,
    save_ram_image,
    to_hex,
)
from hw_models.config import ChipConfig
from hw_models.errors import ConfigError, InputError, SpikelineError


@pytest.mark.parametrize("chip,n_hidden,n_syn,seed", [
    ("xylo-audio2", 12, 2, 0), ("xylo-audio2", 30, 1, 1), ("xylo-audio3", 20, 2, 2),
    ("xylo-audio3", 150, 2, 3),  # wider than the 128-neuron input/output windows
])
def test_round_trip_through_files(tmp_path, chip, n_hidden, n_syn, seed):
    config = random_config(seed, chip=chip, n_hidden=n_hidden, n_syn=n_syn, aliases=True, bias=True,
                           density=0.05 if n_hidden > 100 else 0.4)
    save_ram_image(config, tmp_path)
    image = load_ram_image(tmp_path)
    assert config_from_ram_image(image) == config
    assert {p.name for p in tmp_path.iterdir()} == {"ram_image.json"} | {
        f"{name.lower()}.ini" for name in RAM_MAPS[chip]}
    ien = min(n_hidden, 128 if chip == "xylo-audio3" else n_hidden)
    assert len(image.words["IWTRAM"]) == 16 * ien
    rows = image.words["RFORAM" if chip == "xylo-audio2" else "HFORAM"]
    assert len(rows) == np.count_nonzero(np.any(config.weights_rec != 0, axis=2))


def test_alias_and_control_words():
    config = random_config(0, n_hidden=6, aliases=True)
    config.aliases = [[5], [], [0], [], [], []]
    image = build_ram_image(config)
    assert image.words["RARAM"] == [5, -1, 0, -1, -1, -1]
    assert image.words["RCRAM"] == [2 + 1, 0, 2, 0, 0, 1]  # 2*is_source + is_target
    assert image.hex_lines("RARAM")[:2] == ["005", "fff"]
    assert image.registers["alias_enable"] is True


def test_matches_xylosims_own_writer_on_audio2(tmp_path):
    """Every configuration RAM file equals the one SynSense's writer produces for the same network."""
    pytest.importorskip("xylosim")
    from xylosim.tools import save_to_RAM_files_V2

    from deploy.backends.xylosim import XylosimBackend

    config = random_config(4, n_hidden=25, aliases=True, bias=True)
    backend = XylosimBackend()
    backend.apply(config)
    raster = random_raster(4, steps=5)
    backend.evolve(raster)
    with contextlib.redirect_stdout(io.StringIO()):
        save_to_RAM_files_V2(tmp_path / "xs", backend.layer, raster, config.dt)
    save_ram_image(config, tmp_path / "ours")

    def words(path):
        return [ln.strip() for ln in path.read_text().splitlines()
                if ln.strip() and not ln.strip().startswith("//")]

    names = sorted(p.name for p in (tmp_path / "ours").glob("*.ini"))
    assert len(names) == 14
    for name in names:
        assert words(tmp_path / "ours" / name) == words(tmp_path / "xs" / name), name


def test_fanout_rows_round_robin_and_dummy_rows():
    # single targets: ascending, zero rows dropped
    assert fanout_rows([(7, 1, 0), (2, 0, 3), (4, 0, 0)], 10) == [(2, 0, 3), (7, 1, 0)]
    # multapses: round robin; a repeated target is separated by a zero dummy row to neuron N-1
    assert fanout_rows([(3, 1, 0), (3, 2, 0), (5, 9, 9), (3, 4, 4)], 10) == [
        (3, 1, 0), (5, 9, 9), (3, 2, 0), (9, 0, 0), (3, 4, 4)]
    # the dummy never targets the neuron it separates (xylosim would use N-1 = 9 here)
    assert fanout_rows([(9, 1, 0), (9, 2, 0)], 10) == [(9, 1, 0), (8, 0, 0), (9, 2, 0)]
    with pytest.raises(SpikelineError, match="single hidden neuron"):
        fanout_rows([(0, 1, 0), (0, 2, 0)], 1)


def test_hex_words_never_wrap():
    assert to_hex(-5, 2, True) == "fb" and from_hex("fb", 2, True) == -5
    assert to_hex(1000, 3, False) == "3e8" and from_hex("3e8", 3, False) == 1000
    with pytest.raises(SpikelineError, match="does not fit"):
        to_hex(128, 2, True)
    with pytest.raises(SpikelineError, match="does not fit"):
        to_hex(-1, 1, False)
    with pytest.raises(InputError, match="not a word"):
        from_hex("xyz", 3, False)


def test_refusals(tmp_path):
    imu = random_config(0, chip="xylo-imu", n_syn=1)
    with pytest.raises(SpikelineError, match="no RAM map is known for chip 'xylo-imu'"):
        build_ram_image(imu)
    bad = random_config(0)
    bad.weights_in[0, 0, 0] = 200
    with pytest.raises(ConfigError, match="weights_in"):
        build_ram_image(bad)
    config = random_config(1, aliases=True)
    save_ram_image(config, tmp_path)
    f = tmp_path / "nthram.ini"
    f.write_text(f.read_text().replace("\n0", "\n1", 1))
    with pytest.raises(InputError, match="nthram.ini: SHA-256 differs"):
        load_ram_image(tmp_path)
    with pytest.raises(InputError, match="no readable ram_image.json"):
        load_ram_image(tmp_path / "nowhere")


def test_reader_rejects_consecutive_identical_targets():
    config = ChipConfig.create("xylo-audio2", 1e-3, np.ones((16, 3), int), np.ones((3, 2), int), 100, 100,
                               weights_rec=[[0, 5, 6], [0, 0, 0], [0, 0, 0]])
    image = build_ram_image(config)
    assert image.words["RFORAM"] == [1, 2] and image.words["REFOCRAM"] == [2, 0, 0]
    image.words["RFORAM"] = [1, 1]
    with pytest.raises(InputError, match="two consecutive rows target 1"):
        config_from_ram_image(image)


def test_test_bench_matches_xylosims_writer(tmp_path):
    """Input events, per-step state dumps and basic_config.json equal SynSense's writer, the state
    coming from Spikeline's simulator on one side and from xylosim on the other."""
    pytest.importorskip("xylosim")
    import json

    from xylosim.tools import save_to_RAM_files_V2

    from deploy.backends.xylosim import XylosimBackend
    from deploy.ram_image import save_test_bench

    config = random_config(8, n_hidden=15, aliases=True, bias=True)
    config.weights_out[:, -1] = 5  # xylosim derives ON from the last readout with a weight
    raster = random_raster(8, steps=12, rate=0.2)
    raster[:3] = 0  # starts with silent steps (an `idle` line)
    raster[-2:] = 0  # and ends with some (only our trailing comment says so)
    backend = XylosimBackend()
    backend.apply(config)
    backend.evolve(raster)
    with contextlib.redirect_stdout(io.StringIO()):
        save_to_RAM_files_V2(tmp_path / "xs", backend.layer, raster, config.dt)
    save_test_bench(config, raster, tmp_path / "ours")
    ours = sorted(p.relative_to(tmp_path / "ours") for p in (tmp_path / "ours").rglob("*.txt"))
    theirs = sorted(p.relative_to(tmp_path / "xs") for p in (tmp_path / "xs").rglob("*.txt"))
    assert ours == theirs and len(ours) == 1 + 5 * 12
    for rel in ours:
        a = (tmp_path / "ours" / rel).read_text().splitlines()
        b = (tmp_path / "xs" / rel).read_text().splitlines()
        if rel.name == "inp_spks.txt":
            assert a[-1] == "// 12 steps in total (2 silent steps after the last event)"
            a = a[:-1]
        assert a == b, rel
    assert json.loads((tmp_path / "ours" / "basic_config.json").read_text()) == json.loads(
        (tmp_path / "xs" / "basic_config.json").read_text())


def test_test_bench_refuses_a_batch(tmp_path):
    from deploy.ram_image import save_test_bench

    with pytest.raises(InputError, match="one sample"):
        save_test_bench(random_config(0), random_raster(0, steps=4, batch=2), tmp_path)
