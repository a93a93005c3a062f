"""The health check after every compile: broken configurations are refused with the layer and the numbers."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from hw_models.arith import neuron_step
from hw_models.simulator import simulate
from tests.toolchain.test_calibration import yinyang_net
from toolchain.cli import main
from toolchain.compile import CompileError, compile_fixed, compile_network
from toolchain.compile.calibrate import Runs, calibration_data
from toolchain.compile.health import RAIL, _first_spike_decision_states
from toolchain.compile.pipeline import health_of


@pytest.fixture(scope="module")
def leaky():
    net = yinyang_net("leaky-integrator")
    config, report = compile_network(net, "xylo-audio2")
    return net, config, report


def test_a_calibrated_compile_is_healthy_and_says_so(leaky):
    net, config, report = leaky
    health = report.health
    assert health["ok"] and health["samples"] == 200 and not health["problems"]
    hidden, readout = health["layers"]
    assert hidden["rate_chip"] > 0 and hidden["rate_float"] > 0          # the hidden layer really fires
    assert abs(hidden["rate_chip"] - hidden["rate_float"]) < 0.5 * hidden["rate_float"]
    assert readout["on_rail"] == 0 and 0 < readout["peak_state"] < RAIL
    assert "spikes/neuron/step" in health["summary"] and "## Health" in report.to_markdown()


def test_a_readout_on_the_rail_is_refused_with_the_layer_and_the_numbers(leaky):
    net, config, report = leaky
    broken = config.copy()
    broken.weight_shift_out = min(8, config.weight_shift_out + 3)        # 8x the readout current: clipped
    health = health_of(net, broken, report)
    assert not health.ok
    problem = next(p for p in health.problems if p.field == "layer 2 (readout)")
    assert "rail" in problem.message and f"{RAIL:,}" in problem.message and problem.value >= RAIL
    assert "calibration" in problem.hint and "check_health=False" in problem.hint


def test_a_silenced_layer_is_refused(leaky):
    net, config, report = leaky
    broken = config.copy()
    broken.threshold[:40] = 32767                                        # hidden layer 1 can no longer fire
    health = health_of(net, broken, report)
    problem = next(p for p in health.problems if p.field == "layer 1 (hidden)")
    assert "goes silent" in problem.message and "40 of 40 neurons dead on the chip" in problem.message
    row = health.layers[0]
    assert row.rate_chip == 0 and row.rate_float > 0 and f"{row.rate_float:.4f}" in problem.message


def test_a_saturated_layer_is_refused(leaky):
    net, config, report = leaky
    broken = config.copy()
    broken.threshold[:40] = 0                                            # fires at the cap every step
    problem = next(p for p in health_of(net, broken, report).problems if p.field == "layer 1 (hidden)")
    assert "saturates" in problem.message and "40 of 40 neurons" in problem.message


def test_an_uncalibrated_compile_is_refused_unless_the_check_is_switched_off(tmp_path):
    base = yinyang_net("leaky-integrator", seed=3)
    rasters = calibration_data(base).calibration_rasters
    for gain in (1, 2, 4, 8):                      # a livelier hidden layer drives the readout onto the rail
        net = base.copy()
        net.threshold[0] = base.threshold[0] / gain
        plain, _ = compile_fixed(net, "xylo-audio2")
        if np.abs(simulate(plain, rasters)["Vmem_out"].astype(np.int64)).max() >= RAIL:
            break
    else:
        pytest.fail("no network of this family puts an uncalibrated readout on the rail")
    with pytest.raises(CompileError) as err:
        compile_network(net, "xylo-audio2", calibrate=False)
    problem = next(p for p in err.value.violations if p.field == "layer 2 (readout)")
    assert "reach the int16 rail" in problem.message and problem.value >= RAIL
    assert err.value.report is not None and not err.value.report.health["ok"]
    config, report = compile_network(net, "xylo-audio2", calibrate=False, check_health=False)
    assert not report.health["ok"] and not report.calibrated          # measured and reported, not enforced
    res = CliRunner().invoke(main, ["compile", str(net.save(tmp_path / "n.json")), "-c", "xylo-audio2",
                                    "--no-calibrate", "-o", str(tmp_path / "c.json")])
    assert res.exit_code == 2 and "layer 2 (readout)" in res.output and "health check" in res.output
    assert not (tmp_path / "c.json").exists() and (tmp_path / "c.report.md").exists()


def test_a_first_spike_readout_is_checked_where_a_clip_can_change_the_decision():
    """A spiking readout driven far above one spike per step climbs to the rail after it has fired (it keeps its
    excess): a first-spike decision never reads those states, so only the touches up to the sample's decision
    step by the readouts that fire there, and positive touches by the others, are refused (a loser on the negative
    rail: the next tests); a count decision reads the whole trial, so every touch is."""
    net = yinyang_net("spiking")
    config, report = compile_network(net, "xylo-audio2", check_health=False)
    hot = config.copy()
    hot.weight_shift_out = min(8, config.weight_shift_out + 4)  # 16x the readout current
    rec = Runs(calibration_data(net)).summary(hot)
    fired = rec["Spikes_out"] > 0
    vmem = rec["Vmem_out"].astype(np.int64) + fired * hot.threshold_out.astype(np.int64)
    isyn = rec["Isyn_out"].astype(np.int64)
    states = np.maximum(np.abs(vmem), np.abs(isyn))
    decided = np.zeros(states.shape[2], bool)  # readouts on the rail where it can change the decision, by hand
    n_b, n_t, n_out = states.shape
    for b in range(n_b):
        firsts = [int(np.argmax(fired[b, :, c])) if fired[b, :, c].any() else n_t for c in range(n_out)]
        t_star = min(min(firsts), n_t - 1)
        for c in range(n_out):
            span = slice(0, t_star + 1)
            if firsts[c] == t_star:
                decided[c] |= bool((states[b, span, c] >= RAIL).any())
            else:
                decided[c] |= bool((np.maximum(vmem[b, span, c], isyn[b, span, c]) >= RAIL).any())
    anywhere = (states >= RAIL).any(axis=(0, 1))
    assert not (np.abs(rec["Vmem_out"].astype(np.int64)) >= RAIL).any()  # after the reset the record hides the rail
    assert anywhere.sum() > decided.sum()  # the case is not vacuous: some touches cannot change the decision
    first = health_of(net, hot, report).layers[-1]
    assert first.on_rail == decided.sum() and first.rail_outside_decision == anywhere.sum() - first.on_rail
    counted = net.copy()
    counted.metadata["decision"] = "spike-count"
    by_count = health_of(counted, hot, report)
    assert by_count.layers[-1].on_rail == anywhere.sum() and not by_count.ok
    assert any(p.field == "layer 2 (readout)" for p in by_count.problems)


def test_the_first_spike_rule_counts_every_touch_of_the_decided_readout_and_positive_touches_of_the_others():
    """Hand-made states (1 sample, 6 steps, 3 readouts): readout 0 fires first at step 3 after sitting on the
    negative rail (counted: without the clip it would fire later and might lose), readout 1 sits on the negative
    rail and never fires (not counted: it would be lower still), readout 2 fires at step 5 and touched the
    positive rail of its current at step 2 (counted: without the clip it might have fired first) and at step 4
    (after the decision: not counted)."""
    n_t = 6
    vmem, isyn, spikes = np.zeros((1, n_t, 3), np.int64), np.zeros((1, n_t, 3), np.int64), np.zeros((1, n_t, 3))
    vmem[0, 1, 0], spikes[0, 3, 0] = -32768, 1
    vmem[0, :, 1] = -32768
    isyn[0, 2, 2], isyn[0, 4, 2], spikes[0, 5, 2] = 30000, 32767, 1
    assert list(_first_spike_decision_states(vmem, isyn, spikes)[0]) == [32768, 0, 30000]
    isyn[0, 2, 2] = 32767
    assert list(_first_spike_decision_states(vmem, isyn, spikes)[0]) == [32768, 0, 32767]
    spikes[:] = 0  # nobody fires: no decision, whichever negative clips; a positive clip may have prevented one
    assert list(_first_spike_decision_states(vmem, isyn, spikes)[0]) == [0, 0, 32767]


def test_a_losing_readout_on_the_negative_rail_passes_a_first_spike_check_but_not_a_count_check():
    net = yinyang_net("spiking")
    config, report = compile_network(net, "xylo-audio2", check_health=False)
    inhibited = config.copy()
    inhibited.weights_out[:, 2] = -np.abs(inhibited.weights_out[:, 2]).max() - 1  # every hidden spike inhibits it
    inhibited.weight_shift_out = min(8, config.weight_shift_out + 3)
    rec = Runs(calibration_data(net)).summary(inhibited)
    assert (rec["Vmem_out"][:, :, 2] <= -RAIL).any() and not rec["Spikes_out"][:, :, 2].any()  # on the rail, silent
    readout = health_of(net, inhibited, report).layers[-1]
    assert readout.rail_outside_decision >= 1
    counted = net.copy()
    counted.metadata["decision"] = "spike-count"
    assert health_of(counted, inhibited, report).layers[-1].on_rail >= readout.on_rail + 1


def test_the_chip_update_is_monotone_in_every_state_which_the_negative_rail_rule_rests_on():
    """``neuron_step`` before a spike: a higher membrane or current (as a negative clip leaves) never gives a lower
    membrane, current or fewer spikes one step later, over random states across the whole int16 range."""
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(20000):
        dash = rng.integers(1, 16, 3)
        low = rng.integers(-32768, 32768, 3)
        high = np.minimum(low + rng.integers(0, 40000, 3) * rng.integers(0, 2, 3), 32767)
        threshold = int(rng.integers(1, 32768))
        a = neuron_step(int(low[0]), int(low[1]), int(low[2]), *map(int, dash), False, 0, threshold, 0, 1)
        b = neuron_step(int(high[0]), int(high[1]), int(high[2]), *map(int, dash), False, 0, threshold, 0, 1)
        assert b[1] >= a[1] and b[2] >= a[2] and b[3] >= a[3]
        if b[3] == 0:  # no spike: the membrane is ordered too (after a spike the subtractive reset may reorder it)
            assert b[0] >= a[0]
            checked += int((high != low).any())
    assert checked > 5000  # a third or more of the draws compare two different states that stay below threshold
