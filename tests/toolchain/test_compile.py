"""Compiler: fits and misfits, relays for fan-out, the unit mapping, and xylosim agreement."""

from __future__ import annotations

import numpy as np
import pytest

from deploy.backends.xylosim import XylosimBackend
from hw_models.chips import custom_chip, register
from hw_models.rules import check
from hw_models.simulator import simulate
from toolchain.compile import CompileError, compile_network
from toolchain.compile.units import threshold_to_float, weights_to_float
from toolchain.network import Network


def net(sizes, seed=0, **kw):
    kw.setdefault("dt", 1e-3)
    return Network.random(sizes, seed=seed, tau_syn=5e-3, tau_mem=10e-3,
                          weight_mean=[0.4] * (len(sizes) - 1), weight_std=[0.6] * (len(sizes) - 1), **kw)


def raster(n_in, steps=80, seed=0):
    return (np.random.default_rng(seed).random((2, steps, n_in)) < 0.1).astype(np.int64)


@pytest.mark.parametrize("chip", ["xylo-audio2", "xylo-imu", "xylo-audio3"])
def test_compiles_simulates_and_agrees_with_xylosim(chip):
    network = net([6, 40, 30, 4], recurrent_std=0.3)
    config, report = compile_network(network, chip)
    assert report.ok and check(config) == []
    rec = simulate(config, raster(6))
    assert rec["Spikes"].sum() > 0
    xs = XylosimBackend()
    xs.apply(config)
    assert rec.first_difference(xs.evolve(raster(6))) is None


def test_relays_reproduce_the_unlimited_fanout_network_exactly():
    """Relays deliver the same events in the same step. They change the order of delivery, which the chip
    only notices when a synaptic state saturates mid-delivery; this network stays clear of the rails."""
    network = Network.random([8, 100, 100, 8], seed=3, tau_syn=5e-3, tau_mem=10e-3, weight_mean=[0.1] * 3,
                             weight_std=[0.3] * 3, recurrent_std=0.2, dt=1e-3)
    relayed, rep = compile_network(network, "xylo-audio2")  # fan-out 64: needs relays
    assert sum(layer.relays for layer in rep.layers) > 300 and any(relayed.aliases)
    free, _ = compile_network(network, register(custom_chip("no-fanout-limit", n_hidden=1000)))
    assert not any(free.aliases)
    r = (np.random.default_rng(5).random((2, 120, 8)) < 0.1).astype(np.int64)
    a, b = simulate(relayed, r), simulate(free, r)
    assert a["Spikes"][..., :100].sum() > 100 and a["Spikes_out"].sum() > 0
    assert np.array_equal(a["Spikes_out"], b["Spikes_out"])
    layer2 = rep.layers[1]
    first2 = int(layer2.ids.split()[1].split("..")[0])
    assert np.array_equal(a["Spikes"][..., :100], b["Spikes"][..., :100])
    assert np.array_equal(a["Spikes"][..., first2:first2 + 100], b["Spikes"][..., 100:200])


def test_every_violation_at_once():
    with pytest.raises(CompileError) as err:
        compile_network(net([20, 1200, 300, 40], dt=1e-3), "xylo-imu")
    text = str(err.value)
    for piece in ("20 input channels", "1,200 neurons; xylo-imu has 496", "input to 128",
                  "40 neurons; xylo-imu has 16 readout"):
        assert piece in text
    assert err.value.report is not None and not err.value.report.ok


def test_missing_dt_no_hidden_layer_and_bad_tau():
    with pytest.raises(CompileError, match="dt"):
        compile_network(net([3, 5, 2], dt=None), "xylo-audio2")
    with pytest.raises(CompileError, match="hidden layer"):
        compile_network(net([3, 2]), "xylo-audio2")
    slow = Network.random([3, 5, 2], seed=0, tau_syn=5e-3, tau_mem=1e3, dt=1e-3)
    with pytest.raises(CompileError, match="tau_mem"):
        compile_network(slow, "xylo-audio2")


def test_quantization_error_within_half_a_step():
    network = net([5, 30, 3])
    config, report = compile_network(network, "xylo-audio2")
    L1 = report.layers[0]
    w = weights_to_float(config.weights_in[:, :30, 0], L1.current_unit, config.weight_shift_in)
    assert np.max(np.abs(w - network.weights[0])) <= 0.5 * L1.current_unit * 2**config.weight_shift_in + 1e-12
    th = threshold_to_float(config.threshold[:30], L1.current_unit, config.dt)
    assert np.max(np.abs(th - network.threshold[0])) <= 0.5 * L1.voltage_unit + 1e-12


def test_unit_mapping_psp_matches_float_kernel():
    """One input event: chip v[n] * (c dt) ~ W h((n + 1) dt) within the O(dt/tau) discretisation error."""
    dt = 1e-3
    tau_s, tau_m = -dt / np.log(1 - 2**-3), -dt / np.log(1 - 2**-5)  # realisable exactly
    network = Network.create([np.array([[2000.0]]), np.array([[1000.0]])], tau_syn=tau_s, tau_mem=tau_m,
                             threshold=[50.0, 1.0], dt=dt)
    config, report = compile_network(network, "xylo-audio2")
    rec = simulate(config, np.array([[1]] + [[0]] * 99))
    t = (np.arange(100) + 1) * dt
    a, b = 1 / tau_s, 1 / tau_m
    h = (np.exp(-a * t) - np.exp(-b * t)) / (b - a)
    v_float = 2000.0 * h
    v_chip = rec["Vmem"][:, 0] * report.layers[0].voltage_unit
    assert np.max(np.abs(v_chip - v_float)) < 0.08 * v_float.max()
