"""Compiler calibration on training data: shifts that keep states off the rails, and rate matching."""

from __future__ import annotations

import numpy as np

from hw_models.simulator import simulate
from toolchain.compile import compile_network
from toolchain.compile.compiler import CALIBRATION_LIMIT, RELAXED_LIMIT
from toolchain.data.inputs import network_inputs
from toolchain.lif.forward import forward
from toolchain.network import Network
from toolchain.verify import verify
from toolchain.verify.models import AGREEMENT_SAMPLES, calibration_data, compile_for, decision_agreement

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


def test_calibration_keeps_a_leaky_readout_off_the_rails():
    net = yinyang_net("leaky-integrator")
    _, rasters = calibration_data(net)
    plain, _ = compile_network(net, "xylo-audio2")
    calibrated, report = compile_for(net, "xylo-audio2")
    assert report.calibrated and calibrated.weight_shift_out <= plain.weight_shift_out
    peak = np.abs(simulate(calibrated, rasters)["Vmem_out"].astype(int)).max()
    assert peak <= 2**14
    assert np.abs(simulate(plain, rasters)["Vmem_out"].astype(int)).max() >= peak


def test_a_relaxed_state_limit_keeps_more_shift_and_still_stays_below_it():
    net = yinyang_net("leaky-integrator")
    _, rasters = calibration_data(net)
    half, half_report = compile_network(net, "xylo-audio2", calibration=rasters)
    relaxed, relaxed_report = compile_network(net, "xylo-audio2", calibration=rasters, state_limit=RELAXED_LIMIT)
    peak = np.abs(simulate(relaxed, rasters)["Vmem_out"].astype(int)).max()
    assert CALIBRATION_LIMIT < peak <= RELAXED_LIMIT     # this network passes half the range at full precision
    assert (relaxed.weight_shift_out, -relaxed_report.readout_attenuation) > (
        half.weight_shift_out, -half_report.readout_attenuation)


def test_rate_matching_equalises_spike_counts_and_keeps_the_twin_exact():
    net = yinyang_net("spiking")
    samples, rasters = calibration_data(net)
    config, report = compile_network(net, "xylo-audio2", calibration=rasters, match_rates=samples)
    assert set(report.threshold_scales) == {"1", "2"}
    float_count = sum(forward(net, s, 0.06).layers[0].times.size for s in samples)
    chip_count = int(simulate(config, rasters)["Spikes"][..., :40].sum(dtype=np.int64))
    assert abs(chip_count - float_count) <= max(3, 0.02 * float_count)
    result = verify(net, config, limit=100, compile_options=report.to_dict())
    assert result.accuracy("chip-grid") == result.accuracy("float")


def test_the_candidate_whose_decisions_agree_best_is_kept():
    net = yinyang_net("spiking")
    samples, rasters = calibration_data(net)
    check_samples, _, check_rasters = network_inputs(net, "train", AGREEMENT_SAMPLES)
    candidates = []
    for limit in (CALIBRATION_LIMIT, RELAXED_LIMIT):      # compile_for's order: as they are, matched, gain-corrected
        for match, gain in ((None, False), (samples, False), (None, True)):
            candidates.append(compile_network(net, "xylo-audio2", calibration=rasters, match_rates=match,
                                              gain_correction=gain, state_limit=limit)[0])
    agreement = decision_agreement(net, candidates, check_samples, check_rasters)
    chosen, report = compile_for(net, "xylo-audio2", headroom_bits=2)
    assert chosen == candidates[int(np.argmax(agreement))]       # the first of the best, as compile_for
    assert any("kept the candidate" in w and "training samples" in w and "kernel gain correction" in w
               for w in report.warnings)
    # with the headroom free, the candidates are a superset: the kept one agrees at least as well
    free, free_report = compile_for(net, "xylo-audio2")
    agree_fixed, agree_free = decision_agreement(net, [chosen, free], check_samples, check_rasters)
    assert agree_free >= agree_fixed and free_report.headroom_bits in (0, 1, 2)
