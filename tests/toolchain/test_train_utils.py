"""The trainer's machinery: optimiser, schedules, clipping, chip grid, checkpoints, metrics, progress."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from rich.console import Console

from hw_models.chips import tau_from_dash
from hw_models.config import ChipConfig
from hw_models.errors import ConfigError, InputError
from hw_models.simulator import simulate
from toolchain.data import yinyang
from toolchain.data.spikes import snap_times as data_snap_times
from toolchain.train import (
    Adam,
    Checkpoint,
    CheckpointError,
    HyperparameterError,
    LRSchedule,
    MetricsLog,
    TrainingProgress,
    clip_global_norm,
    load_checkpoint,
    minibatches,
    read_metrics,
    require_same_settings,
    rng_from_state,
    rng_state,
    save_checkpoint,
)
from toolchain.train import checkpoint as ckpt_module
from toolchain.train.grid import (
    check_layer_plan,
    chip_delays,
    dash_for_tau,
    on_grid,
    project,
    quantize_weights,
    shared_scales,
    snap_times,
    tau_on_grid,
    threshold_on_grid,
    voltage_unit,
)


def quadratic_grads(params, targets):
    """Gradient of 0.5 * sum (p - target)**2."""
    return {k: params[k] - targets[k] for k in params}


def random_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W_in": rng.normal(size=(5, 7)), "W_out": rng.normal(size=(7, 3)), "theta": rng.normal(size=7)}


# -- Adam ------------------------------------------------------------------------------------------------

def test_adam_first_step_moves_each_parameter_by_lr_times_sign():
    params = {"w": np.array([1.0, -2.0, 3.0])}
    grads = {"w": np.array([0.5, -4.0, 1e-3])}
    new = Adam(lr=0.01).step(params, grads)
    # after one step m_hat = g and v_hat = g**2, so the update is lr * g / (|g| + eps)
    expected = params["w"] - 0.01 * grads["w"] / (np.abs(grads["w"]) + 1e-8)
    assert np.allclose(new["w"], expected, rtol=0, atol=1e-15)
    assert params["w"].tolist() == [1.0, -2.0, 3.0]  # inputs untouched


def test_adam_matches_a_direct_transcription_and_converges():
    targets = random_params(1)
    params = random_params(2)
    opt = Adam(lr=0.05)
    m = {k: np.zeros_like(a) for k, a in params.items()}
    v = {k: np.zeros_like(a) for k, a in params.items()}
    expected = {k: a.copy() for k, a in params.items()}
    for t in range(1, 401):
        grads = quadratic_grads(params, targets)
        params = opt.step(params, grads)
        for k in expected:
            g = expected[k] - targets[k]
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            expected[k] = expected[k] - 0.05 * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)
    assert all(np.allclose(params[k], expected[k], rtol=1e-12, atol=1e-12) for k in params)
    assert max(np.max(np.abs(params[k] - targets[k])) for k in params) < 0.05


def test_adam_state_save_restore_continues_bit_for_bit(tmp_path):
    targets = random_params(3)
    rng_a = np.random.default_rng(11)

    def run(params, opt, rng, steps):
        for _ in range(steps):
            exact = quadratic_grads(params, targets)
            grads = {k: g + 0.1 * rng.normal(size=g.shape) for k, g in exact.items()}
            params = opt.step(params, grads, lr=0.01)
        return params

    straight = run(random_params(4), Adam(), rng_a, 20)

    rng_b = np.random.default_rng(11)
    opt = Adam()
    half = run(random_params(4), opt, rng_b, 8)
    save_checkpoint(tmp_path / "c.ckpt", Checkpoint(8, half, opt.state_dict(), rng_state(rng_b)))
    loaded = load_checkpoint(tmp_path / "c.ckpt")
    resumed = run(loaded.params, Adam.from_state_dict(loaded.optimizer), rng_from_state(loaded.rng_state), 12)
    assert all(straight[k].tobytes() == resumed[k].tobytes() for k in straight)


def test_adam_refuses_bad_gradients_and_hyperparameters():
    opt = Adam()
    params = {"w": np.zeros(3)}
    with pytest.raises(InputError, match=r"missing \['w'\]"):
        opt.step(params, {"v": np.zeros(3)})
    with pytest.raises(InputError, match=r"shape \(2,\)"):
        opt.step(params, {"w": np.zeros(2)})
    with pytest.raises(InputError, match=r"gradient of 'w'\[1\] is nan"):
        opt.step(params, {"w": np.array([0.0, np.nan, 0.0])})
    assert opt.t == 0  # nothing was applied
    with pytest.raises(HyperparameterError) as info:
        Adam(lr=-1.0, beta1=1.0)
    assert [v.field for v in info.value.violations] == ["lr", "beta1"]


# -- schedules and clipping ------------------------------------------------------------------------------

def test_lr_schedules():
    assert [LRSchedule("constant", 0.1)(e) for e in (0, 5)] == [0.1, 0.1]
    step = LRSchedule("step", 0.005, gamma=0.95, step_size=20)
    assert [step(e) for e in (0, 19, 20, 45)] == [0.005, 0.005, 0.005 * 0.95, 0.005 * 0.95**2]
    assert LRSchedule("exponential", 1.0, gamma=0.5)(3) == 0.125
    with pytest.raises(HyperparameterError) as info:
        LRSchedule("cosine", 0.0, gamma=2.0, step_size=0)
    assert [v.field for v in info.value.violations] == ["schedule", "lr", "gamma", "step_size"]
    assert "one of constant, step, exponential" in str(info.value)


def test_clip_global_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    clipped, norm = clip_global_norm(grads, 1.0)
    assert norm == 5.0 and np.allclose(clipped["a"], [0.6, 0.0]) and np.allclose(clipped["b"], [[0.8]])
    same, norm = clip_global_norm(grads, 10.0)
    assert norm == 5.0 and np.array_equal(same["a"], grads["a"])
    unclipped, _ = clip_global_norm(grads, None)
    assert np.array_equal(unclipped["b"], grads["b"])
    with pytest.raises(InputError, match="gradient of 'b' is not finite"):
        clip_global_norm({"a": np.ones(2), "b": np.array([np.inf])}, 1.0)
    huge, norm = clip_global_norm({"a": np.array([1e200, -1e200])}, 1.0)  # no overflow in the norm
    assert norm == pytest.approx(np.sqrt(2) * 1e200) and np.allclose(huge["a"], [2**-0.5, -(2**-0.5)])
    with pytest.raises(HyperparameterError, match="max_grad_norm"):
        clip_global_norm(grads, 0.0)


# -- chip grid -------------------------------------------------------------------------------------------

def test_quantize_weights_uses_the_int8_range_and_round_trips():
    W = np.random.default_rng(5).normal(size=(16, 40))
    q, s = quantize_weights(W)
    assert q.dtype == np.int64 and np.max(np.abs(q)) == 127 and np.max(np.abs(q)) <= 127
    assert np.max(np.abs(q * s - W)) <= s / 2 + 1e-15
    q2, s2 = quantize_weights(q * s)
    assert np.array_equal(q2, q) and np.isclose(s2, s, rtol=1e-15)
    assert np.array_equal(quantize_weights(q * s, scale=s)[0], q)
    q_zero, s_zero = quantize_weights(np.zeros((2, 2)))
    assert s_zero == 1.0 and not q_zero.any()
    with pytest.raises(InputError, match="8-bit weights reach \\+-127"):
        quantize_weights(W, scale=s / 2)
    with pytest.raises(InputError, match="too small to give a scale"):
        quantize_weights(np.array([5e-324, 0.0]))
    with pytest.raises(InputError, match="use a larger scale"):
        quantize_weights(np.array([1e308]), scale=1e-300)
    with pytest.raises(InputError, match=r"W\[0, 1\] is nan"):
        quantize_weights(np.array([[0.0, np.nan]]))


@settings(max_examples=80, deadline=None)
@given(arrays(np.float64, array_shapes(max_dims=2, max_side=12),
              elements=st.floats(-1e6, 1e6, allow_subnormal=False)))  # subnormal peaks: the underflow test
def test_quantization_property(W):
    q, s = quantize_weights(W)
    assert np.all(np.abs(q) <= 127) and s > 0
    assert np.all(np.abs(q * s - W) <= s / 2 * (1 + 1e-12) + 1e-300)
    if np.any(W != 0):
        assert np.max(np.abs(q)) == 127


def test_projection_is_straight_through_and_training_on_the_grid_works():
    """Least squares with weights on the int8 grid: forward at the projection, update the latent."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(200, 6))
    W_true = rng.normal(size=(6, 2))
    Y = X @ W_true
    params = {"W": np.zeros((6, 2)), "b": np.zeros(2)}
    opt = Adam(lr=0.01)
    for _ in range(1500):
        forward = project(params, ["W"])
        assert np.array_equal(forward["b"], params["b"])
        err = X @ forward["W"] + forward["b"] - Y
        grads = {"W": X.T @ err / len(X), "b": err.mean(0)}  # gradient at the projection
        params = opt.step(params, grads)
    q, s = quantize_weights(project(params, ["W"])["W"])
    assert np.max(np.abs(q * s - W_true)) < 2 * s  # within two grid steps of the optimum
    with pytest.raises(InputError, match="no parameters named"):
        project(params, ["W_rec"])
    q, s = quantize_weights(np.array([[0.5, -1.0]]))
    assert q.tolist() == [[64, -127]] and s == 1 / 127
    assert np.array_equal(on_grid(np.array([[0.5, -1.0]])), q * s)


def test_shared_scales_differ_by_powers_of_two_and_hold_every_matrix():
    rng = np.random.default_rng(8)
    w_in, w_rec, zero = rng.normal(size=(5, 8)), 0.07 * rng.normal(size=(8, 8)), np.zeros((8, 8))
    scales = shared_scales([w_in, w_rec, zero])
    assert scales[1] == np.max(np.abs(w_rec)) / 127  # the finest matrix uses the full range
    ratio = scales[0] / scales[1]
    assert ratio == 2.0 ** round(np.log2(ratio)) and ratio > 1 and scales[2] == scales[1]
    q_in, _ = quantize_weights(w_in, scale=scales[0])
    assert 64 <= np.max(np.abs(q_in)) <= 127  # at least half the int8 range
    forward = project({"W_in": w_in, "W_rec": w_rec}, ["W_in", "W_rec"],
                      scales={"W_in": scales[0], "W_rec": scales[1]})
    assert np.array_equal(forward["W_in"], q_in * scales[0])
    with pytest.raises(InputError, match="weight shift spans"):
        shared_scales([np.ones(2), np.full(2, 1e6)])
    assert shared_scales([zero]) == [1.0]


def test_threshold_on_the_voltage_grid():
    unit = voltage_unit(0.02, 0.001)
    assert unit == pytest.approx(2e-5)
    ints, values = threshold_on_grid(np.array([0.5, 0.0301]), unit)
    assert ints.tolist() == [25000, 1505] and np.allclose(values, ints * unit)
    with pytest.raises(InputError, match="raise the weights or lower the threshold"):
        threshold_on_grid(np.array([1.0]), unit)  # 50000 units > 32767
    with pytest.raises(InputError, match="must be positive"):
        threshold_on_grid(np.array([-0.1]), unit)
    with pytest.raises(InputError, match="voltage unit must be a positive number"):
        threshold_on_grid(np.array([1.0]), 0.0)
    with pytest.raises(InputError, match="raise the weights"):
        threshold_on_grid(np.array([1e308]), 1e-300)


def test_voltage_unit_matches_the_bit_accurate_simulator():
    """One input event of chip weight q into a neuron: the chip's v (in units u = s dt) follows the float
    model's V(t) = s q h(t) with the dash time constants, up to the O(dt / tau) kernel error (§8.3)."""
    dt, q, s = 1e-3, 100, 0.01
    config = ChipConfig.create("xylo-audio2", dt, weights_in=[[q]], weights_out=[[0]], threshold=[32767],
                               threshold_out=[32767], dash_syn=[3], dash_mem=[4])
    raster = np.zeros((60, 1), dtype=np.int64)
    raster[0, 0] = 1
    v_chip = simulate(config, raster)["Vmem"][:, 0] * voltage_unit(s, dt)
    alpha, beta = 1 / tau_from_dash(3, dt), 1 / tau_from_dash(4, dt)
    t = (np.arange(60) + 1) * dt  # state at the end of step n
    v_float = s * q * (np.exp(-alpha * t) - np.exp(-beta * t)) / (beta - alpha)
    assert abs(v_chip.max() / v_float.max() - 1) < 0.05
    assert np.max(np.abs(v_chip - v_float)) < 0.15 * v_float.max()


def test_tau_dash_table_matches_gradients_md():
    published = {1: 1.443, 2: 3.476, 3: 7.489, 4: 15.49, 5: 31.50}
    for dash, ratio in published.items():
        assert tau_from_dash(dash, 1e-3) / 1e-3 == pytest.approx(ratio, abs=0.0051)
    dt = 1e-3
    assert [dash_for_tau(tau_from_dash(d, dt), dt) for d in range(1, 16)] == list(range(1, 16))
    # nearest on a log scale: just below / above the geometric midpoint of tau(4) and tau(5)
    mid = np.sqrt(tau_from_dash(4, dt) * tau_from_dash(5, dt))
    assert dash_for_tau(mid * 0.999, dt) == 4 and dash_for_tau(mid * 1.001, dt) == 5
    assert tau_on_grid(0.02, dt) == tau_from_dash(4, dt)
    per_neuron = np.array([[0.005, 0.02], [0.03, 0.0015]])
    assert dash_for_tau(per_neuron, dt).tolist() == [[2, 4], [5, 1]]
    expected = [[tau_from_dash(d, dt) for d in row] for row in [[2, 4], [5, 1]]]
    assert np.array_equal(tau_on_grid(per_neuron, dt), expected)
    with pytest.raises(InputError, match=r"tau \[1\] must be a positive"):
        dash_for_tau(np.array([0.01, -0.01]), dt)
    with pytest.raises(InputError, match="not realisable"):
        dash_for_tau(1e-4, dt)
    with pytest.raises(InputError, match="not realisable"):
        dash_for_tau(100.0, dt)
    with pytest.raises(InputError, match="positive"):
        dash_for_tau(-1.0, dt)


def test_layer_plan_check_names_layer_size_and_limit():
    check_layer_plan([5, 120, 3], "xylo-audio2")
    check_layer_plan([16, 60, 60, 8], "xylo-audio2")  # fan-out 60 <= 64
    with pytest.raises(ConfigError) as info:
        check_layer_plan([20, 600, 500, 12], "xylo-audio2", recurrent=[True, False])
    text = str(info.value)
    assert "layer 0 (input): input channels: 20; xylo-audio2 allows 16" in text
    assert "layer 3 (readout): readout neurons: 12; xylo-audio2 allows 8" in text
    assert "hidden neurons in total: 1100; xylo-audio2 allows 1000" in text
    assert "layer 1 (hidden): fan-out of each of its 600 neurons: 1100; xylo-audio2 allows 64" in text
    assert len(info.value.violations) == 5
    with pytest.raises(ConfigError, match="neurons receiving input: 200; xylo-imu allows 128"):
        check_layer_plan([5, 200, 3], "xylo-imu")
    with pytest.raises(ConfigError, match="positive integer sizes"):
        check_layer_plan([5, 3], "xylo-audio2")


def test_delays_and_time_grid():
    assert chip_delays(3, 0.001) == [0.0, 0.001, 0.001]
    assert snap_times is data_snap_times
    assert np.allclose(snap_times(np.array([0.0104, 0.0106]), 0.001), [0.010, 0.011])


# -- checkpoints -----------------------------------------------------------------------------------------

def make_checkpoint():
    rng = np.random.default_rng(9)
    rng.normal(size=3)
    opt = Adam(lr=0.003)
    params = random_params(7)
    params = opt.step(params, quadratic_grads(params, random_params(8)))
    history = [{"epoch": 0, "loss": 0.1 + 0.2, "accuracy": 1 / 3}]
    return Checkpoint(1, params, opt.state_dict(), rng_state(rng), history,
                      {"task": "yinyang", "layers": [5, 120, 3], "seed": 0}), rng


def test_checkpoint_round_trip_is_exact(tmp_path):
    ckpt, rng = make_checkpoint()
    save_checkpoint(tmp_path / "run" / "last.ckpt", ckpt)
    back = load_checkpoint(tmp_path / "run" / "last.ckpt")
    assert back.epoch == 1 and back.history == ckpt.history and back.extra == ckpt.extra
    assert all(back.params[k].tobytes() == ckpt.params[k].tobytes() for k in ckpt.params)
    assert back.optimizer["t"] == 1 and back.optimizer["lr"] == 0.003
    assert all(np.array_equal(back.optimizer["m"][k], ckpt.optimizer["m"][k]) for k in ckpt.params)
    assert np.array_equal(rng_from_state(back.rng_state).normal(size=5), rng.normal(size=5))
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["last.ckpt"]  # no temporary files left


def test_checkpoint_refuses_tampered_truncated_foreign_and_unknown_version(tmp_path):
    ckpt, _ = make_checkpoint()
    good = ckpt_module.encode_checkpoint(ckpt)
    path = tmp_path / "c.ckpt"
    tampered = bytearray(good)
    tampered[len(good) // 2] ^= 0x01
    path.write_bytes(bytes(tampered))
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(path)
    path.write_bytes(good[:-100])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(path)
    path.write_bytes(good[:10])
    with pytest.raises(CheckpointError, match="not a Spikeline checkpoint"):
        load_checkpoint(path)
    np.savez(tmp_path / "foreign.npz", w=np.ones(3))
    with pytest.raises(CheckpointError, match="not a Spikeline checkpoint"):
        load_checkpoint(tmp_path / "foreign.npz")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.ckpt")
    future = good[:-32].replace(b"spikeline.checkpoint/1", b"spikeline.checkpoint/9")
    path.write_bytes(future + ckpt_module.hashlib.sha256(future).digest())
    with pytest.raises(CheckpointError, match="has format 'spikeline.checkpoint/9'"):
        load_checkpoint(path)


def test_failed_save_leaves_the_previous_checkpoint(tmp_path):
    ckpt, _ = make_checkpoint()
    path = save_checkpoint(tmp_path / "c.ckpt", ckpt)
    before = path.read_bytes()
    bad = Checkpoint(2, {"w": np.array([object()], dtype=object)}, {}, {})
    with pytest.raises(CheckpointError, match="object arrays"):
        save_checkpoint(path, bad)
    assert path.read_bytes() == before


# -- metrics and progress --------------------------------------------------------------------------------

def test_metrics_log_appends_restores_and_refuses_nan(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"epoch": 0, "loss": np.float32(0.5), "acc": np.float64(0.25), "counts": np.array([1, 2])})
    log.append({"epoch": 1, "loss": 0.4})
    assert read_metrics(log.path) == [{"epoch": 0, "loss": 0.5, "acc": 0.25, "counts": [1, 2]},
                                      {"epoch": 1, "loss": 0.4}]
    with pytest.raises(InputError, match="metric val.loss is nan"):
        log.append({"epoch": 2, "val": {"loss": float("nan")}})
    assert len(log.read()) == 2
    log.restore([{"epoch": 0, "loss": 0.5}])
    assert log.path.read_text() == '{"epoch":0,"loss":0.5}\n'
    json.loads(log.path.read_text())
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n')
    with pytest.raises(InputError, match="bad.jsonl:2: not a JSON line"):
        read_metrics(tmp_path / "bad.jsonl")


def test_progress_bar_reports_epoch_loss_accuracy_and_spikes():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=120)
    with TrainingProgress(n_epochs=2, console=console) as bar:
        bar.start_epoch(0, n_batches=2)
        bar.advance(loss=0.6, accuracy=0.5, spikes_per_sample=2.0, batch_size=10)
        bar.advance(loss=0.2, accuracy=1.0, spikes_per_sample=6.0, batch_size=30)
        assert bar.running() == pytest.approx({"loss": 0.3, "accuracy": 0.875, "spikes": 5.0})
        bar.end_epoch({"val_accuracy": 0.8125})
    text = out.getvalue()
    assert "epoch 1/2  loss 0.3000  acc 87.5%  spikes/sample 5.0  val_accuracy 0.8125" in text
    quiet = io.StringIO()
    with TrainingProgress(1, Console(file=quiet), disable=True) as bar:
        bar.start_epoch(0, 1)
        bar.advance(1.0, 0.0, 1.0)
        bar.end_epoch()
    assert quiet.getvalue() == ""


# -- batching, workers, resume -----------------------------------------------------------------------------

def test_minibatches_cover_every_sample_once_and_are_seeded():
    batches = minibatches(10, 4, np.random.default_rng(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    again = minibatches(10, 4, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    in_order = minibatches(5, 2, np.random.default_rng(0), shuffle=False)
    assert np.array_equal(np.concatenate(in_order), np.arange(5))
    with pytest.raises(HyperparameterError, match="batch_size: must be a whole number >= 1, got 0"):
        minibatches(10, 0, np.random.default_rng(0))


def softmax_regression_run(out, epochs, interrupt_at=None, resume=False):
    """A small training loop built only from toolchain.train pieces (softmax regression on Yin-Yang)."""
    x, y = yinyang.generate(300, seed=42)
    settings = {"task": "yinyang-300", "epochs": epochs, "batch_size": 32, "lr": 0.05, "seed": 3}
    schedule = LRSchedule("step", 0.05, gamma=0.5, step_size=2)
    log, path = MetricsLog(out / "m.jsonl"), out / "c.ckpt"
    if resume:
        ckpt = load_checkpoint(path)
        require_same_settings(ckpt.extra, settings)
        params, opt, rng = ckpt.params, Adam.from_state_dict(ckpt.optimizer), rng_from_state(ckpt.rng_state)
        start = ckpt.epoch
        log.restore(ckpt.history)
    else:
        rng = np.random.default_rng(settings["seed"])
        params, opt, start = {"W": rng.normal(scale=0.1, size=(4, 3)), "b": np.zeros(3)}, Adam(lr=0.05), 0
    for epoch in range(start, epochs):
        losses = []
        for k, idx in enumerate(minibatches(len(y), settings["batch_size"], rng)):
            if interrupt_at == (epoch, k):
                raise KeyboardInterrupt
            logits = x[idx] @ params["W"] + params["b"]
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            losses.append(-np.mean(np.log(p[np.arange(len(idx)), y[idx]])))
            p[np.arange(len(idx)), y[idx]] -= 1
            grads, _ = clip_global_norm({"W": x[idx].T @ p / len(idx), "b": p.mean(0)}, max_norm=1.0)
            params = opt.step(params, grads, lr=schedule(epoch))
        log.append({"epoch": epoch, "loss": float(np.mean(losses)), "lr": schedule(epoch)})
        if interrupt_at == (epoch, "before checkpoint"):
            raise KeyboardInterrupt
        state = Checkpoint(epoch + 1, params, opt.state_dict(), rng_state(rng), log.read(), settings)
        save_checkpoint(path, state)
    return params, (out / "m.jsonl").read_text()


@pytest.mark.parametrize("interrupt_at, lines_left", [((3, 4), 3), ((2, "before checkpoint"), 3)])
def test_interrupted_then_resumed_run_equals_the_uninterrupted_run(tmp_path, interrupt_at, lines_left):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight, metrics = softmax_regression_run(tmp_path / "a", epochs=5)
    with pytest.raises(KeyboardInterrupt):
        softmax_regression_run(tmp_path / "b", epochs=5, interrupt_at=interrupt_at)
    assert len(read_metrics(tmp_path / "b" / "m.jsonl")) == lines_left
    resumed, resumed_metrics = softmax_regression_run(tmp_path / "b", epochs=5, resume=True)
    assert all(straight[k].tobytes() == resumed[k].tobytes() for k in straight)
    assert resumed_metrics == metrics
    losses = [r["loss"] for r in read_metrics(tmp_path / "a" / "m.jsonl")]
    assert losses[-1] < losses[0]
    with pytest.raises(CheckpointError, match="epochs: 5 in the checkpoint, 6 now"):
        softmax_regression_run(tmp_path / "b", epochs=6, resume=True)
