"""FP (reverse and forward mode), EventProp and central finite differences agree on random networks.

Exact engines must agree to 1e-8 relative (they differ only by round-off); each must match central
finite differences to 1e-5 relative (max norm over the entries the oracle calls valid: no perturbation changed
the spike-causality graph and the loss is smooth across the stencil, gradients.md §3.5).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from hw_models.errors import InputError
from toolchain.grad.api import loss_and_grad
from toolchain.grad.params import flatten
from toolchain.losses import FirstSpikeCE, IntegratedVoltageCE, MaxVoltageCE, SpikeCountCE
from toolchain.network import Network

SPIKING_LOSSES = [FirstSpikeCE(tau0=2e-3, tau1=0.2), SpikeCountCE(tau_count=0.02, gain=0.3)]
LEAKY_LOSSES = [MaxVoltageCE(gain=1.0), IntegratedVoltageCE(gain=1.0)]


def random_case(seed: int, sizes: list[int], ratio: str, recurrent: bool, readout: str, delay: bool,
                per_neuron: bool = False):
    """A random network that fires a few spikes per neuron on a random input batch of 2 samples.
    ``per_neuron``: every neuron gets its own time constants (some shared, some not)."""
    rng = np.random.default_rng(seed)
    tau_syn = float(rng.uniform(3e-3, 8e-3))
    tau_mem = {"equal": tau_syn, "double": 2 * tau_syn, "near": tau_syn * (1 + 1e-7),
               "general": tau_syn * float(rng.uniform(0.4, 4.0))}[ratio]
    n_hops = len(sizes) - 1
    net = Network.random(sizes, seed=seed, tau_syn=tau_syn, tau_mem=tau_mem,
                         weight_mean=[1.2 / np.sqrt(sizes[0])] + [0.6 / np.sqrt(n) for n in sizes[1:-1]],
                         weight_std=[1.0 / np.sqrt(n) for n in sizes[:-1]],
                         recurrent_std=0.25 if recurrent else None, readout=readout,
                         delays=[0.0] + [1e-3 if delay else 0.0] * (n_hops - 1),
                         recurrent_delays=1e-3 if delay else 0.0)
    net.threshold = [None if th is None else th * rng.uniform(0.7, 1.3, th.shape) for th in net.threshold]
    if per_neuron:
        for name in ("tau_syn", "tau_mem"):
            getattr(net, name)[:] = [tau * rng.choice([1.0, 1.0, 0.8, 1.3], tau.shape) for tau in getattr(net, name)]
    inputs = []
    for _ in range(2):
        n_spikes = int(rng.integers(2 * sizes[0], 5 * sizes[0]))
        inputs.append((rng.uniform(0.0, 0.04, n_spikes), rng.integers(0, sizes[0], n_spikes)))
    labels = [int(x) for x in rng.integers(0, sizes[-1], 2)]
    return net, inputs, labels


def relative_error(g: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> float:
    if mask is not None:
        g, ref = g[mask], ref[mask]
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    return float(np.max(np.abs(g - ref)) / scale) if scale > 0 else float(np.max(np.abs(g), initial=0.0))


def exercised(net, inputs, labels, loss, t_end=0.08, taus=False) -> bool:
    """Does the draw test anything? Every spiking layer fires (the readout too, when it spikes) and the
    gradient is non-zero (with ``taus``: the time-constant gradient too). About 40 % of the random draws fail
    this (a silent readout: zero gradient)."""
    _, grads, stats = loss_and_grad(net, inputs, labels, loss, t_end, engine="fp", taus=taus)
    spiking = stats.spike_counts if net.readout == "spiking" else stats.spike_counts[:-1]
    return all(c.sum() > 0 for c in spiking) and np.abs(flatten(net, grads)).max() > 0 and (
        not taus or np.abs(group(grads, "tau_syn")).max() > 0 and np.abs(group(grads, "tau_mem")).max() > 0)


def group(grads, name: str) -> np.ndarray:
    """One parameter group's gradients (or FD mask), all layers, flat."""
    return np.concatenate([g.ravel() for g in grads[name] if g is not None])


def engines_agree(net, inputs, labels, loss, t_end=0.08, nonzero=True, taus=False):
    """All engines agree; with ``nonzero``, the compared gradients are not all zero (no vacuous pass).
    ``taus``: the time-constant gradients are compared too, and (with ``nonzero``) each of ``tau_syn`` and
    ``tau_mem`` must be non-zero where finite differences are valid, and match them there on its own."""
    results = {e: loss_and_grad(net, inputs, labels, loss, t_end, engine=e, taus=taus)
               for e in ("fp", "fp-forward", "eventprop", "finite-diff")}
    values = {e: r[0] for e, r in results.items()}
    assert len(set(values.values())) == 1, values  # the forward pass is shared: same loss bit for bit
    ref = flatten(net, results["fp"][1])
    assert np.all(np.isfinite(ref))
    if nonzero:
        fd_mask = flatten(net, results["finite-diff"][2].fd_valid).astype(bool)
        assert fd_mask.any() and np.abs(ref).max() > 0
        assert np.abs(flatten(net, results["finite-diff"][1])[fd_mask]).max() > 0
    for e in ("fp-forward", "eventprop"):
        assert relative_error(flatten(net, results[e][1]), ref) < 1e-8, e
    fd = flatten(net, results["finite-diff"][1])
    mask = flatten(net, results["finite-diff"][2].fd_valid).astype(bool)
    for e in ("fp", "eventprop"):
        assert relative_error(flatten(net, results[e][1]), fd, mask) < 1e-5, e
    for name in ("tau_syn", "tau_mem") if taus else ():
        valid = group(results["finite-diff"][2].fd_valid, name)
        fd_tau = group(results["finite-diff"][1], name)
        if nonzero:
            assert valid.any() and np.abs(fd_tau[valid]).max() > 0, name
        for e in ("fp", "fp-forward", "eventprop"):
            assert relative_error(group(results[e][1], name), fd_tau, valid) < 1e-5, (e, name)
    return results


cases = st.fixed_dictionaries({
    "seed": st.integers(0, 10_000),
    "sizes": st.sampled_from([[3, 4, 2], [4, 6, 3], [2, 3, 3, 2]]),
    "ratio": st.sampled_from(["equal", "double", "near", "general"]),
    "recurrent": st.booleans(),
    "delay": st.booleans(),
    "per_neuron": st.booleans(),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases, which=st.integers(0, 1))
def test_spiking_readout_engines_agree(case, which):
    net, inputs, labels = random_case(readout="spiking", **case)
    assume(exercised(net, inputs, labels, SPIKING_LOSSES[which]))
    engines_agree(net, inputs, labels, SPIKING_LOSSES[which])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases, which=st.integers(0, 1))
# Two hidden spikes 1.6e-8 s apart swap order within the stencil of a threshold (recurrent, no delay): the
# loss has a kink there that the causal signature missed while it held position counts only (FD off by 2e-5).
@example(case={"seed": 3060, "sizes": [4, 6, 3], "ratio": "double", "recurrent": True, "delay": False,
               "per_neuron": True}, which=1)
def test_leaky_readout_engines_agree(case, which):
    net, inputs, labels = random_case(readout="leaky-integrator", **case)
    assume(exercised(net, inputs, labels, LEAKY_LOSSES[which]))
    engines_agree(net, inputs, labels, LEAKY_LOSSES[which])



@pytest.mark.parametrize("seed, t_end", [(1, 0.08), (6, 0.025)])
@pytest.mark.parametrize("which", [0, 1])
def test_leaky_readout_exact_engines_agree(seed, t_end, which):
    """The leaky readout without finite differences: while the property test above was a non-strict xfail, a broken
    leaky path passed it (mutation testing: every mutant of fp_reverse._reverse_leaky survived). Both draws
    have recurrent, delayed, per-neuron time constants and a maximum that sits on an arrival (a kink); in the
    short one, delayed hidden spikes reach the readout after t_end."""
    from toolchain.lif.forward import forward

    net, inputs, labels = random_case(seed, [4, 6, 3], "general", True, "leaky-integrator", True, per_neuron=True)
    loss = LEAKY_LOSSES[which]
    fwds = [forward(net, s, t_end) for s in inputs]
    assert any(np.any(f.readout.kink >= 0) for f in fwds)
    late = sum(int(np.sum(f.arrivals(net, 1)[0] >= t_end)) for f in fwds)
    assert (late > 0) == (t_end < 0.08), late
    results = {e: loss_and_grad(net, inputs, labels, loss, t_end, engine=e) for e in ("fp", "fp-forward", "eventprop")}
    assert len({r[0] for r in results.values()}) == 1
    ref = flatten(net, results["fp"][1])
    for name in ("weights", "recurrent", "threshold"):
        assert all(g is None or np.abs(g).max() > 0 for g in results["fp"][1][name]), name
    for e in ("fp-forward", "eventprop"):
        assert relative_error(flatten(net, results[e][1]), ref) < 1e-8, e


def exact_time_constant_gradients_agree(net, inputs, labels, loss, t_end):
    """FP (both modes) and EventProp agree on every group, the time constants included, and every neuron's
    dL/dtau_syn and dL/dtau_mem is non-zero (no vacuous pass). Exact engines only: fast enough for mutation
    testing, unlike the finite-difference tests."""
    results = {e: loss_and_grad(net, inputs, labels, loss, t_end, engine=e, taus=True)
               for e in ("fp", "fp-forward", "eventprop")}
    assert len({r[0] for r in results.values()}) == 1
    for name in ("tau_syn", "tau_mem"):
        ref = group(results["fp"][1], name)
        assert np.all(ref != 0.0), name
        for e in ("fp-forward", "eventprop"):
            assert relative_error(group(results[e][1], name), ref) < 1e-8, (e, name)
    ref = flatten(net, results["fp"][1])
    for e in ("fp-forward", "eventprop"):
        assert relative_error(flatten(net, results[e][1]), ref) < 1e-8, e


@pytest.mark.parametrize("seed", [0, 3])
def test_time_constant_gradients_over_a_long_quiet_end(seed):
    """EventProp integrates the time-constant integrands by Gauss-Legendre pieces of at most half the shorter
    time constant. Here the input stops by 10 ms (one event at exactly t = 0) and the integrated-voltage loss keeps
    the readout's adjoint non-zero up to t_end = 0.1 s: one quiet segment over about 15 time constants (mutation
    testing: fewer pieces, and a forward state started at 1 s instead of 0, survived the other tests)."""
    net, inputs, labels = random_case(seed, [4, 6, 2], "general", False, "leaky-integrator", True, per_neuron=True)
    inputs = [(np.concatenate([[0.0], t * 0.25]), np.concatenate([[c[0]], c])) for t, c in inputs]
    assert max(t.max() for t, _ in inputs) < 0.01
    exact_time_constant_gradients_agree(net, inputs, labels, LEAKY_LOSSES[1], 0.1)


@pytest.mark.parametrize("t_end", [0.08, 0.025])
@pytest.mark.parametrize("which", [0, 1])
def test_leaky_readout_time_constant_gradients_exact_engines_agree(t_end, which):
    """Learned time constants on a 2-output leaky readout. EventProp records an event-free segment per neuron
    and event; with the integrated-voltage loss (a source on every segment) nearly all are recorded, and with two
    outputs a buffer one event short overflows (mutation testing: it survived; with three outputs it would just
    fit). Recurrent, delayed, per-neuron taus; at
    0.08 s the readout's maximum sits on an arrival, at 0.025 s a delayed hidden spike arrives after t_end."""
    from toolchain.lif.forward import forward

    net, inputs, labels = random_case(1, [4, 6, 2], "general", True, "leaky-integrator", True, per_neuron=True)
    fwds = [forward(net, s, t_end) for s in inputs]
    assert any(np.any(f.readout.kink >= 0) for f in fwds) == (t_end == 0.08)
    assert (sum(int(np.sum(f.arrivals(net, 1)[0] >= t_end)) for f in fwds) > 0) == (t_end < 0.08)
    exact_time_constant_gradients_agree(net, inputs, labels, LEAKY_LOSSES[which], t_end)


def test_time_constant_gradients_with_a_spike_count_loss_exact_engines_agree():
    """Learned time constants with the spike-count loss on a recurrent hidden layer with delays: every hidden
    neuron's adjoint stays non-zero up to its last spike, so EventProp records nearly every segment, delayed
    recurrent arrivals included (mutation testing: a buffer without rows for the recurrent arrivals survived
    the first-spike loss of the chip-grid test; here it overflows)."""
    net, inputs, labels = random_case(13, [4, 6, 3], "general", True, "spiking", True, per_neuron=True)
    counts = loss_and_grad(net, inputs, labels, SPIKING_LOSSES[1], 0.08)[2].spike_counts
    assert np.all(counts[0].sum(axis=0) >= 2)  # every hidden neuron fires, several times
    exact_time_constant_gradients_agree(net, inputs, labels, SPIKING_LOSSES[1], 0.08)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases, which=st.integers(0, 1))
def test_time_constant_gradients_agree_spiking_readout(case, which):
    """Learned time constants: dL/dtau_syn and dL/dtau_mem per neuron, FP (both modes) vs EventProp vs finite
    differences, on firing networks with non-zero tau gradients."""
    net, inputs, labels = random_case(readout="spiking", **case)
    assume(exercised(net, inputs, labels, SPIKING_LOSSES[which], taus=True))
    engines_agree(net, inputs, labels, SPIKING_LOSSES[which], taus=True)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("which", [0, 1])
def test_time_constant_gradients_agree_leaky_readout(seed, which):
    """The same on a leaky-integrator readout (max- and integrated-voltage CE), per-neuron taus, recurrent
    hidden layer on even seeds, delays; fixed draws that fire."""
    net, inputs, labels = random_case(seed, [4, 6, 3], "general", seed % 2 == 0, "leaky-integrator", True,
                                      per_neuron=True)
    assert exercised(net, inputs, labels, LEAKY_LOSSES[which], taus=True)
    engines_agree(net, inputs, labels, LEAKY_LOSSES[which], taus=True)


@pytest.mark.parametrize("ratio", ["equal", "near", "double"])
def test_time_constant_gradients_at_special_ratios(ratio):
    """tau_mem = tau_syn (h = s e^{-a s}: the rate derivatives' limit), nearly equal (their series branch) and
    tau_mem = 2 tau_syn (the closed-form crossing), multi-spike recurrent hidden layer."""
    net, inputs, labels = random_case(3, [4, 6, 3], ratio, True, "spiking", True)
    assert exercised(net, inputs, labels, SPIKING_LOSSES[0], taus=True)
    results = engines_agree(net, inputs, labels, SPIKING_LOSSES[0], taus=True)
    assert results["fp"][2].spike_counts[0].max() >= 2


def test_default_gradients_have_no_time_constant_groups():
    """Time-constant gradients are opt-in: the default result keeps its groups (and values) unchanged."""
    net, inputs, labels = random_case(7, [4, 6, 3], "general", True, "spiking", True)
    plain = loss_and_grad(net, inputs, labels, SPIKING_LOSSES[0], 0.08)[1]
    with_taus = loss_and_grad(net, inputs, labels, SPIKING_LOSSES[0], 0.08, taus=True)[1]
    assert set(plain) == {"weights", "recurrent", "threshold"} and set(with_taus) == set(plain) | {"tau_syn", "tau_mem"}
    for name in plain:
        for a, b in zip(plain[name], with_taus[name], strict=True):
            assert (a is None and b is None) or np.array_equal(a, b)
    with pytest.raises(InputError, match="hm2bp has no time-constant"):
        loss_and_grad(net, inputs, labels, SpikeCountCE(), 0.08, engine="hm2bp", taus=True)


def test_multi_spike_recurrent_case_is_really_exercised():
    """Guard against vacuous agreement: the standard case has multi-spike neurons, recurrent input and
    a non-zero gradient in every parameter group."""
    net, inputs, labels = random_case(7, [4, 6, 3], "general", True, "spiking", True)
    results = engines_agree(net, inputs, labels, SPIKING_LOSSES[0])
    _, grads, stats = results["fp"]
    assert stats.spike_counts[0].max() >= 2 and stats.spike_counts[1].max() >= 2
    for name in ("weights", "recurrent", "threshold"):
        assert any(g is not None and np.abs(g).max() > 0 for g in grads[name]), name
    assert flatten(net, stats.fd_valid if stats.fd_valid else results["finite-diff"][2].fd_valid).mean() > 0.5


def test_spike_count_without_time_weight_has_zero_gradient_everywhere():
    net, inputs, labels = random_case(3, [4, 6, 3], "general", False, "spiking", False)
    results = engines_agree(net, inputs, labels, SpikeCountCE(), nonzero=False)
    assert np.all(flatten(net, results["fp"][1]) == 0.0)


def test_api_rejects_bad_requests():
    net, inputs, labels = random_case(1, [3, 4, 2], "double", False, "spiking", False)
    with pytest.raises(InputError, match="unknown engine"):
        loss_and_grad(net, inputs, labels, FirstSpikeCE(), 0.05, engine="bptt")
    with pytest.raises(InputError, match="leaky-integrator"):
        loss_and_grad(net, inputs, labels, MaxVoltageCE(), 0.05)
    with pytest.raises(InputError, match="labels"):
        loss_and_grad(net, inputs, labels[:1], FirstSpikeCE(), 0.05)
    with pytest.raises(InputError, match="t_end"):
        loss_and_grad(net, inputs, labels, FirstSpikeCE(), -1.0)
    with pytest.raises(InputError, match="channels"):
        loss_and_grad(net, [([0.01], [7])], [0], FirstSpikeCE(), 0.05)


@pytest.mark.parametrize("taus", [False, True])
@pytest.mark.parametrize("dash_syn, dash_mem", [(2, 3), (3, 5), (4, 4)])
def test_engines_agree_on_the_chip_grid(dash_syn, dash_mem, taus):
    """Time constants from tau(dash) = -dt / ln(1 - 2^-dash) (dt = 1 ms, general ratios, and equal taus),
    one dt of delay on every hop after the first and on recurrent connections, as the trainer uses; with
    ``taus`` the time-constant gradients at those grid points (what chip-grid tau learning steps with)."""
    dt = 1e-3
    tau_syn, tau_mem = (-dt / np.log(1 - 2.0 ** -d) for d in (dash_syn, dash_mem))
    rng = np.random.default_rng(dash_syn * 10 + dash_mem)
    sizes = [4, 6, 3]
    net = Network.random(sizes, seed=dash_mem, tau_syn=tau_syn, tau_mem=tau_mem, weight_mean=[0.6, 0.3],
                         weight_std=[0.5, 0.3], recurrent_std=0.2, delays=[0.0, dt], recurrent_delays=dt, dt=dt)
    inputs = [(np.round(rng.uniform(0, 0.03, 14), 3), rng.integers(0, 4, 14)) for _ in range(2)]  # on the dt grid
    results = engines_agree(net, inputs, [0, 2], SPIKING_LOSSES[0], t_end=0.06, taus=taus)
    assert results["fp"][2].spike_counts[0].sum() > 0


def test_exact_engines_agree_on_a_benchmark_sized_network():
    """16-64-10, 0.3 s of 20 Hz input, hundreds of spikes: no finite differences (too slow), exact engines only."""
    rng = np.random.default_rng(0)
    net = Network.random([16, 64, 10], seed=0, tau_syn=5e-3, tau_mem=20e-3, weight_mean=[0.15, 0.05],
                         weight_std=[0.3, 0.1], delays=[0.0, 1e-3])
    n = rng.poisson(16 * 20 * 0.3)
    inputs = [(rng.uniform(0, 0.3, n), rng.integers(0, 16, n))]
    loss = SpikeCountCE(tau_count=0.1, gain=0.1)
    ref = {e: loss_and_grad(net, inputs, [3], loss, 0.3, engine=e) for e in ("fp", "eventprop", "fp-forward")}
    assert ref["fp"][2].spike_counts[0].sum() > 200
    g = flatten(net, ref["fp"][1])
    for e in ("eventprop", "fp-forward"):
        assert relative_error(flatten(net, ref[e][1]), g) < 1e-8, e



def test_eventprop_with_tau_mem_equal_to_tau_syn_on_some_neurons():
    """Per-neuron time constants where a neuron's tau_mem equals its own tau_syn and the previous neuron's
    tau_mem, but its tau_syn differs from the previous one's (hidden neurons 0-1 and readout neurons 0-1):
    EventProp's memo of exponentials, keyed by (dt, tau_s, tau_m), must not be reused across them (mutation
    testing: the memo keyed by tau_m twice, ``memo[2] == tau_s``, survived every test). Exact engines only."""
    net, inputs, labels = random_case(2, [3, 4, 2], "general", True, "spiking", False)
    net.tau_syn[0][:], net.tau_mem[0][:] = [5e-3, 1e-2, 5e-3, 1e-2], [1e-2, 1e-2, 1e-2, 2e-2]
    net.tau_syn[1][:], net.tau_mem[1][:] = [5e-3, 1e-2], [1e-2, 1e-2]
    results = {e: loss_and_grad(net, inputs, labels, SPIKING_LOSSES[0], 0.08, engine=e)
               for e in ("fp", "fp-forward", "eventprop")}
    assert all(np.all(c.sum(axis=0) > 0) for c in results["fp"][2].spike_counts)  # every neuron fires
    ref = flatten(net, results["fp"][1])
    assert all(np.abs(g).max() > 0 for name in ("weights", "threshold") for g in results["fp"][1][name])
    for e in ("fp-forward", "eventprop"):
        assert relative_error(flatten(net, results[e][1]), ref) < 1e-8, e


def tie_case(seed: int = 3):
    """A 3-4-2 network with recurrent weights (delay 0) in which hidden neuron 1 crosses threshold *exactly*
    when the recurrent spike of neuron 0 arrives: neurons 0 and 1 are twins (same input weights, threshold
    and recurrent inputs), so their first spikes are bit-equal, and 0 excites 1 (1 does not excite 0)."""
    rng = np.random.default_rng(seed)
    net = Network.random([3, 4, 2], seed=seed, tau_syn=5e-3, tau_mem=1e-2, weight_mean=[1.2, 0.8],
                         weight_std=[0.3, 0.3], recurrent_std=0.2, delays=[0.0, 1e-3], recurrent_delays=0.0)
    W, R = net.weights[0], net.recurrent[0]
    W[:, 1] = W[:, 0]
    net.threshold[0][1] = net.threshold[0][0]
    R[:, 1] = R[:, 0]
    np.fill_diagonal(R, 0.0)
    R[1, 0], R[0, 1] = 0.0, 0.6
    times = np.sort(rng.uniform(0.0, 0.02, 12))
    return net, (times, rng.integers(0, 3, 12))


def test_a_crossing_exactly_at_an_arrival_on_every_engine():
    """Strict causality at ties (forward.py: an arrival at exactly the crossing time acts after the spike).
    Raising neuron 0's threshold delays its spike, so its arrival stays after neuron 1's crossing: the exact
    dL/dtheta_0 is the one-sided derivative from above (Richardson-extrapolated differences). The other side
    differs by about 1 %, and an engine that lets the tying arrival cause the crossing is off by about 67 %."""
    from toolchain.lif.forward import forward

    net, sample = tie_case()
    hidden = forward(net, sample, 0.08).layers[0]
    t0, t1 = (hidden.times[hidden.neurons == n][0] for n in (0, 1))
    assert t0 == t1, "the tie must be exact"
    loss = SPIKING_LOSSES[0]

    def value(theta0: float) -> float:
        probe = net.copy()
        probe.threshold[0][0] = theta0
        return loss_and_grad(probe, [sample], [1], loss, 0.08)[0]

    theta = float(net.threshold[0][0])
    base = value(theta)

    def one_sided(h: float) -> float:
        slope = [(value(theta + step) - base) / step for step in (h, h / 2)]
        return 2 * slope[1] - slope[0]

    above, below = one_sided(1e-6 * theta), one_sided(-1e-6 * theta)
    assert abs(above - below) > 1e-3 * abs(above)  # the tie is a kink: the side matters
    for engine in ("fp", "fp-forward", "eventprop"):
        g = loss_and_grad(net, [sample], [1], loss, 0.08, engine=engine)[1]["threshold"][0][0]
        assert abs(g - above) < 1e-5 * abs(above), (engine, g, above, below)


def test_causal_signature_sees_two_spikes_swap():
    """Moving hidden neuron 3's threshold by 2.5e-6 (relative) swaps two of sample 1's hidden spikes, 1.6e-8 s
    apart, without changing any count or arrival interleaving: the signature must change (it did not when it
    held positions only), and stay put for a move that keeps the order."""
    from toolchain.grad.finite_diff import causal_signature, same_signature
    from toolchain.lif.forward import forward

    net, inputs, _ = random_case(3060, [4, 6, 3], "double", True, "leaky-integrator", False, per_neuron=True)

    def signature_and_order(rel: float):
        probe = net.copy()
        probe.threshold[0][3] *= 1.0 + rel
        f = forward(probe, inputs[1], 0.08)
        return causal_signature(probe, f), f.layers[0].neurons, f.spike_counts(probe)

    sig0, order0, counts0 = signature_and_order(0.0)
    sig_small, _, _ = signature_and_order(-1e-7)
    sig_swap, order_swap, counts_swap = signature_and_order(-2.5e-6)
    assert same_signature(counts0, counts_swap) and not np.array_equal(order0, order_swap)  # a swap, nothing else
    assert same_signature(sig0, sig_small)
    assert not same_signature(sig0, sig_swap)
