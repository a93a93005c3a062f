"""The simulator's documented semantics, each from a hand-worked case (xylo.md §1.3), and the
compiled kernel against the readable reference."""

from __future__ import annotations

import numpy as np
import pytest

from hw_models.arith import decay, membrane_before_reset, neuron_step, shifted_weight
from hw_models.chips import custom_chip, register
from hw_models.config import ChipConfig
from hw_models.errors import ConfigError, InputError, SpikelineError
from hw_models.simulator import (
    RECORD_KEYS,
    SUMMARY_KEYS,
    Record,
    simulate,
    simulate_reference,
    validate_raster,
)
from tests.hw_models.random_configs import cases, random_config


def chain(n_h=2, n_in=1, n_o=1, **kw) -> ChipConfig:
    defaults = dict(weights_in=np.zeros((n_in, n_h), int), weights_out=np.zeros((n_h, n_o), int),
                    threshold=np.full(n_h, 1000), threshold_out=np.full(n_o, 1000))
    defaults.update(kw)
    return ChipConfig.create("xylo-audio2", 1e-3, **defaults)


def test_decay_rounding_sequences():
    seq_pos, seq_neg, x, y = [], [], 50, -50
    for _ in range(8):
        seq_pos.append(x)
        seq_neg.append(y)
        x -= decay(x, 1)
        y -= decay(y, 1)
    assert seq_pos[:5] == [50, 25, 13, 7, 4]
    assert seq_neg == [-50, -25, -12, -6, -3, -1, 0, 0]


def test_integrate_then_decay():
    """w = 100, dash_syn = 1: i_syn 50 and v 50 in the arrival step."""
    cfg = chain(n_h=1, weights_in=[[100]], dash_syn=1, dash_mem=4, threshold=[30000])
    rec = simulate(cfg, np.array([[1], [0]]))
    assert rec["Isyn"][0, 0] == 50 and rec["Vmem"][0, 0] == 50


def test_dash0_erases_input():
    cfg = chain(n_h=1, weights_in=[[100]], dash_syn=0, threshold=[30000])
    rec = simulate(cfg, np.array([[3], [0]]))
    assert rec["Isyn"].tolist() == [[0], [0]] and rec["Vmem"].tolist() == [[0], [0]]


def test_hop_latency_input_hidden_hidden_readout():
    """Input at t=0 -> h0 spikes at t=0 -> h1 at t=1 -> readout at t=2."""
    w_rec = np.zeros((2, 2), int)
    w_rec[0, 1] = 127
    w_out = np.zeros((2, 1), int)
    w_out[1, 0] = 127
    cfg = chain(weights_in=[[127, 0]], weights_rec=w_rec, weights_out=w_out, threshold=[10, 10],
                threshold_out=[10], weight_shift_in=4, weight_shift_rec=4, weight_shift_out=4,
                dash_syn=[15, 15], dash_mem=[1, 1])
    rec = simulate(cfg, np.array([[1], [0], [0], [0]]))
    assert np.flatnonzero(rec["Spikes"][:, 0])[0] == 0
    assert np.flatnonzero(rec["Spikes"][:, 1])[0] == 1
    assert np.flatnonzero(rec["Spikes_out"][:, 0])[0] == 2


def test_subtractive_reset_and_multi_spike():
    v, _, _, n = neuron_step(0, 350, 0, 4, 15, 15, False, 0, 100, 0, 31)
    assert n == 3 and v == 350 - (350 >> 15 or 1) - 300  # integrate 349, three spikes, remainder
    v, _, _, n = neuron_step(0, 20000, 0, 4, 15, 15, False, 0, 100, 0, 1)
    assert n == 1 and v == 20000 - 1 - 100  # readout cap 1 keeps the excess


def test_threshold_zero_fires_cap():
    _, _, _, n = neuron_step(0, 0, 0, 4, 4, 4, False, 0, 0, 0, 31)
    assert n == 31


def test_alias_example_from_reference():
    """aliases=[[],[3],[0],[]]: neurons 1 and 2 fire 2 -> S = [2, 2, 2, 2] (xylo.md §1.3)."""
    cfg = chain(n_h=4, weights_in=[[0, 120, 120, 0]], threshold=[100, 100, 100, 100],
                aliases=[[], [3], [0], []], dash_syn=15, dash_mem=15, weight_shift_in=1)
    rec = simulate(cfg, np.array([[1]]))
    assert rec["Spikes"][0].tolist() == [2, 2, 2, 2]
    assert rec["Vmem"][0].tolist() == [0, 39, 39, 0]


def test_shift_wraps_like_the_chip():
    assert shifted_weight(127, 9) == -512
    assert shifted_weight(-128, 8) == -32768


def test_batch_equals_samples_one_by_one():
    cfg, raster, clip = random_config(7, "xylo-audio2", "random")
    batch = np.stack([raster[0], raster[0][::-1], np.zeros_like(raster[0])])
    together = simulate(cfg, batch, clip_inputs=clip)
    for b in range(3):
        alone = simulate(cfg, batch[b], clip_inputs=clip)
        for key in RECORD_KEYS:
            assert np.array_equal(together[key][b], alone[key])


def test_spikes_only_equals_all():
    cfg, raster, clip = random_config(3, "xylo-imu", "caps-aliases")
    full = simulate(cfg, raster, clip_inputs=clip)
    fast = simulate(cfg, raster, record="spikes", clip_inputs=clip)
    assert set(fast.keys()) == {"Spikes", "Spikes_out"}
    assert np.array_equal(full["Spikes"], fast["Spikes"])
    assert np.array_equal(full["Spikes_out"], fast["Spikes_out"])


def assert_summary_of(full: Record, summary: Record) -> None:
    """``summary`` is the summary view of the full record ``full``: the readout records, spike counts and peak
    states of the record, and a peak membrane before the reset (which the record does not hold) equal to the
    recorded one for neurons that never fired (no reset, nothing hidden)."""
    assert set(summary.keys()) == set(SUMMARY_KEYS)
    for key in ("Spikes_out", "Vmem_out", "Isyn_out"):
        assert np.array_equal(summary[key], full[key]), key
    assert np.array_equal(summary["Spikes_count"], full["Spikes"].sum(axis=-2, dtype=np.int64))
    peak = {k: np.abs(full[k].astype(np.int64)).max(axis=-2) for k in ("Vmem", "Isyn", "Isyn2")}
    for key in ("Vmem", "Isyn", "Isyn2"):
        assert np.array_equal(summary[key + "_peak"], peak[key]), key
    silent = summary["Spikes_count"] == 0
    assert np.array_equal(summary["Vmem_peak_before_reset"][silent], peak["Vmem"][silent])


@pytest.mark.parametrize("seed,chip,kind", cases(16, offset=20_000))
def test_kernel_summary_equals_the_reference_summary(seed, chip, kind):
    cfg, raster, clip = random_config(seed, chip, kind)
    raster = raster[:, :25]
    ref = simulate_reference(cfg, raster, "summary", clip_inputs=clip)
    ker = simulate(cfg, raster, record="summary", clip_inputs=clip)
    assert set(ker.keys()) == set(SUMMARY_KEYS) == set(ref.keys())
    for key in SUMMARY_KEYS:
        assert np.array_equal(ker[key], ref[key]), key
    assert ker["Spikes_count"].shape == (raster.shape[0], cfg.n_hidden)
    assert_summary_of(simulate_reference(cfg, raster, clip_inputs=clip), ref)


def test_the_summary_cases_spike_and_move_states():
    """The cases above exercise what they claim: most of them count spikes and move states, and in some a
    membrane peaks above what its record shows (it fired from there)."""
    spiking = hidden_by_reset = 0
    for seed, chip, kind in cases(16, offset=20_000):
        cfg, raster, clip = random_config(seed, chip, kind)
        rec = simulate(cfg, raster[:, :25], record="summary", clip_inputs=clip)
        spiking += int(rec["Spikes_count"].sum() > 0 and rec["Isyn_peak"].max() > 0)
        hidden_by_reset += int(np.any(rec["Vmem_peak_before_reset"] > rec["Vmem_peak"]))
    assert spiking >= 10 and hidden_by_reset >= 5


@pytest.mark.parametrize("v, own, threshold, before", [
    (0, 1, 32767, 32767),            # saturated at 32767, one spike at threshold 32767 -> 0
    (4464, 2, -30000, 10000),        # the reset wrapped: 10000 -> int16(40000) = -25536 -> 4464
    (20000 - 1 - 100, 1, 100, 19999),  # 30 alias copies already in: only the neuron's own spike is undone
    (1767, 31, 1000, 32767),         # 31 spikes from the rail
    (-50, 0, 1000, -50),             # no spike, nothing to undo
])
def test_membrane_before_reset_by_hand(v, own, threshold, before):
    assert membrane_before_reset(v, own, threshold) == before


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_summary_membrane_peak_sees_the_rail_before_the_reset(engine):
    """One neuron driven onto the rail: 15 events of int16(127 << 8) = 32512 saturate the synapse at 32767, which
    decays by 1 before it reaches the membrane (v = 32766), and 31 spikes at threshold 1000 leave 1766 in the
    record; in step 1, 1766 - 1 + 32765 saturates at 32767 and 31 spikes leave 1767. The summary's peak before
    the reset is the rail, 32767 (its recorded peak, 1767, would pass a health check)."""
    cfg = chain(n_h=1, weights_in=[[127]], weight_shift_in=8, dash_syn=15, dash_mem=15, threshold=[1000])
    raster = np.array([[15], [0]])
    full = simulate(cfg, raster, engine=engine)
    assert full["Isyn"][0, 0] == 32766 and full["Vmem"][0, 0] == 32766 - 31 * 1000 and full["Spikes"][0, 0] == 31
    summary = simulate(cfg, raster, record="summary", engine=engine)
    assert full["Vmem"][1, 0] == 1767 and summary["Vmem_peak"][0] == 1767
    assert summary["Vmem_peak_before_reset"][0] == 32767


def test_summary_of_one_raster_and_rail_peaks():
    cfg, raster, clip = random_config(5, "xylo-audio2", "saturating")
    full = simulate(cfg, raster[0], clip_inputs=clip)
    one = simulate(cfg, raster[0], record="summary", clip_inputs=clip)
    assert_summary_of(full, one)
    ref = simulate_reference(cfg, raster[0], "summary", clip_inputs=clip)
    assert np.array_equal(one["Vmem_peak_before_reset"], ref["Vmem_peak_before_reset"])
    assert one["Isyn_peak"].max() >= 32767                      # this corner case saturates a synapse


@pytest.mark.parametrize("seed,chip,kind", cases(48, offset=10_000))
def test_kernel_equals_reference(seed, chip, kind):
    cfg, raster, clip = random_config(seed, chip, kind)
    raster = raster[:, :25]
    ref = simulate_reference(cfg, raster, clip_inputs=clip)
    ker = simulate(cfg, raster, clip_inputs=clip)
    assert ker.first_difference(ref) is None


@pytest.mark.parametrize("raster,match", [
    (np.full((3, 2), -1), "negative"),
    (np.full((3, 2), 0.5), "integer"),
    (np.full((3, 3), 1), "channels"),
    (np.zeros((2,), int), "shape"),
    (np.zeros((2, 2, 2, 2), int), "shape"),
    (np.full((3, 2), 16), "at most 15"),
    (np.array([[np.nan, 0]]), "NaN"),
    (np.array([["a", "b"]]), "numeric"),
    (np.zeros((0, 2), int), "no time steps"),
])
def test_bad_rasters_are_refused(raster, match):
    with pytest.raises(InputError, match=match):
        validate_raster(raster, 2)


def _raster(shape, values: dict, dtype=np.int64) -> np.ndarray:
    """A zero raster of ``shape`` with ``values`` ({index: count}) set."""
    arr = np.zeros(shape, dtype)
    for index, value in values.items():
        arr[index] = value
    return arr


ABOVE_15 = ("; the chip accepts at most 15 events per channel per step (pass clip_inputs=True / --clip-inputs to let "
            "it clip, or spread the events over more steps)")


@pytest.mark.parametrize("raster,clip,message", [
    (np.ones((3, 2), bool), False, "raster is boolean; it must hold integer spike counts (convert with "
                                   "raster.astype(numpy.int64) if True means one event)"),
    (np.array([["a", "b"]]), False, "raster must be a numeric array of spike counts, got dtype <U1"),
    (np.array([[1, None]], dtype=object), False, "raster must be a numeric array of spike counts, got dtype object"),
    (np.array([[1 + 0j, 0]]), False, "raster must be a numeric array of spike counts, got dtype complex128"),
    (np.array([[0.0, np.inf]]), False, "raster holds NaN or inf; it must hold integer spike counts"),
    (_raster((3, 2), {(1, 1): 2.5, (2, 0): 0.5}, float), False,
     "raster must hold integer spike counts; found 2.5 at index [1, 1] (encode to counts per time step first)"),
    (np.zeros((2, 2, 2, 2), int), False, "raster must have shape (T, N_in) or (B, T, N_in); got (2, 2, 2, 2)"),
    (np.zeros((2, 4, 3), int), False, "raster has 3 channels, the configuration has 2 input channels (last axis of "
                                   "the raster)"),
    (np.zeros((0, 3, 2), int), False, "raster has no time steps or no samples (shape (0, 3, 2))"),
    (np.zeros((2, 0, 2), int), False, "raster has no time steps or no samples (shape (2, 0, 2))"),
    (_raster((2, 3, 2), {(1, 2, 0): -3, (1, 2, 1): -1}), False,
     "raster holds a negative count -3 at (sample, step, channel) [1, 2, 0]"),
    (_raster((3, 2), {(2, 1): -1.0}, float), False,
     "raster holds a negative count -1.0 at (sample, step, channel) [0, 2, 1]"),
    (_raster((2, 3, 2), {(0, 0, 0): 15, (1, 0, 1): 16, (1, 2, 0): 20}), False,
     "raster count 16 at (sample, step, channel) [1, 0, 1] is above 15" + ABOVE_15),
    (_raster((2, 3, 2), {(0, 0, 0): 255, (0, 1, 1): 300, (1, 0, 0): 256}), True,
     "raster count 300 at (sample, step, channel) [0, 1, 1] is above 255"),
])
def test_bad_rasters_get_the_whole_message(raster, clip, message):
    """Each refusal says what is wrong, where (the first bad entry, as (sample, step, channel)) and how to fix it."""
    with pytest.raises(InputError) as err:
        validate_raster(raster, 2, clip_inputs=clip)
    assert str(err.value) == message


def test_good_rasters_come_back_as_int64_batches():
    """The largest counts accepted (15, or 255 when clipping), integral floats and unsigned types."""
    out = validate_raster(np.array([[15, 0], [1, 2]], np.uint8), 2)
    assert out.dtype == np.int64 and out.shape == (1, 2, 2) and out[0, 0, 0] == 15
    floats = validate_raster(np.array([[[3.0, 0.0]], [[0.0, 1.0]]]), 2)
    assert floats.dtype == np.int64 and floats.shape == (2, 1, 2) and floats[0, 0, 0] == 3
    assert validate_raster(np.array([[255, 15]]), 2, clip_inputs=True)[0, 0, 0] == 255


def test_clip_inputs_is_explicit_and_matches_chip():
    cfg = chain(n_h=1, weights_in=[[10]], dash_syn=15, threshold=[30000])
    clipped = simulate(cfg, np.array([[200]]), clip_inputs=True)
    fifteen = simulate(cfg, np.array([[15]]))
    assert np.array_equal(clipped["Isyn"], fifteen["Isyn"])
    with pytest.raises(InputError, match="above 255"):
        validate_raster(np.array([[256]]), 1, clip_inputs=True)


# -- hand-worked saturation cases: each value below is worked out by hand from reference/xylo.md, so a change
# -- in arith.py (which the kernel and the reference share) fails here, not only against xylosim


@pytest.mark.parametrize("args, expected", [
    # intermediate saturation of dv = sat16(-decay(v) + i0 + i1): i -> 29999 each, dv = sat16(1 + 59998) =
    # 32767, v = sat16(-20000 + 32767) = 12767 (without it: sat16(39999) = 32767 and a spike)
    ((-20000, 30000, 30000, 15, 15, 15, False, 0, 32767, 0, 31), (12767, 29999, 29999, 0)),
    # the same towards -32768: i -> -29999 each, -decay(20000) = -1, dv = -32768, v = 20000 - 32768
    ((20000, -30000, -30000, 15, 15, 15, False, 0, 100, 0, 31), (-12768, -29999, -29999, 0)),
    # bias saturation: dv = sat16(1 + 29999) = 30000, dv = sat16(30000 + 30000) = 32767, v = 12767
    ((-20000, 30000, 0, 15, 15, 15, True, 30000, 32767, 0, 31), (12767, 29999, 0, 0)),
    # final saturation: v = sat16(30000 + 30000 - 1) = 32767, one spike at threshold 32767 -> 0
    ((30000, 30001, 0, 15, 15, 15, False, 0, 32767, 0, 31), (0, 30000, 0, 1)),
    # -decay(v) wraps: v = -32768, dash 0: -(-32768) = 32768 -> int16 -32768; v = sat16(-65536) = -32768
    ((-32768, 0, 0, 0, 15, 15, False, 0, 100, 0, 31), (-32768, 0, 0, 0)),
    # the reset wraps: threshold -30000, v = 10000 -> int16(40000) = -25536 (spike 1) -> 4464 (spike 2, cap)
    ((10001, 0, 0, 15, 15, 15, False, 0, -30000, 0, 2), (4464, 0, 0, 2)),
    # alias copies count toward the cap: n0 = 30 already, cap 31: one more spike only
    ((0, 20000, 0, 15, 15, 15, False, 0, 100, 30, 31), (20000 - 1 - 100, 19999, 0, 31)),
])
def test_neuron_step_saturation_by_hand(args, expected):
    assert neuron_step(*args) == expected


def test_deliver_and_shift_saturation_by_hand():
    from hw_models.arith import deliver, sat16, wrap16

    assert deliver(30000, 1000, 3) == 32767 and deliver(-30000, -1000, 3) == -32768
    assert deliver(30000, 1000, 2) == 32000 and deliver(0, 32767, 31) == 32767
    assert sat16(32768) == 32767 and sat16(-32769) == -32768 and sat16(-5) == -5
    assert wrap16(32768) == -32768 and wrap16(65024) == -512 and wrap16(-32769) == 32767
    assert shifted_weight(127, 8) == 32512 and shifted_weight(-128, 8) == -32768
    assert shifted_weight(127, 9) == -512 and shifted_weight(-1, 0) == -1
    assert [decay(x, 4) for x in (1, -1, 17, -17, 0, 16, -16)] == [1, -1, 1, -2, 0, 1, -1]


@pytest.mark.parametrize("engine", ["reference", "kernel"])
def test_intermediate_saturation_end_to_end(engine):
    """One neuron, two synapses, dash 15, shift 8. Step 0: one event of -117 on both synapses:
    isyn = -29952 -> -29951 after decay, dv = sat16(-59902) = -32768, v = -32768. Step 1: four events of
    +117: isyn = sat16(-29951 + 4 * 29952) = 32767 -> 32766, dv = sat16(1 + 65532) = 32767, v = -1.
    Without the intermediate saturation v would be sat16(-32768 + 65533) = 32765 and the neuron would spike."""
    w_in = np.zeros((2, 1, 2), int)
    w_in[0, 0] = [-117, -117]
    w_in[1, 0] = [117, 117]
    cfg = chain(n_h=1, n_in=2, weights_in=w_in, weight_shift_in=8, dash_mem=[15], dash_syn=[15],
                dash_syn_2=[15], threshold=[1000])
    rec = simulate(cfg, np.array([[1, 0], [0, 4]]), engine=engine)
    assert rec["Isyn"][:, 0].tolist() == [-29951, 32766] and rec["Isyn2"][:, 0].tolist() == [-29951, 32766]
    assert rec["Vmem"][:, 0].tolist() == [-32768, -1] and rec["Spikes"][:, 0].tolist() == [0, 0]


# -- the oracle comparison itself, the record contract and the defaults (mutation testing found these untested:
# -- every other test calls first_difference on equal records only, so a first_difference that always returned
# -- None made the kernel-vs-reference and kernel-vs-xylosim tests pass vacuously)


def _pair(shape):
    """Two equal hand-made records with keys in RECORD_KEYS order (Spikes first, then Vmem)."""
    ours = Record({"Spikes": np.zeros(shape, np.uint8), "Vmem": np.zeros(shape, np.int16)})
    return ours, Record({k: v.copy() for k, v in ours.data.items()})


def test_first_difference_is_the_earliest_step_then_sample_then_neuron():
    ours, theirs = _pair((2, 4, 3))
    assert ours.first_difference(theirs) is None
    for idx, value in (((0, 2, 0), 9), ((1, 1, 0), 8), ((0, 1, 2), 7), ((0, 1, 1), 6)):
        theirs.data["Vmem"][idx] = value
    ours.data["Vmem"][0, 1, 1] = -3
    assert ours.first_difference(theirs) == ("Vmem", (0, 1, 1), -3, 6)
    theirs.data["Spikes"][1, 3, 2] = 1  # later than Vmem's: Vmem's stays the earliest
    assert ours.first_difference(theirs) == ("Vmem", (0, 1, 1), -3, 6)
    theirs.data["Spikes"][1, 1, 0] = 2  # the same step as Vmem's: the first key in record order wins
    assert ours.first_difference(theirs) == ("Spikes", (1, 1, 0), 0, 2)
    theirs.data["Vmem"][1, 0, 2] = 5  # an earlier step in a later key wins
    diff = ours.first_difference(theirs)
    assert diff == ("Vmem", (1, 0, 2), 0, 5) and all(type(i) is int for i in (*diff[1], diff[2], diff[3]))


def test_first_difference_of_single_raster_records():
    ours, theirs = _pair((5, 3))
    theirs.data["Spikes"][[3, 2, 2], [0, 2, 1]] = 1
    assert ours.first_difference(theirs) == ("Spikes", (2, 1), 0, 1)
    assert theirs.first_difference(ours) == ("Spikes", (2, 1), 1, 0)


def test_first_difference_skips_keys_the_other_lacks_and_refuses_other_shapes():
    ours, theirs = _pair((4, 2))
    ours = Record({"Isyn": np.zeros((4, 2), np.int16), **ours.data})  # first, and absent from theirs
    theirs.data["Vmem"][3, 1] = 4
    assert ours.first_difference(theirs) == ("Vmem", (3, 1), 0, 4)
    theirs.data["Spikes"] = np.zeros((5, 2), np.uint8)
    with pytest.raises(SpikelineError, match=r"record 'Spikes': shapes differ \(4, 2\) vs \(5, 2\)"):
        ours.first_difference(theirs)


def test_a_changed_configuration_is_a_difference_on_both_engines():
    cfg, raster, clip = random_config(7, "xylo-audio2", "random")
    changed = cfg.copy()
    changed.threshold = cfg.threshold + 1
    for engine in ("kernel", "reference"):
        before = simulate(cfg, raster[:, :25], clip_inputs=clip, engine=engine)
        after = simulate(changed, raster[:, :25], clip_inputs=clip, engine=engine)
        diff = before.first_difference(after)
        assert diff is not None and before[diff[0]][diff[1]] == diff[2] != diff[3] == after[diff[0]][diff[1]]


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_record_dtypes_and_modes_on_both_engines(engine):
    cfg, raster, clip = random_config(3, "xylo-imu", "caps-aliases")
    raster = raster[:, :25]
    full = simulate(cfg, raster, clip_inputs=clip, engine=engine)
    assert {k: full[k].dtype for k in full.keys()} == {k: np.uint8 if k.startswith("Spikes") else np.int16
                                                       for k in RECORD_KEYS}
    spikes = simulate(cfg, raster, record="spikes", clip_inputs=clip, engine=engine)
    assert set(spikes.keys()) == {"Spikes", "Spikes_out"}
    assert all(spikes[k].dtype == np.uint8 and np.array_equal(spikes[k], full[k]) for k in spikes.keys())
    summary = simulate(cfg, raster, record="summary", clip_inputs=clip, engine=engine)
    assert_summary_of(full, summary)
    assert {k: summary[k].dtype for k in SUMMARY_KEYS} == {k: full[k].dtype if k in full.keys() else np.int64
                                                          for k in SUMMARY_KEYS}
    assert summary["Spikes_count"].sum() > 0 and summary["Isyn_peak"].max() > 0


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_counts_above_15_are_refused_unless_clipping_is_asked_for(engine):
    cfg = chain(n_h=1, weights_in=[[10]], dash_syn=15, threshold=[30000])
    with pytest.raises(InputError, match="at most 15"):
        simulate(cfg, np.array([[16]]), engine=engine)
    with pytest.raises(InputError, match="at most 15"):
        simulate_reference(cfg, np.array([[16]]))
    assert simulate(cfg, np.array([[16]]), engine=engine, clip_inputs=True)["Isyn"][0, 0] == 149  # 150 - 1
    summary = simulate(cfg, np.array([[16]]), engine=engine, record="summary", clip_inputs=True)
    assert summary["Isyn_peak"][0] == 149


def test_simulate_applies_the_design_rules_unless_told_not_to():
    cfg = chain(n_h=1, weights_in=[[300]], dash_syn=[15], threshold=[30000])  # weights are int8 on the chip
    with pytest.raises(ConfigError, match="300"):
        simulate(cfg, np.array([[1]]))
    assert simulate(cfg, np.array([[1]]), validate=False)["Isyn"][0, 0] == 299  # 300 - decay(300, 15)


def test_bad_record_mode_and_engine_are_refused_by_name():
    cfg = chain(n_h=1)
    with pytest.raises(InputError, match="record must be 'all', 'spikes' or 'summary', got 'trace'"):
        simulate(cfg, np.array([[1]]), record="trace")
    with pytest.raises(InputError, match="engine must be 'kernel' or 'reference', got 'fast'"):
        simulate(cfg, np.array([[1]]), engine="fast")


def test_record_save_and_load_round_trip(tmp_path):
    cfg, raster, clip = random_config(5, "xylo-audio2", "saturating")
    rec = simulate(cfg, raster[:, :10], clip_inputs=clip)
    again = Record.load(rec.save(tmp_path / "rec.npz"))
    assert set(again.keys()) == set(RECORD_KEYS)
    assert all(again[k].dtype == rec[k].dtype and np.array_equal(again[k], rec[k]) for k in RECORD_KEYS)


def _cap_probe(chip: str) -> ChipConfig:
    """One input channel -> one hidden neuron -> one readout, thresholds 1: every cap is reached."""
    return ChipConfig.create(chip, 1e-3, weights_in=[[100]], weights_out=[[100]], threshold=[1],
                             threshold_out=[1], dash_syn=[15], dash_mem=[15])


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_spike_caps_come_from_the_chip_and_default_to_xylo_v2(engine, monkeypatch):
    from hw_models import chips

    register(custom_chip("test-caps-4-3-2", n_hidden=4, n_inputs=2, n_outputs=2, max_input_spikes=4,
                         max_hidden_spikes=3, max_output_spikes=2))
    raster = np.array([[200], [0], [0]])
    rec = simulate(_cap_probe("test-caps-4-3-2"), raster, clip_inputs=True, engine=engine)
    assert rec["Isyn"][0, 0] == 4 * 100 - 1 and rec["Spikes"][0, 0] == 3 and rec["Spikes_out"][1, 0] == 2
    monkeypatch.delitem(chips._REGISTRY, "test-caps-4-3-2")  # a chip no longer known: Xylo v2's caps
    rec = simulate(_cap_probe("test-caps-4-3-2"), raster, clip_inputs=True, engine=engine, validate=False)
    assert rec["Isyn"][0, 0] == 15 * 100 - 1 and rec["Spikes"][0, 0] == 31 and rec["Spikes_out"][1, 0] == 1
