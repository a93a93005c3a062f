"""Rockpool specifications out and in: rockpool's own XyloSim runs our exported spec bit for bit like
``spikeline sim`` (the oracle is the real rockpool + xylosim), and a spec comes back unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hw_models.rules import check
from hw_models.simulator import RECORD_KEYS, simulate
from tests.hw_models.random_configs import cases, random_config
from toolchain.io import rockpool as rp

pytest.importorskip("rockpool")
pytest.importorskip("xylosim")

N_CASES = 48
#: rockpool's record names -> ours (rockpool records no Spikes_out: its output is the spike raster)
ROCKPOOL_KEYS = {"Vmem": "Vmem", "Isyn": "Isyn", "Isyn2": "Isyn2", "Spikes": "Spikes", "Vmem_out": "Vmem_out",
                 "Isyn_out": "Isyn_out"}


def run_rockpool(spec: dict, chip: str, raster: np.ndarray) -> dict[str, np.ndarray]:
    from tests.toolchain.interop.rockpool_shim import xylosim_class

    sim = xylosim_class(chip).from_specification(**spec)
    out: dict[str, list] = {"Spikes_out": []}
    for sample in raster:
        sim.reset_state()
        spikes_out, _, rec = sim(sample.astype(np.int64), record=True)
        for k, ours in ROCKPOOL_KEYS.items():
            if k in rec:  # the IMU class records no Isyn2 (one synapse)
                out.setdefault(ours, []).append(np.asarray(rec[k]).reshape(sample.shape[0], -1))
        out["Spikes_out"].append(np.asarray(spikes_out).reshape(sample.shape[0], -1))
    return {k: np.stack(v) for k, v in out.items()}


@pytest.mark.parametrize("seed,chip,kind", cases(N_CASES, offset=900))
def test_rockpool_xylosim_runs_our_spec_bit_identically(tmp_path, seed, chip, kind):
    cfg, raster, clip = random_config(seed, chip, kind)
    assert check(cfg) == []
    raster = np.minimum(raster, 15) if clip else raster  # rockpool's XyloSim takes counts <= 15 as given
    path = rp.export(cfg, tmp_path / "spec.json")
    spec = json.loads(path.read_text())
    assert set(spec) == set(rp.SPEC_KEYS)
    spec = {k: (np.array(v) if isinstance(v, list) and k != "aliases" else v) for k, v in spec.items()}
    theirs = run_rockpool(spec, chip, raster)
    ours = simulate(cfg, raster)
    assert set(RECORD_KEYS) - set(theirs) <= {"Isyn2"}
    for key in theirs:
        np.testing.assert_array_equal(theirs[key].astype(np.int64), np.asarray(ours[key]).astype(np.int64),
                                      err_msg=f"{key} differs ({chip}, {kind}, seed {seed})")


def test_spec_cases_spike(tmp_path):
    """The bit-identity above is not vacuous: the configurations spike in both layers."""
    hidden = out = 0
    for seed, chip, kind in cases(N_CASES, offset=900):
        cfg, raster, clip = random_config(seed, chip, kind)
        rec = simulate(cfg, raster, clip_inputs=clip)
        hidden += int(np.sum(rec["Spikes"]))
        out += int(np.sum(rec["Spikes_out"]))
    assert hidden > 1000 and out > 100


@pytest.mark.parametrize("seed,chip,kind", cases(12, offset=1300))
def test_spec_round_trip(tmp_path, seed, chip, kind):
    cfg, _, _ = random_config(seed, chip, kind)
    back = rp.import_file(rp.export(cfg, tmp_path / "spec.json"), chip=chip)
    assert back == cfg


def test_spec_import_refusals(tmp_path):
    from hw_models.errors import ConfigError
    from toolchain.io import FormatError

    cfg, _, _ = random_config(3, "xylo-audio2", "random")
    spec = json.loads(rp.export(cfg, tmp_path / "spec.json").read_text())
    with pytest.raises(FormatError, match="pass --chip"):
        rp.import_file(tmp_path / "spec.json")
    (tmp_path / "extra.json").write_text(json.dumps({**spec, "weights_hid": []}))
    with pytest.raises(FormatError, match=r"unknown specification keys \['weights_hid'\]"):
        rp.import_file(tmp_path / "extra.json", chip="xylo-audio2")
    spec["dash_mem"] = [16] * len(spec["dash_mem"])  # 4-bit dashes: 16 does not fit
    (tmp_path / "bad.json").write_text(json.dumps(spec))
    with pytest.raises(ConfigError) as info:
        rp.import_file(tmp_path / "bad.json", chip="xylo-audio2")
    assert any(v.field == "dash_mem" for v in info.value.violations)
    spec.pop("dash_mem")  # missing keys take XyloSim.from_specification's defaults (0)
    spec["mapped_graph"] = None  # what rockpool's mapper adds: dropped
    back = rp.from_spec(spec, "xylo-audio2")
    assert np.all(back.dash_mem == 0)
