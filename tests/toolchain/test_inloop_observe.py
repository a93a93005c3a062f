"""Chip observations as a differentiable forward pass (in-the-loop gradients)."""

from __future__ import annotations

import numpy as np
import pytest

from hw_models.simulator import simulate
from toolchain.compile import compile_network
from toolchain.data import load_task
from toolchain.grad import fp_reverse
from toolchain.grad.params import flatten
from toolchain.inloop.observe import _layer_spikes, crossing_times, observed_forward
from toolchain.lif.forward import forward
from toolchain.losses import FirstSpikeCE
from toolchain.network import Network
from toolchain.verify.models import chip_grid_network

DT = 1e-3


def test_crossing_times_interpolate_within_the_step():
    spikes = np.zeros((5, 1), np.int64)
    vmem = np.zeros((5, 1), np.int64)
    vmem[2, 0], vmem[3, 0], spikes[3, 0] = 10, 5, 2  # v_prev 10, before resets 5 + 2 * 20 = 45
    t, n = crossing_times(spikes, vmem, np.array([20]), DT)
    assert np.allclose(t, [(3 + 10 / 35) * DT, (3 + 30 / 35) * DT]) and n.tolist() == [0, 0]


@pytest.fixture(scope="module")
def setup():
    task = load_task("yinyang", dt=DT)
    net = Network.random([5, 60, 3], seed=1, tau_syn=-DT / np.log(1 - 2**-2), tau_mem=-DT / np.log(1 - 2**-4),
                         weight_mean=[1.0, 0.3], weight_std=[1.0, 0.5], delays=[0, DT], dt=DT)
    config, report = compile_network(net, "xylo-audio2")
    return task, chip_grid_network(net, config, report), config, report


def test_currents_from_observed_times_equal_the_exact_forward_pass(setup):
    task, net, _, _ = setup
    fwd = forward(net, task.test.inputs[0], 0.06)
    for layer in range(2):
        pre = fwd.inputs if layer == 0 else fwd.layers[layer - 1]
        sp = _layer_spikes(net, layer, fwd.layers[layer].times, fwd.layers[layer].neurons, pre)
        assert np.allclose(sp.current, fwd.layers[layer].current, rtol=1e-9, atol=1e-9)


def test_in_the_loop_gradient_points_like_the_exact_one(setup):
    task, net, config, report = setup
    rasters = task.rasters("test", dt=DT)
    rasters = np.concatenate([rasters, np.zeros((len(rasters), 60 - rasters.shape[1], 5), np.int64)], axis=1)
    loss, cos = FirstSpikeCE(), []
    for k in range(20):
        sample, label = task.test.inputs[k], int(task.test.labels[k])
        chip = observed_forward(net, report, config, simulate(config, rasters[k]), sample, 0.06)
        exact = forward(net, sample, 0.06)
        g_chip = flatten(net, fp_reverse.gradients(net, chip, loss(chip.layers[-1], label, 3, 0.06)))
        g_exact = flatten(net, fp_reverse.gradients(net, exact, loss(exact.layers[-1], label, 3, 0.06)))
        assert np.all(np.isfinite(g_chip))
        cos.append(g_chip @ g_exact / (np.linalg.norm(g_chip) * np.linalg.norm(g_exact)))
    assert np.mean(cos) > 0.3, cos
