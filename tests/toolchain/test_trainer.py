"""The trainer (toolchain.train.trainer), decision rules (toolchain.decode), output codes and `spikeline train`.

Small on purpose (tiny subsets, few epochs, one core): the accuracy runs live in benchmarks/train_accuracy.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hw_models.errors import InputError
from toolchain.cli import main as cli_main
from toolchain.data import Split, Task, task_names
from toolchain.data.encoders import latency_encode
from toolchain.data.inputs import clock_ticks, task_inputs, with_clock
from toolchain.decode import NO_DECISION, decide, first_spike, integrated_voltage, max_voltage, spike_count
from toolchain.grad.api import loss_and_grad
from toolchain.lif.forward import LeakyReadout, Spikes, as_sample
from toolchain.losses import FirstSpikeCE
from toolchain.network import Network, load_network
from toolchain.train import HyperparameterError, load_checkpoint, read_metrics
from toolchain.train.coding import CodedVoltageCE, output_code
from toolchain.train.grid import quantize_weights
from toolchain.train.presets import preset_config
from toolchain.train.trainer import (
    TrainConfig,
    build_network,
    evaluate,
    initial_parameters,
    sample_step,
    threshold_jitter,
    train,
    with_threshold_factors,
)

# a small Yin-Yang run: 5-24-3, first-spike CE on a 0.5 ms grid
SMALL = dict(task="yinyang", dt=0.5e-3, hidden=[24], dash_syn=[3, 3], dash_mem=[5, 5],
             init_psp=[[0.4, 0.15], [0.15, 0.02]], loss="first-spike", loss_options={"tau0": 1e-3}, t_end=0.06,
             batch_size=16, lr=3e-3, gamma=0.97, train_subset=240, val_subset=60, seed=3)


def spikes(times, neurons):
    return Spikes(np.asarray(times, float), np.asarray(neurons, np.int64), np.zeros(len(times)))


# -- decision rules -----------------------------------------------------------------------------------
def test_first_spike_rule_earliest_wins_ties_to_lowest_index_silence_is_no_decision():
    assert first_spike(spikes([0.003, 0.004, 0.005], [2, 0, 2]), 3) == 2
    assert first_spike(spikes([0.003, 0.003], [2, 1]), 3) == 1          # tie: lowest index
    assert first_spike(spikes([], []), 3) == NO_DECISION


def test_spike_count_rule_breaks_count_ties_by_first_spike():
    out = spikes([0.001, 0.002, 0.003, 0.004], [1, 2, 2, 1])           # 1 and 2 fire twice, 1 first
    assert spike_count(out, 3) == 1
    assert spike_count(spikes([0.001, 0.002, 0.003], [0, 2, 2]), 3) == 2
    assert spike_count(spikes([], []), 3) == NO_DECISION


def test_voltage_rules_with_and_without_output_code():
    ro = LeakyReadout(vmax=np.array([0.1, 0.9, 0.3, 0.0]), tmax=np.zeros(4), kink=np.full(4, -1),
                      kink_slope=np.zeros(4), vint=np.array([3.0, -1.0, 0.5, 0.0]))
    assert max_voltage(ro) == 1 and integrated_voltage(ro) == 0
    code = np.array([[1.0, -1, 1, -1], [-1.0, 1, -1, 1], [1.0, 1, -1, -1]])
    assert max_voltage(ro, code) == int(np.argmax(code @ ro.vmax)) == 2
    assert integrated_voltage(ro, code) == int(np.argmax(code @ ro.vint)) == 0


def test_decide_refuses_unknown_rule():
    with pytest.raises(InputError, match="unknown decision rule"):
        decide("majority", None, 3)


# -- output code ----------------------------------------------------------------------------------------
def test_output_code_is_identity_when_classes_fit_and_hadamard_otherwise():
    assert np.array_equal(output_code(3, 8), np.eye(3, 8))
    code = output_code(10, 8)
    gram = code @ code.T
    off = gram[~np.eye(10, dtype=bool)]
    assert np.all(np.diag(gram) == 8) and set(np.unique(off)) <= {0.0, -8.0}   # orthogonal or opposite
    assert len({tuple(r) for r in code}) == 10
    with pytest.raises(InputError, match="cannot be coded"):
        output_code(20, 8)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("observable", ["max", "integrated"])
def test_coded_loss_gradient_matches_central_differences(observable, normalize):
    rng = np.random.default_rng(0)
    code, t_end = output_code(10, 8), 0.05
    loss = CodedVoltageCE(code, observable, gain=1.5, normalize=normalize)
    y = rng.normal(size=8)

    def value(y):
        ro = LeakyReadout(y, np.zeros(8), np.full(8, -1), np.zeros(8), y)
        return loss(ro, 7, 8, t_end)

    lv = value(y)
    grad = lv.d_vmax if observable == "max" else lv.d_vint
    eps = 1e-6
    fd = np.array([(value(y + eps * e).value - value(y - eps * e).value) / (2 * eps) for e in np.eye(8)])
    assert np.allclose(grad, fd, rtol=1e-6, atol=1e-6)
    if normalize:   # scaling every readout leaves the loss unchanged (up to eps)
        assert abs(value(3.0 * y).value - lv.value) < 1e-5


# -- training -------------------------------------------------------------------------------------------
def test_short_run_lowers_the_loss_and_beats_chance(tmp_path):
    result = train(TrainConfig(**SMALL, epochs=4), tmp_path)
    hist = result.history
    assert len(hist) == 4
    assert hist[-1]["loss"] < 0.8 * hist[0]["loss"]
    assert result.summary["val_accuracy"] >= 0.6          # chance is 1/3
    assert result.summary["test_accuracy"] >= 0.55        # 1000 unseen test samples
    assert (tmp_path / "network.json").is_file() and (tmp_path / "summary.json").is_file()


def test_resumed_run_equals_uninterrupted_run_bit_for_bit(tmp_path):
    config = TrainConfig(**{**SMALL, "train_subset": 96, "val_subset": 30}, epochs=3)
    whole = train(config, tmp_path / "whole", evaluate_test=False)
    part = tmp_path / "part"
    first = train(config, part, stop_after=1, evaluate_test=False)
    assert first.summary["epochs_done"] == 1 and len(read_metrics(part / "metrics.jsonl")) == 1
    train(config, part, resume=True, stop_after=1, evaluate_test=False)
    resumed = train(config, part, resume=True, evaluate_test=False)
    assert resumed.summary["epochs_done"] == 3
    for name in ("network.json", "metrics.jsonl"):
        assert (part / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    a, b = load_checkpoint(part / "last.ckpt"), load_checkpoint(tmp_path / "whole" / "last.ckpt")
    assert a.epoch == b.epoch == 3
    for key in a.params:
        assert np.array_equal(a.params[key], b.params[key])
    assert a.rng_state == b.rng_state and a.optimizer["t"] == b.optimizer["t"]
    assert whole.network.to_json() == resumed.network.to_json()


def test_resume_with_other_settings_is_refused(tmp_path):
    config = TrainConfig(**{**SMALL, "train_subset": 32, "val_subset": 10}, epochs=2)
    train(config, tmp_path, stop_after=1, evaluate_test=False)
    other = TrainConfig(**{**SMALL, "train_subset": 32, "val_subset": 10, "lr": 1e-2}, epochs=2)
    with pytest.raises(Exception, match="lr"):
        train(other, tmp_path, resume=True)


def test_grid_network_lies_on_the_chip_grid_and_records_what_verify_needs(tmp_path):
    config = TrainConfig(**{**SMALL, "train_subset": 32, "val_subset": 10}, epochs=1, hop_delay_steps=1.0)
    net = train(config, tmp_path, evaluate_test=False).network
    for k, W in enumerate(net.weights):
        q, s = quantize_weights(W)
        assert np.allclose(q * s, W, rtol=0, atol=1e-12 * s) and np.abs(q).max() == 127
        theta_units = net.threshold[k] / (s * config.dt)
        assert np.allclose(theta_units, np.round(theta_units)) and theta_units.min() >= 1
    assert net.dt == config.dt and net.delays == [0.0, config.dt]
    meta = net.metadata
    for key in ("task", "task_options", "t_end", "loss", "decision", "encoding", "chip", "dt", "seed", "mode",
                "hop_delay_steps"):
        assert key in meta, key
    assert meta["mode"] == "grid" and meta["decision"] == "first-spike" and meta["hop_delay_steps"] == 1.0
    assert load_network(tmp_path / "network.json").to_json() == net.to_json()


def test_compiler_accepts_the_trained_network(tmp_path):
    from toolchain.compile import compile_network

    config = TrainConfig(**{**SMALL, "train_subset": 32, "val_subset": 10}, epochs=1)
    net = train(config, tmp_path, evaluate_test=False).network
    chip_config, report = compile_network(net, "xylo-audio2", check_health=False)  # one epoch: health only reported
    assert np.asarray(chip_config.weights_in).shape[:2] == (5, 24)
    assert report.calibrated and report.health["samples"] == 200


def test_float_mode_skips_quantization(tmp_path):
    config = TrainConfig(**{**SMALL, "train_subset": 32, "val_subset": 10}, epochs=1, mode="float")
    net = train(config, tmp_path, evaluate_test=False).network
    q, s = quantize_weights(net.weights[0])
    assert not np.allclose(q * s, net.weights[0])
    assert net.metadata["mode"] == "float"


# -- threshold noise --------------------------------------------------------------------------------------
def test_threshold_jitter_is_lognormal_per_sample_and_neuron_and_off_at_zero():
    net = Network.random([4, 300, 3], seed=1, readout="leaky-integrator")
    rng = np.random.default_rng(0)
    off = threshold_jitter(TrainConfig(**SMALL, threshold_noise=0.0), net, 5, rng)
    assert off == [None] * 5 and rng.bit_generator.state == np.random.default_rng(0).bit_generator.state
    factors = threshold_jitter(TrainConfig(**SMALL, threshold_noise=0.1), net, 40, rng)
    assert len(factors) == 40 and all(f[1] is None for f in factors)          # the readout has no threshold
    logs = np.log(np.stack([f[0] for f in factors]))
    assert logs.shape == (40, 300)
    assert abs(logs.std() - 0.1) < 0.005 and abs(logs.mean()) < 0.005
    assert np.all(np.abs(logs[0] - logs[1]) > 0)                              # samples differ


def test_threshold_factors_scale_a_copy_and_the_threshold_gradient_follows_the_chain_rule():
    rng = np.random.default_rng(4)
    net = Network.random([3, 6, 2], seed=4, tau_syn=5e-3, tau_mem=10e-3, weight_mean=[0.8, 0.5],
                         weight_std=[0.5, 0.4])
    factors = [np.exp(0.1 * rng.standard_normal(6)), np.exp(0.1 * rng.standard_normal(2))]
    jittered = with_threshold_factors(net, factors)
    assert np.allclose(jittered.threshold[0], net.threshold[0] * factors[0])
    assert np.all(net.threshold[0] == 1.0) and jittered.weights[0] is net.weights[0]
    sample = (rng.uniform(0, 0.03, 12), rng.integers(0, 3, 12))
    loss = FirstSpikeCE(tau0=2e-3, tau1=0.2)
    value, grads, _, _ = sample_step(net, as_sample(sample, 3), factors, 1, (loss, 0.08, "fp", "first-spike", None))
    # oracle: central differences on the jittered network give dL/d(f theta); dL/dtheta = f dL/d(f theta)
    _, fd, stats = loss_and_grad(jittered, [sample], [1], loss, 0.08, engine="finite-diff")
    assert value > 0
    for k in range(2):
        valid = stats.fd_valid["threshold"][k]
        assert valid.any()
        assert np.allclose(grads["threshold"][k][valid], (factors[k] * fd["threshold"][k])[valid], rtol=1e-4,
                           atol=1e-7)
        assert np.allclose(grads["weights"][k], fd["weights"][k], rtol=1e-3, atol=1e-6)


def test_threshold_noise_changes_training_and_resumes_bit_for_bit(tmp_path):
    config = TrainConfig(**{**SMALL, "train_subset": 64, "val_subset": 20}, epochs=2, threshold_noise=0.1)
    whole = train(config, tmp_path / "whole", evaluate_test=False)
    part = tmp_path / "part"
    train(config, part, stop_after=1, evaluate_test=False)
    resumed = train(config, part, resume=True, evaluate_test=False)
    assert resumed.network.to_json() == whole.network.to_json()
    clean = train(TrainConfig(**{**SMALL, "train_subset": 64, "val_subset": 20}, epochs=2), tmp_path / "clean",
                  evaluate_test=False)
    assert not np.array_equal(clean.network.weights[0], whole.network.weights[0])


def test_parameter_averaging_saves_the_average_and_resumes_bit_for_bit(tmp_path):
    """``average = d``: validation and the saved network use the running average of the latent parameters,
    kept in the checkpoint, so an interrupted averaged run resumes to the same network."""
    base = {**SMALL, "train_subset": 64, "val_subset": 20}
    config = TrainConfig(**base, epochs=2, average=0.9)
    whole = train(config, tmp_path / "whole", evaluate_test=False)
    part = tmp_path / "part"
    train(config, part, stop_after=1, evaluate_test=False)
    assert "average" in load_checkpoint(part / "last.ckpt").extra
    resumed = train(config, part, resume=True, evaluate_test=False)
    assert resumed.network.to_json() == whole.network.to_json()
    raw = train(TrainConfig(**base, epochs=2), tmp_path / "raw", evaluate_test=False)
    assert not np.array_equal(raw.network.weights[0], whole.network.weights[0])
    # the average of a run with the same steps lies between the start and the raw run's end, per weight
    # (a convex combination of every step's parameters): it moved away from the start, but by less
    ckpt = load_checkpoint(tmp_path / "whole" / "last.ckpt")
    start = initial_parameters(config, [5, 24, 3])
    moved_avg = np.abs(ckpt.extra["average"]["W0"] - start["W0"]).mean()
    moved_raw = np.abs(ckpt.params["W0"] - start["W0"]).mean()
    assert 0 < moved_avg < moved_raw


def test_parameter_averaging_is_validated():
    with pytest.raises(HyperparameterError, match="average"):
        TrainConfig(**SMALL, average=1.0).validate()


def test_output_code_network_for_ten_classes_on_eight_readouts():
    config = preset_config("digits", hidden=[16])
    sizes = [8, 16, 8]
    net = build_network(config, sizes, initial_parameters(config, sizes))
    assert net.layer_sizes == [8, 16, 8] and net.readout == "leaky-integrator"


def test_clock_adds_one_spike_per_tick_on_its_own_channels():
    times, channels = with_clock((np.array([0.002, 0.0]), np.array([1, 0])), 8, 3, 0.001)
    assert times.tolist() == [0.0, 0.0, 0.001, 0.002, 0.002]
    assert channels.tolist() == [0, 8, 9, 1, 10]


def test_clock_ticks_once_per_task_frame_not_per_step():
    from toolchain.data import load_task
    config = preset_config("digits", dt=0.00025, task_options={"row_steps": 4})
    task = load_task("digits", dt=0.00025, row_steps=4)
    assert clock_ticks(config, task) == 8                      # one tick per row, not 32 ticks
    samples, _ = task_inputs(config, task, "val", limit=3)
    for sample in samples:
        assert np.allclose(sample.times[sample.neurons >= 8], np.arange(8) * 0.001)
    with pytest.raises(HyperparameterError, match="clock channels exceed"):
        task_sized = Task("t", "", 8, 2, 0.008, 0.00025, *([Split([], np.zeros(0, int), np.zeros(0))] * 3))
        clock_ticks(config, task_sized)                       # no frames: 32 per-step ticks do not fit


# -- errors -----------------------------------------------------------------------------------------------
def test_unknown_task_and_bad_hyperparameters_are_listed_together():
    with pytest.raises(HyperparameterError) as err:
        TrainConfig(task="mnist", lr=-1.0, batch_size=0, epochs=0, dash_syn=[0, 3], engine="sgd",
                    threshold_noise=-0.1).validate()
    fields = {v.field for v in err.value.violations}
    assert {"task", "lr", "batch_size", "epochs", "dash_syn[0]", "engine", "threshold_noise"} <= fields
    with pytest.raises(InputError, match="unknown task 'mnist'"):
        preset_config("mnist")
    with pytest.raises(HyperparameterError, match="unknown setting"):
        preset_config("yinyang", learning_rate=0.1)


@pytest.mark.parametrize("task", task_names())
def test_every_preset_is_a_valid_configuration(task):
    """What `spikeline train --task T` starts from validates (the image tasks on their custom chip, docs/chips.md)."""
    chip = Path(__file__).resolve().parents[2] / "examples" / "chips" / "mnist-196.json"
    overrides = {"chip": str(chip)} if task in ("mnist5k", "fashion") else {}
    preset_config(task, **overrides).validate()


def test_too_many_readouts_for_a_spiking_loss_is_refused(tmp_path):
    config = preset_config("digits", loss="first-spike", loss_options={}, hidden=[8], epochs=1, train_subset=8)
    with pytest.raises(HyperparameterError, match="one readout neuron per class"):
        train(config, tmp_path)


def _toy_task(features: np.ndarray) -> Task:
    def split(x):
        return Split(latency_encode(x, 0.005, 0.025), (x.sum(1) > 1.0).astype(np.int64), x)

    return Task("toy", "toy", n_inputs=2, n_classes=2, duration=0.03, dt=None, train=split(features),
                val=split(features), test=split(features))


def test_nan_or_wrongly_shaped_data_get_clear_errors():
    x = np.random.default_rng(0).uniform(size=(8, 2))
    bad = x.copy()
    bad[3, 1] = math.nan
    with pytest.raises(InputError, match="NaN|finite"):
        _toy_task(bad)
    config = TrainConfig(**{**SMALL, "train_subset": 8, "val_subset": 8}, epochs=1)
    sizes = [5, 24, 3]
    net = build_network(config, sizes, initial_parameters(config, sizes))
    loss = config.make_loss()
    sample = (np.array([0.01, 0.02]), np.array([0, 4]))
    with pytest.raises(InputError, match="finite"):
        evaluate(net, [(np.array([math.nan]), np.array([0]))], np.array([0]), loss, 0.06, "first-spike")
    with pytest.raises(InputError, match="one channel per spike time"):
        evaluate(net, [(np.array([0.01, 0.02]), np.array([0]))], np.array([0]), loss, 0.06, "first-spike")
    with pytest.raises(InputError, match=r"channels must lie in \[0, 4\]"):
        evaluate(net, [(np.array([0.01]), np.array([7]))], np.array([0]), loss, 0.06, "first-spike")
    with pytest.raises(InputError, match="2 samples but 1 labels"):
        evaluate(net, [sample, sample], np.array([0]), loss, 0.06, "first-spike")
    with pytest.raises(InputError, match="not a class index"):
        evaluate(net, [sample], np.array([5]), loss, 0.06, "first-spike")


def test_custom_task_must_use_the_trainers_grid(tmp_path):
    task = _toy_task(np.random.default_rng(0).uniform(size=(8, 2)))
    with pytest.raises(InputError, match="grid"):
        train(TrainConfig(task="toy", dt=1e-3, hidden=[4]), tmp_path, task=task)


# -- command line ------------------------------------------------------------------------------------------
def test_cli_train_writes_a_network_and_reports_accuracy(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--task", "yinyang", "--out", str(out), "--epochs", "1", "--train-subset", "32",
            "--hidden", "12", "--set", "val_subset=10", "--workers", "1", "--json"]
    result = CliRunner().invoke(cli_main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["ok"] and doc["epochs_done"] == 1
    net = load_network(out / "network.json")
    assert net.layer_sizes == [5, 12, 3]
    # the reported test accuracy is the saved network's, decoded here independently of the trainer
    from toolchain.data.inputs import network_inputs
    from toolchain.decode import decide
    from toolchain.lif.forward import forward

    samples, labels, _ = network_inputs(net, "test")
    t_end, rule = net.metadata["t_end"], net.metadata["decision"]
    correct = sum(decide(rule, forward(net, s, t_end), 3) == y for s, y in zip(samples, labels, strict=True))
    assert doc["test_accuracy"] == correct / len(labels)


def test_cli_train_errors_are_one_line_each_and_exit_2(tmp_path):
    result = CliRunner().invoke(cli_main, ["train", "--task", "mnist", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown task 'mnist'" in result.output
    result = CliRunner().invoke(cli_main, ["train", "--task", "yinyang", "--out", str(tmp_path), "--set", "lr=-1",
                                           "--set", "batch_size=0"])
    assert result.exit_code == 2
    assert "lr" in result.output and "batch_size" in result.output  # every bad setting at once
    result = CliRunner().invoke(cli_main, ["train", "--task", "yinyang", "--out", str(tmp_path), "--lr", "nan"])
    assert result.exit_code == 2 and "'--lr': 'nan' is not a finite number" in result.output
    result = CliRunner().invoke(cli_main, ["train", "--help"])
    assert result.exit_code == 0 and "spikeline train --task yinyang" in result.output


def test_batched_engine_trains_like_the_per_sample_path(tmp_path):
    """The trainer's batched engine (threads) and the per-sample path reach the same run up to round-off, with
    threshold noise and weight bumping on; the default picks threads, never processes."""
    config = TrainConfig(**{**SMALL, "train_subset": 64, "val_subset": 20, "threshold_noise": 0.05, "bump": 1e-3,
                            "train_thresholds": True}, epochs=2)
    fast = train(config, tmp_path / "fast", evaluate_test=False)
    slow = train(config, tmp_path / "slow", evaluate_test=False, batched_engine=False)
    assert fast.summary["parallel"] == "threads" and slow.summary["parallel"] == "serial"
    assert fast.history[-1]["spikes_per_sample"] > 0 and fast.history[-1]["grad_norm_mean"] > 0
    for a, b in zip(fast.history, slow.history, strict=True):
        for key in ("loss", "accuracy", "val_accuracy", "spikes_per_sample", "grad_norm_mean"):
            assert a[key] == pytest.approx(b[key], rel=1e-9), key
    for w, v in zip(fast.network.weights, slow.network.weights, strict=True):
        np.testing.assert_allclose(w, v, rtol=1e-9, atol=1e-9 * np.abs(v).max())
