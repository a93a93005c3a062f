"""Learned time constants in the trainer (``learn_tau``): off by default, latent dashes with a straight-through
step on the chip grid, the chain rule through ``tau(dash)``, and per-neuron dashes in the compiled configuration.
The gradients themselves are checked against EventProp and finite differences in test_grad_engines.py."""

from __future__ import annotations

import numpy as np
import pytest

from hw_models.chips import tau_from_dash
from tests.toolchain.test_trainer import SMALL as TRAINER_SMALL
from toolchain.compile import compile_network
from toolchain.data.inputs import task_inputs
from toolchain.grad.api import sample_loss
from toolchain.lif.forward import forward
from toolchain.train import HyperparameterError
from toolchain.train.grid import dash_for_tau
from toolchain.train.trainer import (
    TrainConfig,
    _latent_grads,
    build_network,
    constrain,
    initial_parameters,
    layer_sizes,
    load_config_task,
    make_loss,
    sample_step,
    tau_dash_slope,
    tau_of_dash,
    train,
    uses_batched,
    weight_units,
)

SMALL = {**TRAINER_SMALL, "train_subset": 32, "val_subset": 10}  # the trainer tests' 5-24-3 run, shorter


def setup(**overrides):
    config = TrainConfig(**{**SMALL, **overrides})
    task = load_config_task(config)
    sizes = layer_sizes(config, task)
    params = constrain(config, initial_parameters(config, sizes))
    x, y = task_inputs(config, task, "train", 8)
    return config, sizes, params, x, y, make_loss(config, None, task.n_classes)


def latent_grad(config, sizes, params, x, y, loss):
    """The trainer's latent gradient of the summed loss over the samples (per-sample path)."""
    net = build_network(config, sizes, params)
    static = (loss, config.t_end, config.engine, config.decision_rule, None)
    total = None
    for s, label in zip(x, y, strict=True):
        g = _latent_grads(sample_step(net, s, None, int(label), static, taus=config.learn_tau)[1],
                          weight_units(config), params, config)
        total = g if total is None else {k: total[k] + g[k] for k in g}
    return total


def total_loss(config, sizes, params, x, y, loss):
    net = build_network(config, sizes, params)
    return sum(sample_loss(net, forward(net, s, config.t_end), int(label), loss).value
               for s, label in zip(x, y, strict=True))


def test_learned_tau_is_off_by_default():
    config, sizes, params, *_ = setup()
    assert config.learn_tau is False and not any(k.startswith(("dsyn", "dmem")) for k in params)
    net = build_network(config, sizes, params)
    assert np.all(net.tau_syn[0] == tau_from_dash(3, config.dt))
    assert np.all(net.tau_mem[1] == tau_from_dash(5, config.dt))
    assert uses_batched(net, make_loss(config, None, 3)) and not uses_batched(net, make_loss(config, None, 3),
                                                                               learn_tau=True)


def test_tau_of_dash_and_its_slope():
    d = np.array([1.0, 2.0, 4.0, 7.5, 15.0])
    assert np.allclose(tau_of_dash(d[[0, 1, 2, 4]], 1e-3), [tau_from_dash(int(k), 1e-3) for k in d[[0, 1, 2, 4]]],
                       rtol=1e-15)
    e = 1e-6
    fd = (tau_of_dash(d + e, 1e-3) - tau_of_dash(d - e, 1e-3)) / (2 * e)
    assert np.allclose(tau_dash_slope(d, 1e-3), fd, rtol=1e-7)


def test_float_mode_dash_gradient_matches_finite_differences():
    """Float mode: tau = tau(dash) continuous, so the latent gradient is the plain chain rule; central differences
    of the trainer's own loss through build_network agree on the entries that carry gradient."""
    config, sizes, params, x, y, loss = setup(mode="float", learn_tau=True)
    grads = latent_grad(config, sizes, params, x, y, loss)
    checked = 0
    for name in ("dsyn0", "dmem0", "dsyn1", "dmem1"):
        g = grads[name]
        assert g.shape == params[name].shape
        for i in np.argsort(-np.abs(g))[:3]:
            values = []
            for step in (1e-5, 2e-5):
                probe = {k: v.copy() for k, v in params.items()}
                probe[name][i] += step
                up = total_loss(config, sizes, probe, x, y, loss)
                probe[name][i] -= 2 * step
                values.append((up - total_loss(config, sizes, probe, x, y, loss)) / (2 * step))
            fd = (4 * values[0] - values[1]) / 3
            if abs(values[0] - values[1]) < 1e-3 * abs(fd):  # no spike appeared or vanished within the steps
                assert g[i] == pytest.approx(fd, rel=1e-5), (name, i)
                checked += 1
    assert checked >= 8 and all(np.abs(grads[n]).max() > 0 for n in ("dsyn0", "dmem0", "dsyn1", "dmem1"))


def test_grid_mode_is_straight_through_on_whole_dashes():
    """Grid mode runs tau(round(dash)) and hands dL/dtau tau'(round(dash)) tau_lr_scale to the latent dash."""
    config, sizes, params, x, y, loss = setup(learn_tau=True, tau_lr_scale=4.0)
    params["dsyn0"] = np.linspace(2.6, 4.4, 24) / 4.0
    net = build_network(config, sizes, params)
    dashes = np.rint(np.linspace(2.6, 4.4, 24))
    assert np.allclose(net.tau_syn[0], [tau_from_dash(int(d), config.dt) for d in dashes], rtol=1e-15)
    assert np.array_equal(dash_for_tau(net.tau_syn[0], config.dt), dashes)
    grads = latent_grad(config, sizes, params, x[:1], y[:1], loss)
    run = build_network(config, sizes, params)
    engine = sample_step(run, x[0], None, int(y[0]), (loss, config.t_end, "fp", config.decision_rule, None), taus=True)
    want = engine[1]["tau_syn"][0] * tau_dash_slope(dashes, config.dt) * 4.0
    assert np.array_equal(grads["dsyn0"], want) and np.abs(want).max() > 0


def test_dashes_stay_on_the_chip_range():
    config, _, params, *_ = setup(learn_tau=True)
    params["dmem1"] = np.array([-3.0, 0.5, 40.0]) / config.tau_lr_scale
    out = constrain(config, params)["dmem1"] * config.tau_lr_scale
    assert np.allclose(out, [1.0, 1.0, 15.0])


def test_a_learned_tau_run_moves_dashes_and_compiles_them_per_neuron(tmp_path):
    """A short grid run with a large tau_lr_scale: dashes move apart per neuron, the saved network holds
    realisable per-neuron time constants, and the compiler writes exactly those dashes."""
    config = TrainConfig(**SMALL, epochs=1, learn_tau=True, tau_lr_scale=100.0)
    result = train(config, tmp_path, evaluate_test=False)
    net = result.network
    assert result.summary["parallel"] == "serial"  # the per-sample path
    syn = dash_for_tau(net.tau_syn[0], config.dt)
    mem = dash_for_tau(net.tau_mem[0], config.dt)
    assert len(set(syn.tolist()) | set(mem.tolist())) > 2  # moved off the initial 3 / 5, not uniformly
    assert np.allclose(net.tau_syn[0], [tau_from_dash(int(d), config.dt) for d in syn], rtol=1e-14)
    assert net.metadata["learn_tau"] and net.metadata["learned_dash_syn"][0] == syn.tolist()
    chip_config, _ = compile_network(net, "xylo-audio2", check_health=False)
    assert np.array_equal(np.asarray(chip_config.dash_syn)[:24], syn)
    assert np.array_equal(np.asarray(chip_config.dash_mem)[:24], mem)
    assert np.array_equal(np.asarray(chip_config.dash_mem_out), dash_for_tau(net.tau_mem[1], config.dt))


def test_tau_layers_limits_learning_to_some_layers():
    """tau_layers=[0]: the hidden layer learns, the readout keeps its configured dashes and gets no latent."""
    config, sizes, params, x, y, loss = setup(learn_tau=True, tau_layers=[0], tau_lr_scale=4.0)
    assert {"dsyn0", "dmem0"} <= set(params) and not {"dsyn1", "dmem1"} & set(params)
    params["dmem0"] = np.full(24, 6.2 / 4.0)
    net = build_network(config, sizes, params)
    assert np.all(net.tau_mem[0] == tau_from_dash(6, config.dt))
    assert np.all(net.tau_mem[1] == tau_from_dash(5, config.dt))
    grads = latent_grad(config, sizes, params, x[:2], y[:2], loss)
    assert set(grads) == set(params) and np.abs(grads["dmem0"]).max() > 0
    with pytest.raises(HyperparameterError, match="tau_layers"):
        TrainConfig(**{**SMALL, "learn_tau": True, "tau_layers": [2]}).validate()


def test_learn_tau_settings_are_checked():
    with pytest.raises(HyperparameterError, match="learn_tau"):
        TrainConfig(**{**SMALL, "learn_tau": "yes"}).validate()
    with pytest.raises(HyperparameterError, match="tau_lr_scale"):
        TrainConfig(**{**SMALL, "learn_tau": True, "tau_lr_scale": 0.0}).validate()
