"""Compiler calibration on training data: shifts that keep states off the rails, rate matching, the choice."""

from __future__ import annotations

import numpy as np

from hw_models.simulator import simulate
from toolchain.compile import compile_fixed, compile_network
from toolchain.compile.calibrate import (
    CALIBRATION_LIMIT,
    RELAXED_LIMIT,
    Runs,
    calibrate_candidate,
    calibration_data,
)
from toolchain.compile.compiler import finish, prepare
from toolchain.data.inputs import network_inputs
from toolchain.decode import decide
from toolchain.lif.forward import forward
from toolchain.network import Network
from toolchain.verify import chip_decode, verify
from toolchain.verify.models import chip_grid_network, recompile

DT = 0.5e-3


def yinyang_net(readout: str, seed: int = 3) -> Network:
    tau_s, tau_m = -DT / np.log(1 - 2**-3), -DT / np.log(1 - 2**-5)
    tau_m_out = -DT / np.log(1 - 2**-7) if readout == "leaky-integrator" else tau_m
    net = Network.random([5, 40, 3], seed=seed, tau_syn=tau_s, tau_mem=tau_m, weight_mean=[0.6, 0.4],
                         weight_std=[0.8, 0.6], delays=[0, DT], dt=DT, readout=readout)
    if readout == "leaky-integrator":
        net.tau_mem[1] = np.full(3, tau_m_out)
    net.metadata.update(task="yinyang", task_options={"dt": DT}, t_end=0.06,
                        decision="integrated-voltage" if readout == "leaky-integrator" else "first-spike")
    return net


def calibrated(net: Network, match: bool, state_limit: int = CALIBRATION_LIMIT, gain: bool = False,
               headroom: int = 2):
    """One calibration candidate, built step by step."""
    plan = prepare(net, "xylo-audio2")
    build, notes = calibrate_candidate(plan, plan.first_build(headroom, gain), Runs(calibration_data(net)), match,
                                       state_limit)
    return finish(plan, build, headroom, True, notes)


def test_calibration_keeps_a_leaky_readout_off_the_rails():
    net = yinyang_net("leaky-integrator")
    rasters = calibration_data(net).calibration_rasters
    plain, _ = compile_fixed(net, "xylo-audio2")
    config, report = compile_network(net, "xylo-audio2")
    assert report.calibrated and config.weight_shift_out <= plain.weight_shift_out
    peak = np.abs(simulate(config, rasters)["Vmem_out"].astype(int)).max()
    assert peak <= 2**14 or peak <= RELAXED_LIMIT and "7/8" in next(c for c in report.candidates if c["kept"])["name"]
    assert np.abs(simulate(plain, rasters)["Vmem_out"].astype(int)).max() > peak


def test_a_relaxed_state_limit_keeps_more_shift_and_still_stays_below_it():
    net = yinyang_net("leaky-integrator")
    rasters = calibration_data(net).calibration_rasters
    half, half_report = calibrated(net, False)
    relaxed, relaxed_report = calibrated(net, False, RELAXED_LIMIT)
    peak = np.abs(simulate(relaxed, rasters)["Vmem_out"].astype(int)).max()
    assert CALIBRATION_LIMIT < peak <= RELAXED_LIMIT     # this network passes half the range at full precision
    assert (relaxed.weight_shift_out, -relaxed_report.readout_attenuation) > (
        half.weight_shift_out, -half_report.readout_attenuation)


def test_rate_matching_equalises_spike_counts_and_keeps_the_twin_exact():
    net = yinyang_net("spiking")
    data = calibration_data(net)
    config, report = calibrated(net, True)
    assert set(report.threshold_scales) == {"1", "2"}
    float_count = sum(forward(net, s, 0.06).layers[0].times.size for s in data.samples[:data.n_calibration])
    chip_count = int(simulate(config, data.calibration_rasters)["Spikes"][..., :40].sum(dtype=np.int64))
    assert float_count > 100 and abs(chip_count - float_count) <= max(3, 0.02 * float_count)
    result = verify(net, config, limit=100, compile_options=report.to_dict())
    assert result.accuracy("chip-grid") == result.accuracy("float")


def test_the_candidate_whose_decisions_agree_best_is_kept():
    """Agreement recomputed here from full records and the float model: the kept candidate is the first best."""
    net = yinyang_net("spiking")
    samples, _, rasters = network_inputs(net, "train", 1000)
    reference = np.array([decide("first-spike", forward(net, s, 0.06), 3) for s in samples])
    config, report = compile_network(net, "xylo-audio2", headroom_bits=2)
    assert len(report.candidates) >= 3 and sum(c["kept"] for c in report.candidates) == 1
    scores = []
    for c in report.candidates:                       # screened-out candidates were scored on the first 200 only
        cand, _ = calibrated(net, c["rate_matching"], c["state_limit"], c["gain_correction"], c["headroom_bits"])
        n = c["samples"]
        scores.append(float(np.mean(chip_decode.decide(simulate(cand, rasters[:n]), "first-spike") == reference[:n])))
        assert abs(scores[-1] - c["agreement"]) < 1e-12, c["name"]
    finalists = [i for i, c in enumerate(report.candidates) if c["samples"] == 1000]
    kept = next(i for i, c in enumerate(report.candidates) if c["kept"])
    assert kept == max(finalists, key=lambda i: (scores[i], -i)) and config == calibrated(net, *(
        report.candidates[kept][k] for k in ("rate_matching", "state_limit", "gain_correction", "headroom_bits")))[0]
    assert len(set(scores)) > 1                                    # the candidates really differ
    assert all(c["readout_factor"] == 1.0 for c in report.candidates)  # a first-spike readout: none raised


def test_count_readouts_past_the_chips_cap_get_their_thresholds_raised():
    """A count-decided readout that bursts (several spikes in one step in the float model, where the chip fires at
    most one): the calibrated compile tries the chosen candidate with the readout thresholds raised, keeps the
    best by agreement, and that agreement (recomputed here from full records) beats the readout as it was."""
    net = yinyang_net("spiking", seed=0)
    net.weights[1] = net.weights[1] * 8.0
    net.metadata["decision"] = "spike-count"
    samples, _, rasters = network_inputs(net, "train", 1000)
    runs = [forward(net, s, 0.06) for s in samples]
    reference = np.array([decide("spike-count", r, 3) for r in runs])
    per_step = [np.bincount(np.floor(r.layers[-1].times / DT).astype(int) * 3 + r.layers[-1].neurons).max()
                for r in runs[:50]]
    assert min(per_step) >= 2 and len(set(reference)) >= 2  # bursts in every sample; decisions differ
    config, report = compile_network(net, "xylo-audio2", headroom_bits=2)
    raised = [c for c in report.candidates if c["readout_factor"] != 1.0]
    kept = next(c for c in report.candidates if c["kept"])
    base = next(c for c in report.candidates if c["name"] == raised[0]["name"].rsplit(", readout", 1)[0])
    assert len(raised) == 3 and kept in raised and kept["agreement"] > base["agreement"] + 0.1
    agreement = float(np.mean(chip_decode.decide(simulate(config, rasters), "spike-count") == reference))
    assert abs(agreement - kept["agreement"]) < 1e-12
    assert not base["rate_matching"] and report.threshold_scales == {"2": kept["readout_factor"]}
    twin = chip_grid_network(net, config, recompile(net, config, report.to_dict()))
    np.testing.assert_allclose(twin.threshold[-1], net.threshold[-1], rtol=1e-3)  # the twin divides it back out
