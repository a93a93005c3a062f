"""Loss values against hand computation, and their partials against finite differences of the loss itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hw_models.errors import InputError
from toolchain.lif.forward import LeakyReadout, Spikes
from toolchain.losses import FirstSpikeCE, IntegratedVoltageCE, MaxVoltageCE, SpikeCountCE

T_END = 0.05


def spikes(times, neurons) -> Spikes:
    order = np.argsort(times, kind="mergesort")
    return Spikes(np.asarray(times, float)[order], np.asarray(neurons)[order], np.zeros(len(times)))


def numeric_time_partials(loss, out: Spikes, label: int, n_out: int, step: float = 1e-8) -> np.ndarray:
    grads = np.zeros(len(out.times))
    for k in range(len(out.times)):
        values = []
        for sign in (1, -1):
            moved = Spikes(out.times.copy(), out.neurons, out.current)
            moved.times[k] += sign * step
            values.append(loss(moved, label, n_out, T_END).value)
        grads[k] = (values[0] - values[1]) / (2 * step)
    return grads


def test_first_spike_ce_value_by_hand():
    loss = FirstSpikeCE(tau0=2e-3, tau1=0.1, alpha=0.01)
    out = spikes([0.010, 0.012, 0.020, 0.030], [1, 0, 1, 0])  # first spikes: c0 = 12 ms, c1 = 10 ms, c2 silent
    t = np.array([0.012, 0.010, T_END])
    expected = -np.log(np.exp(-t[0] / 2e-3) / np.exp(-t / 2e-3).sum()) + 0.01 * (math.exp(0.012 / 0.1) - 1)
    assert loss(out, 0, 3, T_END).value == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("label", [0, 1, 2])
def test_first_spike_ce_partials(label):
    loss = FirstSpikeCE(tau0=2e-3, tau1=0.1, alpha=0.01)
    out = spikes([0.010, 0.012, 0.020, 0.030, 0.031], [1, 0, 1, 0, 2])
    value = loss(out, label, 3, T_END)
    np.testing.assert_allclose(value.d_times, numeric_time_partials(loss, out, label, 3), rtol=1e-6, atol=1e-6)
    later = [k for k in range(5) if k not in (0, 1, 4)]
    assert np.all(value.d_times[later] == 0.0)  # only first spikes matter


def test_silent_label_neuron_is_finite_and_has_no_gradient():
    loss = FirstSpikeCE(tau0=2e-3, tau1=0.1)
    out = spikes([0.01], [1])
    value = loss(out, 0, 2, T_END)
    assert math.isfinite(value.value) and value.d_times[0] < 0  # a later wrong spike lowers the loss


def test_regulariser_overflow_is_an_error():
    with pytest.raises(InputError, match="tau1"):
        FirstSpikeCE(tau1=1e-4)(spikes([], []), 0, 2, 1.0)


@pytest.mark.parametrize("tau_count", [None, 0.02])
def test_spike_count_ce(tau_count):
    loss = SpikeCountCE(tau_count=tau_count, gain=0.5)
    out = spikes([0.01, 0.02, 0.03, 0.015], [0, 0, 1, 2])
    weights = np.ones(4) if tau_count is None else np.exp(-out.times / tau_count)
    logits = 0.5 * np.bincount(out.neurons, weights, minlength=3)
    expected = -np.log(np.exp(logits[1]) / np.exp(logits).sum())
    value = loss(out, 1, 3, T_END)
    assert value.value == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(value.d_times, numeric_time_partials(loss, out, 1, 3), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("loss_cls, field", [(MaxVoltageCE, "vmax"), (IntegratedVoltageCE, "vint")])
def test_voltage_losses(loss_cls, field):
    loss = loss_cls(gain=2.0)
    ro = LeakyReadout(vmax=np.array([0.3, 1.2, 0.0]), tmax=np.zeros(3), kink=np.full(3, -1),
                      kink_slope=np.zeros(3), vint=np.array([0.01, -0.002, 0.004]))
    value = loss(ro, 2, 3, T_END)
    scale = 2.0 if field == "vmax" else 2.0 / T_END
    logits = scale * getattr(ro, field)
    assert value.value == pytest.approx(-logits[2] + np.log(np.exp(logits).sum()), rel=1e-13)
    partial = value.d_vmax if field == "vmax" else value.d_vint
    other = value.d_vint if field == "vmax" else value.d_vmax
    step = 1e-7
    for o in range(3):
        moved = getattr(ro, field).copy()
        moved[o] += step
        up = loss(LeakyReadout(**{**ro.__dict__, field: moved}), 2, 3, T_END).value
        moved[o] -= 2 * step
        down = loss(LeakyReadout(**{**ro.__dict__, field: moved}), 2, 3, T_END).value
        assert partial[o] == pytest.approx((up - down) / (2 * step), rel=1e-6)
    assert np.all(other == 0)


def test_saturated_softmax_keeps_precision():
    loss = MaxVoltageCE(gain=1.0)
    ro = LeakyReadout(vmax=np.array([40.0, 0.0]), tmax=np.zeros(2), kink=np.full(2, -1), kink_slope=np.zeros(2),
                      vint=np.zeros(2))
    assert loss(ro, 0, 2, T_END).value == pytest.approx(math.exp(-40.0), rel=1e-12)


@pytest.mark.parametrize("label", [-1, 3, 1.5, "a"])
def test_bad_labels(label):
    with pytest.raises(InputError, match="label"):
        FirstSpikeCE()(spikes([0.01], [0]), label, 3, T_END)
