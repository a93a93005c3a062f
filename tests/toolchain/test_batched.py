"""The batched engine (toolchain/grad/batched.py) against the per-sample reference path.

Same losses, decisions, spike counts and gradients (to 1e-11 relative) on random networks, recurrent ones
included, for every loss it compiles; the same result bit for bit with one or two threads; networks that
spike and gradients that are not zero (non-vacuous).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hw_models.errors import InputError
from tests.toolchain.test_grad_engines import random_case
from toolchain.decode import decide
from toolchain.grad import batch_kernels, batched
from toolchain.grad.api import loss_and_grad, sample_loss
from toolchain.grad.params import flatten
from toolchain.lif.forward import as_sample, forward
from toolchain.losses import (
    CountMSE,
    FirstSpikeCE,
    IntegratedVoltageCE,
    Loss,
    MaxVoltageCE,
    SpikeCountCE,
    _softmax_ce,
)
from toolchain.train.coding import CodedVoltageCE, output_code

SPIKING = {"first-spike": FirstSpikeCE(tau0=2e-3, tau1=0.2), "spike-count": SpikeCountCE(tau_count=0.02, gain=0.3)}
LEAKY = {"max-voltage": MaxVoltageCE(gain=1.0), "integrated-voltage": IntegratedVoltageCE(gain=1.0)}


def coded(observable: str, n_out: int, normalize: bool) -> CodedVoltageCE:
    """A coded voltage loss on ``n_out`` readouts with more classes than readouts when possible."""
    n_classes = 2 * (n_out - 1) if n_out in (2, 4) else n_out
    return CodedVoltageCE(output_code(n_classes, n_out) if n_classes > n_out else np.eye(n_out), observable,
                          gain=1.5, normalize=normalize)


def compare(net, inputs, labels, loss: Loss, rule: str, code=None, t_end=0.08, engine="fp"):
    """Batched vs per-sample: per-sample loss, decision, spike counts bit for bit or to 1e-12; gradients to 1e-11 of
    the largest entry (the compiled twins order their floating-point operations differently: the worst draw seen,
    seed 9650 of a 3-4-2 recurrent network, differed by 1.6e-12 of the largest entry, on that entry), plus 1e-14:
    a loss derivative such as softmax - onehot is a difference of O(1) numbers, so its round-off is absolute
    (about 1e-16), which shows where the gradient nearly vanishes (seed 4096 below: 2.6e-16 on a largest entry of
    3e-6)."""
    result = batched.run_batch(net, inputs, labels, loss, t_end, rule, code, engine=engine)
    ref_loss, ref_grads, stats = loss_and_grad(net, inputs, labels, loss, t_end, engine=engine)
    for k, (sample, label) in enumerate(zip(inputs, labels, strict=True)):
        fwd = forward(net, as_sample(sample, net.layer_sizes[0]), t_end)
        assert result.losses[k] == pytest.approx(sample_loss(net, fwd, label, loss).value, rel=1e-12, abs=1e-14)
        assert result.decisions[k] == decide(rule, fwd, net.layer_sizes[-1], code)
    for mine, ref in zip(result.spike_counts, stats.spike_counts, strict=True):
        assert np.array_equal(mine, ref)
    mean = {name: [None if g is None else g / len(inputs) for g in arrays] for name, arrays in result.grads.items()}
    got, want = flatten(net, mean), flatten(net, ref_grads)
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-11 * scale + 1e-14, (np.abs(got - want).max(), scale)
    return result, want


cases = st.fixed_dictionaries({
    "seed": st.integers(0, 10_000),
    "sizes": st.sampled_from([[3, 4, 2], [4, 6, 3], [2, 3, 3, 2], [4, 5, 4]]),
    "ratio": st.sampled_from(["equal", "double", "near", "general"]),
    "recurrent": st.booleans(),
    "delay": st.booleans(),
    "per_neuron": st.booleans(),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases, rule=st.sampled_from(sorted(SPIKING)))
def test_batched_equals_per_sample_on_spiking_readouts(case, rule):
    net, inputs, labels = random_case(readout="spiking", **case)
    compare(net, inputs, labels, SPIKING[rule], rule)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases, rule=st.sampled_from(sorted(LEAKY)), kind=st.sampled_from(["plain", "coded", "normalized"]))
@example(case={"seed": 4096, "sizes": [3, 4, 2], "ratio": "equal", "recurrent": True, "delay": False,
               "per_neuron": False}, rule="max-voltage", kind="normalized")
def test_batched_equals_per_sample_on_leaky_readouts(case, rule, kind):
    net, inputs, labels = random_case(readout="leaky-integrator", **case)
    if kind == "plain":
        compare(net, inputs, labels, LEAKY[rule], rule)
        return
    loss = coded("max" if rule == "max-voltage" else "integrated", net.layer_sizes[-1], kind == "normalized")
    labels = [int(y) % loss.code.shape[0] for y in labels]
    code = loss.code if loss.code.shape[0] > net.layer_sizes[-1] else None
    compare(net, inputs, labels, loss, rule, code)


COUNT = CountMSE(desired=4.0, undesired=0.0, margin=0.0)
COUNT_CE = SpikeCountCE(gain=0.5)  # plain counts: dE/do = gain (softmax - onehot), what HM2-BP back-propagates
#: the same with the hidden penalty past one spike per trial (the random cases' hidden neurons fire several)
PENALISED = [CountMSE(desired=4.0, undesired=0.0, margin=0.0, hidden_penalty=0.3, hidden_ceiling=1.0),
             SpikeCountCE(gain=0.5, hidden_penalty=0.3, hidden_ceiling=1.0)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases)
def test_batched_hm2bp_equals_the_per_sample_hm2bp(case):
    """HM2-BP in the batched engine: the same layer_gradient as the per-sample path, after the same forward pass."""
    net, inputs, labels = random_case(readout="spiking", **{**case, "recurrent": False})
    for loss in [COUNT, COUNT_CE, *PENALISED]:
        compare(net, inputs, labels, loss, "spike-count", engine="hm2bp")


def test_batched_hm2bp_cases_spike_and_have_gradients_on_any_number_of_threads():
    """Non-vacuous: two hidden layers and the readout fire (several spikes per neuron), some neurons stay silent
    (HM2-BP's silent-neuron rules run), every weight and threshold group has a gradient, and 1 or 2 threads give
    the same bits."""
    net, _, _ = random_case(3, [4, 8, 6, 3], "general", False, "spiking", True)
    inputs, labels = many_samples(3, 4, 12), [k % 3 for k in range(12)]
    result, want = compare(net, inputs, labels, COUNT, "spike-count", engine="hm2bp")
    assert all(c.max() >= 2 and (c == 0).any() for c in result.spike_counts)
    for name in ("weights", "threshold"):
        assert all(np.abs(g).max() > 0 for g in result.grads[name]), name
    two = batched.run_batch(net, inputs, labels, COUNT, 0.08, "spike-count", engine="hm2bp", workers=2)
    assert np.array_equal(flatten(net, two.grads), flatten(net, result.grads))
    by_ce, _ = compare(net, inputs, labels, COUNT_CE, "spike-count", engine="hm2bp")
    assert all(np.abs(g).max() > 0 for g in by_ce.grads["weights"])
    assert not batched.supports(net, SpikeCountCE(tau_count=0.01), "hm2bp")  # time-weighted: no dE/do
    assert not batched.supports(random_case(3, [4, 6, 3], "general", True, "spiking", True)[0], COUNT, "hm2bp")
    assert not batched.supports(net, SPIKING["first-spike"], "hm2bp")
    for loss, plain in zip(PENALISED, [COUNT, COUNT_CE], strict=True):
        penalised, _ = compare(net, inputs, labels, loss, "spike-count", engine="hm2bp")
        unpenalised = batched.run_batch(net, inputs, labels, plain, 0.08, "spike-count", engine="hm2bp")
        excess = [np.maximum(c - 1.0, 0.0) for c in result.spike_counts[:-1]]  # the two hidden layers
        assert all(e.sum() > 0 for e in excess) and np.mean(sum(e.sum(axis=1) for e in excess) > 0) > 0.5
        direct = sum(0.15 * np.sum(e**2, axis=1) for e in excess)
        assert np.allclose(penalised.losses - unpenalised.losses, direct, rtol=1e-12)
        for layer in range(3):  # the penalty reaches every layer below the hidden ones, and not the readout's
            same = np.array_equal(penalised.grads["weights"][layer], unpenalised.grads["weights"][layer])
            assert same == (layer == 2), layer
        with pytest.raises(InputError, match="back-propagated by engine hm2bp only"):
            batched.run_batch(net, inputs, labels, loss, 0.08, "spike-count", engine="fp")
        evaluated = batched.run_batch(net, inputs, labels, loss, 0.08, "spike-count", grad=False)  # no gradient
        assert np.array_equal(evaluated.losses, penalised.losses)
    for plain in (COUNT, COUNT_CE):  # the readout penalty: only the readout's own term, every layer's gradient
        loss = dataclasses.replace(plain, readout_penalty=0.3, readout_ceiling=1.0)
        penalised, _ = compare(net, inputs, labels, loss, "spike-count", engine="hm2bp")
        unpenalised = batched.run_batch(net, inputs, labels, plain, 0.08, "spike-count", engine="hm2bp")
        excess = np.maximum(result.spike_counts[-1] - 1.0, 0.0)
        assert np.mean(excess.sum(axis=1) > 0) > 0.5
        assert np.allclose(penalised.losses - unpenalised.losses, 0.15 * np.sum(excess**2, axis=1), rtol=1e-12)
        assert all(not np.array_equal(penalised.grads["weights"][k], unpenalised.grads["weights"][k])
                   for k in range(3))


def test_the_compared_cases_spike_and_have_gradients():
    """Guard against vacuous agreement: multi-spike recurrent layers, non-zero gradients in every group."""
    net, inputs, labels = random_case(7, [4, 6, 3], "general", True, "spiking", True)
    result, want = compare(net, inputs, labels, SPIKING["first-spike"], "first-spike")
    assert result.spike_counts[0].max() >= 2 and result.spike_counts[1].max() >= 1
    for name in ("weights", "recurrent", "threshold"):
        assert any(g is not None and np.abs(g).max() > 0 for g in result.grads[name]), name
    net, inputs, labels = random_case(11, [4, 6, 3], "general", True, "leaky-integrator", True)
    result, want = compare(net, inputs, labels, LEAKY["integrated-voltage"], "integrated-voltage")
    assert result.spike_counts[0].sum() > 0 and np.count_nonzero(want) > want.size // 2


def many_samples(seed: int, n_inputs: int, count: int):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(2 * n_inputs, 5 * n_inputs))
        out.append((rng.uniform(0.0, 0.04, n), rng.integers(0, n_inputs, n)))
    return out


@pytest.mark.parametrize("readout", ["spiking", "leaky-integrator"])
def test_threads_do_not_change_the_result(readout):
    """1, 2 and 3 threads give the same losses, decisions, counts and gradients bit for bit."""
    net, _, _ = random_case(5, [4, 8, 3], "general", True, readout, True)
    inputs = many_samples(5, 4, 24)
    labels = [k % 3 for k in range(24)]
    loss, rule = (SPIKING["first-spike"], "first-spike") if readout == "spiking" else (
        LEAKY["integrated-voltage"], "integrated-voltage")
    runs = [batched.run_batch(net, inputs, labels, loss, 0.08, rule, workers=w) for w in (1, 2, 3)]
    assert runs[0].spike_counts[0].sum() > 0 and np.abs(runs[0].grads["weights"][0]).max() > 0
    for other in runs[1:]:
        assert np.array_equal(other.losses, runs[0].losses)
        assert np.array_equal(other.decisions, runs[0].decisions)
        for name, arrays in runs[0].grads.items():
            for g, h in zip(arrays, other.grads[name], strict=True):
                assert (g is None and h is None) or np.array_equal(g, h), name


def test_threshold_factors_match_the_jittered_per_sample_path():
    """Per-sample threshold factors: thresholds scaled, threshold gradient taken back through the factor."""
    net, inputs, labels = random_case(9, [4, 6, 3], "general", False, "spiking", False)
    rng = np.random.default_rng(0)
    factors = [[np.exp(0.1 * rng.standard_normal(th.shape)) for th in net.threshold] for _ in inputs]
    loss = SPIKING["first-spike"]
    result = batched.run_batch(net, inputs, labels, loss, 0.08, "first-spike", threshold_factors=factors)
    want_w, want_th = [np.zeros_like(w) for w in net.weights], [np.zeros_like(th) for th in net.threshold]
    for k, (sample, label) in enumerate(zip(inputs, labels, strict=True)):
        scaled = net.copy()
        scaled.threshold = [th * f for th, f in zip(net.threshold, factors[k], strict=True)]
        ref_loss, ref_grads, _ = loss_and_grad(scaled, [sample], [label], loss, 0.08)
        assert result.losses[k] == pytest.approx(ref_loss, rel=1e-12)
        for layer in range(net.n_layers):
            want_w[layer] += ref_grads["weights"][layer]
            want_th[layer] += ref_grads["threshold"][layer] * factors[k][layer]
    for got, want in [*zip(result.grads["weights"], want_w, strict=True),
                      *zip(result.grads["threshold"], want_th, strict=True)]:
        assert np.abs(want).max() > 0
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_compiled_softmax_matches_its_reference():
    rng = np.random.default_rng(1)
    for _ in range(20):
        logits = rng.normal(0, 5, 6)
        label = int(rng.integers(6))
        v, g = batch_kernels.softmax_ce(logits, label)
        rv, rg = _softmax_ce(logits, label)
        assert v == pytest.approx(rv, rel=1e-14) and np.allclose(g, rg, rtol=1e-14, atol=1e-16)


def test_bad_requests_are_refused():
    net, inputs, labels = random_case(3, [4, 6, 3], "general", False, "spiking", False)

    class Custom(Loss):
        def __call__(self, out, label, n_out, t_end):
            raise AssertionError

    assert not batched.supports(net, Custom())
    assert batched.supports(net, SPIKING["first-spike"]) and not batched.supports(net, LEAKY["max-voltage"])
    with pytest.raises(InputError, match="no kernel"):
        batched.run_batch(net, inputs, labels, Custom(), 0.08, "first-spike")
    with pytest.raises(InputError, match="not a class index"):
        batched.run_batch(net, inputs, [0, 7], SPIKING["first-spike"], 0.08, "first-spike")
    with pytest.raises(InputError, match="rule"):
        batched.run_batch(net, inputs, labels, SPIKING["first-spike"], 0.08, "loudest")
    with pytest.raises(InputError, match="fired more than"):
        batched.run_batch(net, inputs, labels, SPIKING["first-spike"], 0.08, "first-spike", max_spikes=1)
    with pytest.raises(InputError, match="tau1"):
        loss_and_grad(net, inputs, labels, FirstSpikeCE(tau1=1e-6), 0.08)  # the reference refuses it too
    with pytest.raises(InputError, match="tau1"):
        batched.run_batch(net, inputs, labels, FirstSpikeCE(tau1=1e-6), 0.08, "first-spike")
