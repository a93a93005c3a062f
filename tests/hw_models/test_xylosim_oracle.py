"""Our simulator against SynSense's xylosim, bit for bit on every record key.

At least 200 random configurations per run across Xylo Audio 2, Xylo IMU and Xylo Audio 3, including
the adversarial cases: saturation, 31-spike caps, aliases (also to neuron 0), dash 0, shift 8,
thresholds <= 0 and membranes at -32768.
"""

from __future__ import annotations

import numpy as np
import pytest

from deploy.backends.xylosim import XylosimBackend
from hw_models.rules import check
from hw_models.simulator import RECORD_KEYS, simulate
from tests.hw_models.random_configs import cases, random_config

N_CASES = 240


@pytest.fixture(scope="module")
def xylosim():
    return XylosimBackend()


@pytest.mark.parametrize("seed,chip,kind", cases(N_CASES))
def test_kernel_equals_xylosim(xylosim, seed, chip, kind):
    cfg, raster, clip = random_config(seed, chip, kind)
    assert check(cfg) == [], "the generator must produce legal configurations"
    ours = simulate(cfg, raster, clip_inputs=clip)
    xylosim.apply(cfg)
    theirs = xylosim.evolve(raster, clip_inputs=clip)
    assert set(ours.keys()) == set(RECORD_KEYS) == set(theirs.keys())
    diff = ours.first_difference(theirs)
    assert diff is None, f"first divergence (key, index, ours, xylosim): {diff}"


def test_adversarial_corners_are_reached(xylosim):
    """The corner cases really occur in the generated runs (else the oracle test proves less)."""
    seen = {"saturated_isyn": False, "cap31": False, "vmin": False, "alias_to_0": False}
    for seed, chip, kind in cases(N_CASES):
        cfg, raster, clip = random_config(seed, chip, kind)
        rec = simulate(cfg, raster, clip_inputs=clip)
        seen["saturated_isyn"] |= bool(np.any(np.abs(rec["Isyn"].astype(int)) >= 32767))
        seen["cap31"] |= bool(np.any(rec["Spikes"] == 31))
        seen["vmin"] |= bool(np.any(rec["Vmem"] == -32768))
        seen["alias_to_0"] |= any(a == [0] for a in cfg.aliases) and bool(np.any(rec["Spikes"]))
    assert all(seen.values()), seen


@pytest.mark.parametrize("seed,chip,kind", cases(6, offset=500))
def test_read_state_agrees_between_sim_and_xylosim(xylosim, seed, chip, kind):
    from deploy.backends.sim import SimBackend

    cfg, raster, clip = random_config(seed, chip, kind)
    sim = SimBackend()
    sim.apply(cfg)
    xylosim.apply(cfg)
    sim.evolve(raster[0], clip_inputs=clip)
    xylosim.evolve(raster[0], clip_inputs=clip)
    ours, theirs = sim.read_state(), xylosim.read_state()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert np.array_equal(ours[key], theirs[key]), key
