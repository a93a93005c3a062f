"""The exact event-driven forward pass: spike times are exactly the first threshold crossings of the
voltage of Theorem 1 (gradients.md §1), plus the documented edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models.errors import InputError
from toolchain.grad.api import ENGINES, loss_and_grad
from toolchain.grad.params import flatten
from toolchain.lif import forward as fw
from toolchain.lif.kernels import METHOD_NUMERIC, advance, next_crossing
from toolchain.losses import FirstSpikeCE, MaxVoltageCE
from toolchain.network import Network


def small_net(seed: int, ratio: float = 2.0, recurrent: bool = False, readout: str = "spiking",
              rec_delay: float = 0.0) -> Network:
    return Network.random([3, 5, 2], seed=seed, tau_syn=5e-3, tau_mem=5e-3 * ratio,
                          weight_mean=[0.8, 0.5], weight_std=[0.6, 0.5],
                          recurrent_std=0.3 if recurrent else None, readout=readout, delays=[0.0, 1e-3],
                          recurrent_delays=rec_delay)


def random_input(seed: int, n_in: int = 3, count: int = 15, t_max: float = 0.04):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, t_max, count), rng.integers(0, n_in, count)


def check_spikes_are_first_crossings(net: Network, result: fw.Forward, t_end: float) -> None:
    """V(t_k) = theta at every spike, and V < theta everywhere else on a fine grid (nothing missed)."""
    grid = np.linspace(0.0, t_end, 3001)
    for layer, sp in enumerate(result.layers):
        theta = net.threshold[layer]
        if len(sp.times):
            at_spikes = fw.voltage_trace(net, result, layer, sp.times)
            np.testing.assert_allclose(at_spikes[np.arange(len(sp.times)), sp.neurons], theta[sp.neurons],
                                       rtol=1e-11)
        trace = fw.voltage_trace(net, result, layer, grid)
        assert np.all(trace < theta[None, :] + 1e-9), f"missed crossing in layer {layer + 1}"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), ratio=st.sampled_from([0.5, 1.0, 2.0, 3.3]), recurrent=st.booleans(),
       rec_delay=st.sampled_from([0.0, 1e-3]), per_neuron=st.booleans())
def test_spike_times_are_exact_first_crossings(seed, ratio, recurrent, rec_delay, per_neuron):
    net = small_net(seed, ratio, recurrent, rec_delay=rec_delay)
    if per_neuron:  # every neuron its own time constants
        rng = np.random.default_rng(seed)
        net.tau_syn = [t * rng.uniform(0.7, 1.4, t.shape) for t in net.tau_syn]
        net.tau_mem = [t * rng.uniform(0.7, 1.4, t.shape) for t in net.tau_mem]
    result = fw.forward(net, random_input(seed), 0.06)
    check_spikes_are_first_crossings(net, result, 0.06)


def test_network_really_spikes_several_times_per_neuron():
    net = small_net(3)
    result = fw.forward(net, random_input(3, count=30), 0.06)
    assert max(c.max() for c in result.spike_counts(net)) >= 3
    check_spikes_are_first_crossings(net, result, 0.06)


@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_closed_forms_give_the_same_network_spikes_as_root_finding(ratio):
    for seed in range(5):
        net = small_net(seed, ratio, recurrent=seed % 2 == 1)
        closed = fw.forward(net, random_input(seed), 0.06)
        numeric = fw.forward(net, random_input(seed), 0.06, numeric=True)
        for c, n in zip(closed.layers, numeric.layers, strict=True):
            assert np.array_equal(c.neurons, n.neurons)
            np.testing.assert_allclose(c.times, n.times, rtol=1e-12)


def test_independent_layer_kernel_matches_event_queue_kernel():
    net = small_net(11)
    result = fw.forward(net, random_input(11, count=30), 0.06)
    for layer, sp in enumerate(result.layers):
        arr_t, arr_src, _ = result.arrivals(net, layer)
        t, n, i, ok = fw._simulate_layer(arr_t, arr_src, net.weights[layer], np.zeros((1, 1)), False, 0.0,
                                         1 / net.tau_syn[layer], 1 / net.tau_mem[layer], net.threshold[layer],
                                         0.06, 0, 10**6)
        assert ok and np.array_equal(n, sp.neurons) and len(t) > 0
        np.testing.assert_allclose(t, sp.times, rtol=1e-13)
        np.testing.assert_allclose(i, sp.current, rtol=1e-12)


def test_independent_layer_sweep_with_runs_of_time_constants_matches_event_queue_kernel():
    """A wide layer whose neurons come in runs of equal time constants (each run swept with its own decay
    table) and fire more spikes than the initial buffers hold (grow and resume mid-sweep)."""
    rng = np.random.default_rng(7)
    n_in, n = 8, 40
    tau_syn = np.repeat([4e-3, 6e-3, 5e-3, 5e-3 * 1.3], n // 4)
    tau_syn[-3:] = rng.uniform(3e-3, 7e-3, 3)  # the last neurons one run each
    net = Network.create([rng.normal(0.4, 0.5, (n_in, n)) / 5e-3, rng.normal(0.3, 0.3, (n, 2)) / 5e-3],
                         tau_syn=[tau_syn, 5e-3], tau_mem=[2.5 * tau_syn, 1e-2], threshold=1.0, delays=[0.0, 1e-3])
    times, channels = random_input(7, n_in=n_in, count=300, t_max=0.2)
    result = fw.forward(net, (times, channels), 0.2)
    sp = result.layers[0]
    assert len(sp.times) > 256 and np.all(np.diff(sp.times) >= 0)
    arr_t, arr_src, _ = result.arrivals(net, 0)
    t, n_, i, ok = fw._simulate_layer(arr_t, arr_src, net.weights[0], np.zeros((1, 1)), False, 0.0,
                                      1 / net.tau_syn[0], 1 / net.tau_mem[0], net.threshold[0], 0.2, 0, 10**6)
    assert ok and np.array_equal(n_, sp.neurons)
    np.testing.assert_allclose(t, sp.times, rtol=1e-12)
    np.testing.assert_allclose(i, sp.current, rtol=1e-11)


@settings(max_examples=300, deadline=None)
@given(v0=st.floats(-2.0, 0.999), i0=st.floats(-500.0, 3000.0), span=st.floats(1e-5, 5e-2),
       tau_syn=st.floats(1e-3, 2e-2), ratio=st.floats(0.25, 5.0))
def test_cheap_flag_never_skips_an_interval_that_reaches_threshold(v0, i0, span, tau_syn, ratio):
    """The branch-free flag (V(end) >= theta, or an interior maximum not ruled out by the PSP bound) must be
    set whenever V reaches theta in the interval: compared with the exact search and a fine grid."""
    a, b = 1 / tau_syn, 1 / (ratio * tau_syn)
    s_peak, h_peak = fw._psp_peak(a, b)
    table = np.empty((1, 4))
    fw._interval_table(np.array([span]), a, b, s_peak, h_peak, table)
    v_end, i_end = advance(v0, i0, span, a, b)
    flagged = fw._may_cross(v0, i0, v_end, i_end, b, 1.0, table[0, 3])
    exact = next_crossing(v0, i0, 1.0, a, b, span, METHOD_NUMERIC)
    grid_max = max(advance(v0, i0, s, a, b)[0] for s in np.linspace(0.0, span, 401))
    if exact < np.inf or grid_max >= 1.0:
        assert flagged


def test_hop_delay_shifts_every_spike():
    base = small_net(5)
    base.delays = [0.0, 0.0]
    delayed = base.copy()
    delayed.delays = [2e-3, 0.0]
    times, channels = random_input(5)
    r0 = fw.forward(base, (times, channels), 0.1)
    r1 = fw.forward(delayed, (times, channels), 0.1)
    for s0, s1 in zip(r0.layers, r1.layers, strict=True):
        assert np.array_equal(s0.neurons, s1.neurons)
        np.testing.assert_allclose(s1.times, s0.times + 2e-3, rtol=1e-12)


# -- edge cases (docs/gradients.md, "Edge cases") ----------------------------------------------------------
def grads_of_every_engine(net, sample, loss, t_end=0.06):
    out = {}
    for engine in (e for e in ENGINES if e != "hm2bp"):  # the exact engines (HM2-BP takes count losses only)
        value, grads, stats = loss_and_grad(net, [sample], [0], loss, t_end, engine=engine)
        flat = flatten(net, grads)
        assert np.isfinite(value) and np.all(np.isfinite(flat))
        out[engine] = (value, flat, stats)
    return out


def test_no_input_spikes_gives_no_spikes_and_zero_gradient():
    net = small_net(0)
    res = grads_of_every_engine(net, (np.zeros(0), np.zeros(0, dtype=int)), FirstSpikeCE())
    for value, flat, stats in res.values():
        assert all(c.sum() == 0 for c in stats.spike_counts)
        assert np.all(flat == 0.0)
        # both outputs count as firing at t_end: a uniform softmax, plus the regulariser at t_end
        loss = FirstSpikeCE()
        assert value == pytest.approx(np.log(2.0) + loss.alpha * np.expm1(0.06 / loss.tau1), rel=1e-12)


def test_silent_hidden_layer_gives_zero_gradient_not_nan():
    net = small_net(0)
    net.weights[0] = -np.abs(net.weights[0])
    res = grads_of_every_engine(net, random_input(0), FirstSpikeCE())
    for _, flat, stats in res.values():
        assert stats.spike_counts[0].sum() == 0
        assert np.all(flat == 0.0)


def test_spike_right_after_time_zero():
    net = small_net(1)
    net.weights[0][0, :] = 1e5  # one input at t = 0 drives every hidden neuron over threshold at once
    sample = (np.array([0.0, 0.01]), np.array([0, 1]))
    result = fw.forward(net, sample, 0.06)
    first = result.layers[0].times[0]
    assert 0.0 < first < 1e-4
    res = grads_of_every_engine(net, sample, FirstSpikeCE(tau0=2e-3, tau1=0.2))
    np.testing.assert_allclose(res["eventprop"][1], res["fp"][1], rtol=1e-8, atol=1e-12 * np.abs(res["fp"][1]).max())


def test_simultaneous_inputs_act_like_their_summed_weight():
    net = small_net(2)
    doubled = net.copy()
    doubled.weights[0][0] *= 2.0
    times, channels = random_input(2)
    keep = channels != 0
    once = (times, channels)
    twice = (np.concatenate([times, times[~keep]]), np.concatenate([channels, channels[~keep]]))
    r_twice = fw.forward(net, twice, 0.06)
    r_doubled = fw.forward(doubled, once, 0.06)
    for a, b in zip(r_twice.layers, r_doubled.layers, strict=True):
        assert np.array_equal(a.neurons, b.neurons)
        np.testing.assert_allclose(a.times, b.times, rtol=1e-12)


def test_tau_mem_close_to_tau_syn_is_continuous():
    equal = small_net(4, ratio=1.0)
    near = small_net(4, ratio=1.0 + 1e-10)
    sample = random_input(4)
    r_eq = fw.forward(equal, sample, 0.06)
    r_near = fw.forward(near, sample, 0.06)
    for a, b in zip(r_eq.layers, r_near.layers, strict=True):
        assert np.array_equal(a.neurons, b.neurons)
        np.testing.assert_allclose(a.times, b.times, rtol=1e-8)
    g_eq = grads_of_every_engine(equal, sample, FirstSpikeCE(tau0=2e-3, tau1=0.2))["fp"][1]
    g_near = grads_of_every_engine(near, sample, FirstSpikeCE(tau0=2e-3, tau1=0.2))["fp"][1]
    np.testing.assert_allclose(g_near, g_eq, rtol=1e-6, atol=1e-9 * np.abs(g_eq).max())


def test_leaky_readout_maximum_is_the_maximum_of_the_trace():
    net = small_net(6, readout="leaky-integrator")
    result = fw.forward(net, random_input(6, count=25), 0.06)
    grid = np.linspace(0.0, 0.06, 6001)
    trace = fw.voltage_trace(net, result, 1, grid)
    ro = result.readout
    assert np.all(ro.vmax >= trace.max(axis=0) - 1e-12)
    np.testing.assert_allclose(ro.vmax, trace.max(axis=0), rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(fw.voltage_trace(net, result, 1, ro.tmax)[np.arange(2), np.arange(2)], ro.vmax,
                               rtol=1e-12)
    np.testing.assert_allclose(ro.vint, np.trapezoid(trace, grid, axis=0), rtol=1e-5)
    grads_of_every_engine(net, random_input(6, count=25), MaxVoltageCE())


@pytest.mark.parametrize("sample, message", [
    ((np.array([0.1, -0.01]), np.array([0, 1])), ">= 0"),
    ((np.array([np.nan]), np.array([0])), "finite"),
    ((np.array([0.1]), np.array([3])), r"\[0, 2\]"),
    ((np.array([0.1, 0.2]), np.array([0])), "one channel per spike"),
    ((np.array([0.1]), np.array([0.5])), "integers"),
    ("nonsense", "pair"),
])
def test_bad_inputs_are_refused_with_a_clear_message(sample, message):
    with pytest.raises(InputError, match=message):
        fw.forward(small_net(0), sample, 0.06)


def test_runaway_spiking_is_an_error_not_a_truncation():
    net = small_net(0)
    net.weights[0][:] = 1e6
    with pytest.raises(InputError, match="more than 50 spikes"):
        fw.forward(net, random_input(0), 0.06, max_spikes=50)
