"""The ONNX chip model in onnxruntime against Spikeline's simulator, bit for bit on every output key.

The configurations are the xylosim oracle test's random and adversarial families (all three chips:
saturation, 31-spike caps, dense aliases also to neuron 0, dash 0, shift 8, thresholds <= 0,
membranes at -32768), each run on a batch of at least two different rasters.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from hw_models.simulator import RECORD_KEYS, SPIKE_KEYS, simulate  # noqa: E402
from tests.hw_models.random_configs import cases, random_config  # noqa: E402
from toolchain.io import FormatError  # noqa: E402
from toolchain.io.onnx import export, run  # noqa: E402
from toolchain.io.onnx_chip import FORMAT, build_chip_model, config_sha256  # noqa: E402

N_CASES = 48  # every kind on every chip, twice
CASES = cases(N_CASES)


def batch_of_two(raster: np.ndarray, clip: bool, seed: int) -> np.ndarray:
    """The case's rasters plus a fresh random one (a batch of >= 2 different rasters)."""
    rng = np.random.default_rng(10_000 + seed)
    shape = raster.shape[1:]
    extra = rng.integers(1, 256 if clip else 16, shape) * (rng.random(shape) < 0.25)
    batch = np.concatenate([raster, extra[None]])
    assert not np.array_equal(batch[0], batch[-1])
    return batch


def simulate_each(cfg, batch: np.ndarray, **kw) -> dict[str, np.ndarray]:
    """The simulator sample by sample (its single-sample kernel), stacked to ``(B, T, N)``."""
    recs = [simulate(cfg, sample, **kw) for sample in batch]
    return {k: np.stack([r[k] for r in recs]) for k in recs[0].keys()}


@pytest.fixture(scope="module")
def runs():
    """(config, batch, clip, ONNX outputs, simulator record) for every case, built once."""
    out = []
    for seed, chip, kind in CASES:
        cfg, raster, clip = random_config(seed, chip, kind)
        batch = batch_of_two(raster, clip, seed)
        model = build_chip_model(cfg, clip_inputs=clip)
        out.append(SimpleNamespace(seed=seed, chip=chip, kind=kind, cfg=cfg, batch=batch, clip=clip,
                                   model=model, ours=run(model, batch),
                                   ref=simulate_each(cfg, batch, clip_inputs=clip)))
    return out


def test_every_case_bit_identical_on_every_key(runs):
    for r in runs:
        seed, chip, kind, cfg, model, ours, ref = r.seed, r.chip, r.kind, r.cfg, r.model, r.ours, r.ref
        onnx.checker.check_model(model, full_check=True)
        expected = [k for k in RECORD_KEYS if k != "Isyn2" or cfg.n_synapses == 2]
        assert list(ours) == expected, (seed, chip, kind)
        for key in expected:
            assert ours[key].dtype == ref[key].dtype and ours[key].shape == ref[key].shape, (seed, key)
            bad = np.argwhere(ours[key] != ref[key])
            assert len(bad) == 0, f"case {seed} {chip} {kind}: {key} first differs at {bad[0].tolist()}"
        if cfg.n_synapses == 1:
            assert not ref["Isyn2"].any()


def test_cases_reach_the_corners(runs):
    """The cases exercise what the module docstring claims (else the comparison proves less)."""
    seen = dict.fromkeys(("saturated_isyn", "cap31", "vmin", "alias_to_0", "dense_aliases", "dash0",
                          "threshold_nonpositive_fires", "shift8", "clip", "all_chips"), False)
    chips = set()
    for r in runs:
        cfg, ref = r.cfg, r.ref
        chips.add(r.chip)
        seen["saturated_isyn"] |= bool(np.any(np.abs(ref["Isyn"].astype(int)) >= 32767))
        seen["cap31"] |= bool(np.any(ref["Spikes"] == 31))
        seen["vmin"] |= bool(np.any(ref["Vmem"] == -32768))
        seen["alias_to_0"] |= any(a == [0] for a in cfg.aliases) and bool(ref["Spikes"].any())
        seen["dense_aliases"] |= sum(map(bool, cfg.aliases)) > cfg.n_hidden / 2
        seen["dash0"] |= bool((cfg.dash_mem == 0).any() and (cfg.dash_syn == 0).any())
        nonpos = cfg.threshold <= 0
        seen["threshold_nonpositive_fires"] |= bool(ref["Spikes"][..., nonpos].any())
        seen["shift8"] |= cfg.weight_shift_rec == 8
        seen["clip"] |= r.clip and bool((r.batch > 15).any())
        seen["all_chips"] = len(chips) == 3
    assert all(seen.values()), seen


def test_sum_then_saturate_is_not_the_chip(runs):
    """Some cases saturate mid-step: a sum-then-saturate model differs there, the exported one does not."""
    differs = 0
    for r in runs:
        if r.kind != "saturating":
            continue
        naive = run(build_chip_model(r.cfg, clip_inputs=r.clip, ordered=False), r.batch)
        differs += any(not np.array_equal(naive[k], r.ref[k]) for k in naive)
    assert differs >= 2


def test_record_spikes_and_metadata(tmp_path):
    cfg, raster, clip = random_config(3, "xylo-audio2", "random")
    path = export(cfg, tmp_path / "chip.onnx", record="spikes", clip_inputs=clip)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["format"] == FORMAT and meta["chip"] == "xylo-audio2"
    assert float(meta["dt"]) == cfg.dt and meta["config_sha256"] == config_sha256(cfg)
    assert {n.domain for n in model.graph.node} <= {""}  # standard operators only
    batch = batch_of_two(raster, clip, 3)
    ours = run(path, batch)
    assert list(ours) == list(SPIKE_KEYS)
    ref = simulate_each(cfg, batch, record="spikes", clip_inputs=clip)
    for key in SPIKE_KEYS:
        assert np.array_equal(ours[key], ref[key])
    single = run(path, batch[0])  # (T, N_in) in, (T, N) out
    assert np.array_equal(single["Spikes"], ref["Spikes"][0])


def test_input_counts_above_15_need_clip_inputs(tmp_path):
    cfg, raster, _ = random_config(1, "xylo-imu", "random")
    loud = np.full((2, 4, cfg.n_inputs), 16)
    with pytest.raises(Exception, match="raster_counts_must_be_0_to_15"):
        run(build_chip_model(cfg), loud)
    with pytest.raises(Exception, match="raster_counts_must_be_0_to_255"):
        run(build_chip_model(cfg, clip_inputs=True), -loud)
    clipped = run(build_chip_model(cfg, clip_inputs=True), loud * 10)
    ref = simulate_each(cfg, loud * 10, clip_inputs=True)
    assert all(np.array_equal(clipped[k], ref[k]) for k in clipped)
    with pytest.raises(FormatError, match="does not take --precision"):
        export(cfg, tmp_path / "x.onnx", precision="float64")


def test_cli_export_onnx(tmp_path):
    from click.testing import CliRunner

    from toolchain.cli import main

    cfg, raster, clip = random_config(7, "xylo-audio3", "caps-aliases")
    cfg.save(tmp_path / "config.json")
    res = CliRunner().invoke(main, ["export", str(tmp_path / "config.json"), "--out", str(tmp_path / "c.onnx"),
                                    "--json"] + (["--clip-inputs"] if clip else []))
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["format"] == "onnx"
    ours = run(tmp_path / "c.onnx", raster)
    ref = simulate_each(cfg, raster, clip_inputs=clip)
    assert all(np.array_equal(ours[k], ref[k]) for k in ours)
    res = CliRunner().invoke(main, ["export", str(tmp_path / "config.json"), "--out", str(tmp_path / "d.onnx"),
                                    "--precision", "float64"])
    assert res.exit_code == 2 and "does not take --precision" in res.output


def test_doctor_reports_the_onnx_round_trip(monkeypatch):
    import importlib.util

    from deploy.doctor import check_onnx

    found = check_onnx()
    assert found.status == "ok" and "bit-identical" in found.detail, found
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    missing = check_onnx()
    assert missing.status == "absent" and "onnxruntime" in missing.detail
