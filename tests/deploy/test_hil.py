"""HIL comparison: a deliberately broken device (one flipped weight bit) is caught at the exact first
divergence, computed here independently from where the flipped synapse is first used; and sim vs
xylosim (SynSense's engine) is clean."""

from __future__ import annotations

import numpy as np
import pytest
from deploy_netgen import FlippedWeightBackend, random_config, random_raster

from deploy.hil import compare_records, run_hil
from hw_models.errors import InputError
from hw_models.simulator import simulate


def reference_record(config, raster):
    return simulate(config, raster, engine="reference")


def pick_synapse(config, ref, rng):
    """A recurrent synapse (pre, post, k) with a non-zero weight whose pre-neuron spikes early."""
    spikes = ref["Spikes"]
    for pre in rng.permutation(config.n_hidden):
        fired = np.flatnonzero(spikes[:, pre])
        if not len(fired) or fired[0] + 1 >= spikes.shape[0]:
            continue
        nz = np.argwhere(config.weights_rec[pre] != 0)
        if len(nz):
            post, k = nz[rng.integers(len(nz))]
            return int(pre), int(post), int(k), int(fired[0])
    raise AssertionError("test network too quiet")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_flipped_recurrent_weight_bit_found_at_exact_first_divergence(seed):
    config = random_config(seed)
    raster = random_raster(seed)
    ref = reference_record(config, raster)
    rng = np.random.default_rng(seed)
    pre, post, k, t0 = pick_synapse(config, ref, rng)
    device = FlippedWeightBackend("weights_rec", (pre, post, k), bit=6)
    report = run_hil(config, raster, device=device, reference="sim")
    # the flipped weight is first used one step after its pre-neuron's first spike (one-hop delay),
    # and the first thing it changes is the post-neuron's synaptic current k
    d = report.divergence
    assert not report.ok
    assert (d.key, d.step, d.neuron, d.sample) == (("Isyn", "Isyn2")[k], t0 + 1, post, None)
    assert d.reference == ref[d.key][t0 + 1, post]
    bad = reference_record(device.faulty(config), raster)
    assert d.device == bad[d.key][t0 + 1, post] != d.reference
    # the neuron's history ends at the divergence and agrees with the records
    assert d.history_steps[-1] == t0 + 1 and len(d.history_steps) == min(5, t0 + 2)
    assert d.history["device"][d.key][-1] == d.device
    assert d.history["reference"]["Vmem"] == [int(v) for v in ref["Vmem"][d.history_steps, post]]
    assert report.mismatches[d.key] >= 1
    assert f"step {t0 + 1}, hidden neuron {post}" in report.format_text()


def test_flipped_input_weight_bit_diverges_in_the_same_step():
    config = random_config(5)
    raster = random_raster(5)
    c, post, k = (int(i) for i in np.argwhere(config.weights_in != 0)[7])
    t_c = int(np.flatnonzero(raster[:, c])[0])  # input reaches hidden neurons in the same step
    report = run_hil(config, raster, device=FlippedWeightBackend("weights_in", (c, post, k), 5))
    d = report.divergence
    assert (d.key, d.step, d.neuron) == (("Isyn", "Isyn2")[k], t_c, post)


def test_flipped_readout_weight_bit_and_batch_index():
    config = random_config(6)
    raster = random_raster(6, batch=3)
    ref = reference_record(config, raster)
    # the earliest (sample, step) at which some hidden neuron with a readout weight spikes
    cands = [(s, int(np.flatnonzero(ref["Spikes"][s, :, p])[0]), p, int(o))
             for s in range(3) for p in range(config.n_hidden)
             for o in np.flatnonzero(config.weights_out[p]) if ref["Spikes"][s, :, p].any()]
    s, t0, pre, o = min(cands)
    report = run_hil(config, raster, device=FlippedWeightBackend("weights_out", (pre, o), 6))
    d = report.divergence
    assert (d.key, d.sample, d.step, d.neuron) == ("Isyn_out", s, t0 + 1, o)
    assert set(d.history["device"]) == {"Spikes_out", "Vmem_out", "Isyn_out"}
    assert report.to_dict()["divergence"]["layer"] == "readout"


@pytest.mark.parametrize("chip,n_syn,positive,seed", [
    ("xylo-audio2", 2, False, 0), ("xylo-audio2", 1, False, 1), ("xylo-imu", 1, False, 2),
    ("xylo-audio3", 2, False, 3), ("xylo-audio2", 2, True, 4)])
def test_sim_vs_xylosim_clean(chip, n_syn, positive, seed):
    pytest.importorskip("xylosim")
    config = random_config(seed, chip=chip, n_syn=n_syn, n_hidden=20, positive=positive, aliases=True,
                           bias=not positive)
    raster = random_raster(seed, steps=80, batch=2)
    report = run_hil(config, raster, device="xylosim", reference="sim")
    assert report.ok, report.format_text()
    assert report.keys_compared == ["Spikes", "Vmem", "Isyn", "Isyn2", "Spikes_out", "Vmem_out",
                                    "Isyn_out"]
    assert report.mismatches == dict.fromkeys(report.keys_compared, 0)
    assert simulate(config, raster)["Spikes"].sum() > 0  # the comparison covered actual activity


def test_compare_records_errors():
    config = random_config(0)
    a = reference_record(config, random_raster(0, steps=10))
    b = reference_record(config, random_raster(0, steps=12))
    with pytest.raises(InputError, match="shape"):
        compare_records(a, b)
    with pytest.raises(InputError, match="history"):
        compare_records(a, a, history=0)
    partial = type(a)({"Spikes": a["Spikes"]})
    report = compare_records(a, partial)
    assert report.ok and report.keys_compared == ["Spikes"] and "Vmem" in report.keys_skipped
