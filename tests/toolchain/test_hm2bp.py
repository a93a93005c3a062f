"""HM2-BP engine (toolchain/grad/hm2bp.py): the S-PSP and the count identity against the simulated spike
times, the predicted change of output counts against measured ones, and a two-hidden-layer network that learns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hw_models.errors import InputError
from toolchain.grad import hm2bp, loss_and_grad
from toolchain.lif.forward import forward
from toolchain.lif.kernels import psp, psp_integral
from toolchain.losses import CountMSE, FirstSpikeCE, LossValue
from toolchain.network import Network

T_END = 0.1


def _network(seed: int) -> Network:
    """20 -> 30 -> 10 with excitatory and inhibitory weights, a hop delay, several spikes per neuron."""
    return Network.random([20, 30, 10], seed=seed, tau_syn=4e-3, tau_mem=16e-3, weight_mean=[0.08, 0.10],
                          weight_std=[0.1, 0.1], delays=[0.0, 5e-4])


def _sample(seed: int, n_in: int = 20, rate: float = 100.0):
    rng = np.random.default_rng([seed, 7])
    n = rng.poisson(rate * T_END * n_in)
    return rng.uniform(0, T_END, n), rng.integers(0, n_in, n)


def _direct_spsp(net: Network, fwd, layer: int) -> np.ndarray:
    """e[j, i] = sum_f sum_{g in F_j, g < t_f} h_i(t_f - g), one pair at a time."""
    arr_t, arr_src, _ = fwd.arrivals(net, layer)
    sp = fwd.layers[layer]
    e = np.zeros(net.weights[layer].shape)
    a, b = 1.0 / net.tau_syn[layer], 1.0 / net.tau_mem[layer]
    for t, i in zip(sp.times, sp.neurons, strict=True):
        for g, j in zip(arr_t, arr_src, strict=True):
            if g < t:
                e[j, i] += psp(t - g, a[i], b[i])
    return e


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spsp_equals_direct_evaluation(seed):
    net = _network(seed)
    fwd = forward(net, _sample(seed), T_END)
    for layer in range(net.n_layers):
        terms = hm2bp.layer_terms(net, fwd, layer)
        direct = _direct_spsp(net, fwd, layer)
        assert np.max(np.abs(terms.spsp - direct)) <= 1e-12 * max(1.0, np.max(np.abs(direct)))
        assert np.mean(terms.counts >= 2) > 0.5  # multi-spike neurons: the case the identity is about


@pytest.mark.parametrize("seed", range(5))
def test_count_identity_subtractive_reset(seed):
    """theta_i (o_i + R_i) = sum_j W[j, i] e[j, i] on every layer (Theorem 1 at the firing times)."""
    net = _network(seed)
    fwd = forward(net, _sample(seed), T_END)
    for layer in range(net.n_layers):
        t = hm2bp.layer_terms(net, fwd, layer)
        lhs = net.threshold[layer] * (t.counts + t.resets)
        rhs = np.sum(net.weights[layer] * t.spsp, axis=0)
        assert np.max(t.counts) >= 5 and np.all(t.resets[t.counts >= 2] > 0)
        assert np.max(np.abs(lhs - rhs)) <= 1e-10 * max(1.0, np.max(np.abs(lhs)))


#: asserted agreement of predicted and measured count changes (see docs/gradients.md, HM2-BP)
MIN_CORRELATION = 0.8
SLOPE_RANGE = (0.5, 2.0)


def test_predicted_count_changes_match_measured():
    """Perturb one hop's weights by 30 % of their spread (counts change by about one spike); the first-order
    prediction sum(dO_c/dW * dW) of HM2-BP must correlate with the measured change of every output count and
    be calibrated (least-squares slope of measured on predicted near 1), for the output hop and the hidden
    hop (which needs the back-propagated micro term)."""
    pairs = {0: ([], []), 1: ([], [])}
    for seed in range(6):
        rng = np.random.default_rng([seed, 11])
        net = _network(seed)
        sample = _sample(seed)
        fwd = forward(net, sample, T_END)
        before = fwd.layers[-1].counts(10)
        jac = [hm2bp.gradients(net, fwd, LossValue(0.0, d_counts=np.eye(10)[c])) for c in range(10)]
        for hop in range(2):
            for _ in range(10):
                dw = rng.normal(0, 0.3 * np.std(net.weights[hop]), net.weights[hop].shape)
                weights = [w.copy() for w in net.weights]
                weights[hop] += dw
                after = forward(dataclasses.replace(net, weights=weights), sample, T_END).layers[-1].counts(10)
                for c in range(10):
                    pairs[hop][0].append(np.sum(jac[c]["weights"][hop] * dw))
                    pairs[hop][1].append(after[c] - before[c])
    for hop, (predicted, measured) in pairs.items():
        predicted, measured = np.array(predicted), np.array(measured, dtype=float)
        assert np.mean(np.abs(measured)) > 0.5  # the perturbations do change counts
        corr = np.corrcoef(predicted, measured)[0, 1]
        slope = np.dot(predicted, measured) / np.dot(predicted, predicted)
        assert corr > MIN_CORRELATION, (hop, corr)
        assert SLOPE_RANGE[0] < slope < SLOPE_RANGE[1], (hop, slope)


def test_count_loss_and_engine_errors():
    net = _network(0)
    sample = _sample(0)
    loss = CountMSE(desired=30.0, undesired=2.0, margin=3.0)
    value, grads, stats = loss_and_grad(net, [sample], [3], loss, T_END, engine="hm2bp")
    counts = forward(net, sample, T_END).layers[-1].counts(10)
    err = counts - np.where(np.arange(10) == 3, 30.0, 2.0)
    err[np.abs(err) <= 3] = 0
    assert value == pytest.approx(0.5 * np.sum(err**2))
    assert np.any(grads["weights"][0] != 0) and np.any(grads["threshold"][1] != 0)
    # the exact engines see a piecewise-constant loss: zero gradient
    _, exact, _ = loss_and_grad(net, [sample], [3], loss, T_END, engine="fp")
    assert all(np.all(g == 0) for g in exact["weights"])
    with pytest.raises(InputError, match="count"):
        loss_and_grad(net, [sample], [3], FirstSpikeCE(), T_END, engine="hm2bp")
    with pytest.raises(InputError, match="desired"):
        CountMSE(desired=1.0, undesired=2.0)


def test_silent_terms_equal_direct_evaluation_with_per_neuron_time_constants():
    """ybar[j, i] = sum_{g in F_j} H_i(t_end - g) / t_end for silent i: the kernel reuses H across neurons with
    equal time constants, so draw runs of equal and changing (tau_syn, tau_mem) among the silent neurons."""
    base = _network(1)
    n_hidden = base.weights[0].shape[1]
    tau_syn = np.repeat([4e-3, 4e-3, 6e-3, 4e-3, 3e-3, 3e-3], 5)
    tau_mem = np.repeat([16e-3, 12e-3, 12e-3, 16e-3, 16e-3, 20e-3], 5)
    weights = [w.copy() for w in base.weights]
    weights[0][:, ::2] *= 0.2  # every other hidden neuron silent, across all the tau runs
    net = dataclasses.replace(base, weights=weights, tau_syn=[tau_syn, base.tau_syn[1]],
                              tau_mem=[tau_mem, base.tau_mem[1]])
    fwd = forward(net, _sample(1), T_END)
    silent = fwd.layers[0].counts(n_hidden) == 0
    assert 8 <= silent.sum() <= n_hidden - 5 and len({(tau_syn[i], tau_mem[i]) for i in np.flatnonzero(silent)}) >= 4
    arr_t, arr_src, _ = fwd.arrivals(net, 0)
    sp = fwd.layers[0]
    a, b = 1.0 / tau_syn, 1.0 / tau_mem
    spsp = np.full((20, n_hidden), 0.5)  # the kernel adds into the silent columns and leaves the others alone
    spsp[:, silent] = 0.0
    ybar = spsp.copy()
    hm2bp._silent_terms(arr_t, arr_src, sp.times, sp.neurons, a, b, silent, T_END, 0.0, ybar)
    direct = np.zeros((20, n_hidden))
    for g, j in zip(arr_t, arr_src, strict=True):
        for i in np.flatnonzero(silent):
            direct[j, i] += psp_integral(T_END - g, a[i], b[i]) / T_END
    assert np.all(ybar[:, ~silent] == 0.5) and np.max(np.abs(direct)) > 0
    assert np.max(np.abs(ybar[:, silent] - direct[:, silent])) <= 1e-12 * np.max(np.abs(direct))


def test_silent_neurons_get_a_gradient():
    """A silent readout (the label's) still gets weight gradients (time-averaged PSP), pointing up."""
    net = _network(0)
    weights = [w.copy() for w in net.weights]
    weights[1][:, 3] = -abs(weights[1][:, 3])
    net = dataclasses.replace(net, weights=weights)
    fwd = forward(net, _sample(0), T_END)
    assert fwd.layers[-1].counts(10)[3] == 0
    g = hm2bp.gradients(net, fwd, CountMSE(desired=10.0, undesired=0.0, margin=0.0)(fwd.layers[-1], 3, 10, T_END))
    assert np.all(g["weights"][1][:, 3] <= 0) and np.any(g["weights"][1][:, 3] < 0)  # descent raises them
    assert g["threshold"][1][3] > 0  # and lowers the threshold


def test_two_hidden_layers_learn(tmp_path):
    from toolchain.train.trainer import TrainConfig, train

    config = TrainConfig(task="digits", chip="xylo-audio3", mode="float", dt=1e-3, task_options={"max_count": 4},
                         hidden=[40, 30], dash_syn=[2, 2, 2], dash_mem=[3, 3, 3],
                         init_psp=[[0.05, 0.1], [0.05, 0.1], [0.0, 0.1]], loss="count-mse",
                         loss_options={"desired": 6.0, "undesired": 1.0, "margin": 1.0}, engine="hm2bp",
                         t_end=0.012, epochs=4, batch_size=16, lr=5e-3, train_subset=400, val_subset=200)
    result = train(config, tmp_path, evaluate_test=False)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.7 * losses[0]
    assert max(h["val_accuracy"] for h in result.history) > 0.3  # chance: 0.1


def test_cli_train_engine_hm2bp_resumes_bit_for_bit(tmp_path):
    """`spikeline train --engine hm2bp`: interrupted after one epoch and resumed = uninterrupted (same files)."""
    from click.testing import CliRunner

    from toolchain.cli import main as cli_main

    common = ["train", "--task", "digits", "--chip", "xylo-audio3", "--engine", "hm2bp", "--mode", "grid",
              "--hidden", "16", "--epochs", "2", "--train-subset", "48", "--workers", "1", "--quiet", "--set",
              "val_subset=16", "--set", "loss=count-mse", "--set", 'loss_options={"desired": 6, "undesired": 1}',
              "--set", "clock=false", "--set", "lr_scale=null",
              "--set", "init_psp=[[0.05, 0.1], [0.0, 0.1]]", "--set", "dt=0.001", "--set", "t_end=0.012",
              "--set", 'task_options={"max_count": 4}', "--set", "dash_syn=[2, 2]", "--set", "dash_mem=[3, 3]"]
    whole = CliRunner().invoke(cli_main, [*common, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    part = CliRunner().invoke(cli_main, [*common, "--out", str(tmp_path / "part"), "--stop-after", "1"])
    assert part.exit_code == 0, part.output
    resumed = CliRunner().invoke(cli_main, [*common, "--out", str(tmp_path / "part"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    for name in ("network.json", "metrics.jsonl"):
        assert (tmp_path / "part" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    refused = CliRunner().invoke(cli_main, [*common, "--out", str(tmp_path / "x"), "--set", "loss=first-spike"])
    assert refused.exit_code == 2 and "engine 'hm2bp' cannot train loss 'first-spike'" in refused.output


def test_gradients_page_hm2bp_example_runs():
    """The python block of docs/gradients.md's HM2-BP section runs as written."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "gradients.md").read_text(encoding="utf-8")
    section = text.split("## HM2-BP", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "gradients.md HM2-BP", "exec"), {"__name__": "__main__"})


def test_coded_counts_for_more_classes_than_readouts():
    """10 classes on 8 readouts: count-mse targets follow the code's signs; float and chip decoders agree."""
    from toolchain.decode import decide
    from toolchain.lif.forward import Forward, Spikes
    from toolchain.train.coding import output_code
    from toolchain.verify import chip_decode

    code = output_code(10, 8)
    neurons = np.repeat(np.arange(8), np.where(code[7] > 0, 5, 1))  # readouts fire as class 7's codeword says
    out = Spikes(np.linspace(0.001, 0.01, neurons.size), neurons, np.zeros(neurons.size))
    value = CountMSE(desired=5.0, undesired=1.0, margin=0.0, code=code)(out, 7, 8, 0.02)
    assert value.value == 0.0 and np.all(value.d_counts == 0)
    wrong = CountMSE(desired=5.0, undesired=1.0, margin=0.0, code=code)(out, 3, 8, 0.02)
    assert wrong.value > 0 and np.all(np.sign(wrong.d_counts) == -np.sign(code[3]) * (code[3] != code[7]))
    fwd = Forward(out, [out], None, 0.02)
    assert decide("spike-count", fwd, 8, code) == 7
    raster = np.zeros((1, 20, 8), np.int64)
    for t, n in zip(np.floor(out.times / 1e-3).astype(int), out.neurons, strict=True):
        raster[0, t, n] += 1
    assert chip_decode.decide({"Spikes_out": raster}, "spike-count", code).tolist() == [7]
    assert chip_decode.decide({"Spikes_out": np.zeros_like(raster)}, "spike-count", code).tolist() == [-1]


@pytest.mark.parametrize("term, hop", [("hidden", 0), ("readout", 1)])
def test_count_penalty_descent_lowers_the_counts(term, hop):
    """A count penalty alone (gain 0: no readout error), on samples whose neurons fire past the ceiling: one descent
    step on the weights into the penalised layer (5 % of the largest weight) lowers the penalty measured by
    simulation, the opposite step raises it, and the other hop gets no gradient from a hidden-only penalty. With the
    penalty's dE/do added with the wrong sign in hm2bp.gradients the hidden case fails (checked by hand)."""
    from toolchain.grad.api import sample_loss
    from toolchain.losses import SpikeCountCE

    net = _network(0)
    loss = SpikeCountCE(gain=0.0, **{f"{term}_penalty": 1.0, f"{term}_ceiling": 3.0 if term == "hidden" else 2.0})
    samples = [_sample(s) for s in range(4)]

    def penalty(probe: Network) -> float:
        return sum(sample_loss(probe, forward(probe, x, T_END), 0, loss).value - np.log(10) for x in samples)

    before = penalty(net)
    assert before > 10  # many neurons past the ceiling
    _, grads, _ = loss_and_grad(net, samples, [0] * 4, loss, T_END, engine="hm2bp")
    g = grads["weights"][hop]
    assert np.abs(g).max() > 0 and (term == "readout" or np.all(grads["weights"][1] == 0))
    size = 0.05 * np.abs(net.weights[hop]).max() / np.abs(g).max()
    down, up = (dataclasses.replace(net, weights=[w + sign * size * g if k == hop else w
                                                  for k, w in enumerate(net.weights)]) for sign in (-1, 1))
    assert penalty(down) < 0.9 * before < before < penalty(up)
    with pytest.raises(InputError, match="engine hm2bp only"):
        loss_and_grad(net, samples, [0] * 4, loss, T_END, engine="fp")


def test_the_trainer_refuses_a_hidden_penalty_it_cannot_back_propagate():
    from toolchain.train.errors import HyperparameterError
    from toolchain.train.trainer import TrainConfig

    ok = TrainConfig(task="digits", loss="spike-count", engine="hm2bp", loss_options={"hidden_penalty": 0.01})
    ok.validate()
    with pytest.raises(HyperparameterError, match="readout_penalty are back-propagated by engine hm2bp only"):
        dataclasses.replace(ok, engine="fp").validate()  # hidden_penalty with an exact engine
    with pytest.raises(HyperparameterError, match="hidden_ceiling must be a number >= 0"):
        dataclasses.replace(ok, loss_options={"hidden_ceiling": -1}).validate()
    with pytest.raises(HyperparameterError, match="readout_penalty are back-propagated by engine hm2bp only"):
        dataclasses.replace(ok, engine="fp", loss_options={"readout_penalty": 0.1}).validate()


def test_a_silent_readout_asked_to_fire_less_gets_no_error():
    """The count cross-entropy asks every wrong readout to fire less, a silent one too; its count cannot fall, so
    HM2-BP back-propagates nothing from it (readout_error): its weight column and threshold get no gradient, while a
    firing wrong readout and the silent label readout do. Without the rule the silent wrong readouts' weights were
    pushed down without end (the runaway of docs/benchmarks.md)."""
    from toolchain.losses import SpikeCountCE

    net = _network(0)
    weights = [w.copy() for w in net.weights]
    silent = [2, 3, 6]
    weights[1][:, silent] = -abs(weights[1][:, silent])
    net = dataclasses.replace(net, weights=weights)
    fwd = forward(net, _sample(0), T_END)
    counts = fwd.layers[-1].counts(10)
    label = 3
    assert np.all(counts[silent] == 0) and np.all(np.delete(counts, silent) > 0)
    value = SpikeCountCE(gain=0.5)(fwd.layers[-1], label, 10, T_END)
    assert np.all(value.d_counts[[2, 6]] > 0)  # the loss asks the two silent wrong readouts to fire less
    g = hm2bp.gradients(net, fwd, value)
    assert np.all(g["weights"][1][:, [2, 6]] == 0) and np.all(g["threshold"][1][[2, 6]] == 0)
    assert np.all(g["weights"][1][:, label] <= 0) and np.any(g["weights"][1][:, label] < 0)  # the label: up
    firing = [c for c in range(10) if c not in silent]
    assert np.all(np.abs(g["weights"][1][:, firing]).max(axis=0) > 0)
    assert np.array_equal(hm2bp.readout_error(value.d_counts, counts),
                          np.where((counts == 0) & (value.d_counts > 0), 0.0, value.d_counts))
