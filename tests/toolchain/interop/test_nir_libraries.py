"""Graphs written by snntorch, norse and rockpool themselves come in and spike like those libraries' own
simulations of the same network.

The comparison (docs/interop.md, "Discretisation error"): the libraries step the network with Euler or
per-step exponential decays on their grid ``dt``, Spikeline's forward pass is exact in continuous time with
the input spikes at ``k dt``. A library spike in step ``k`` is *matched* by one of ours at a time in
``[k dt, (k + 1) dt)`` up to ``2 + 0.02 k`` steps away (the per-step decay error is ~``dt / (2 tau)``,
<= 2.5 % at the ``dt/tau <= 0.05`` used here, and each layer adds up to one step of latency). All but
5 % + 1 of the spikes of every layer, counted both ways, must be matched.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.toolchain.interop import library_graphs as lg
from toolchain.io import nir as spikeline_nir
from toolchain.lif.forward import forward

nir = pytest.importorskip("nir")
pytest.importorskip("torch")

MIN_MATCHED = 0.95


def tolerance(step: np.ndarray) -> np.ndarray:
    """The documented discretisation bound, in steps."""
    return 2 + 0.02 * step


def matched(lib_steps: np.ndarray, our_steps: np.ndarray) -> int:
    """Greedy in-order matching of two spike-step lists of one neuron within :func:`tolerance`."""
    used = np.zeros(len(our_steps), bool)
    n = 0
    for s in lib_steps:
        free = np.flatnonzero(~used & (np.abs(our_steps - s) <= tolerance(s)))
        if free.size:
            used[free[0]] = True
            n += 1
    return n


def compare(case: lg.LibraryCase, tmp_path) -> list[tuple[int, int, int]]:
    """(library spikes, our spikes, matched) per layer, after a round trip through a .nir file."""
    path = tmp_path / f"{case.name}.nir"
    nir.write(str(path), case.graph)
    net = spikeline_nir.import_file(path, profile=case.profile, dt=case.dt if case.profile == "norse" else None)
    steps, chans = np.nonzero(case.raster)
    T = case.raster.shape[0]
    res = forward(net, (steps * case.dt, chans), T * case.dt)
    out = []
    for layer, lib in enumerate(case.spikes):
        ours = res.layers[layer]
        our_steps = np.floor(ours.times / case.dt + 1e-9).astype(int)
        total = 0
        for i in range(lib.shape[1]):
            lib_i = np.repeat(np.arange(T), lib[:, i].astype(int))
            total += matched(lib_i, np.sort(our_steps[ours.neurons == i]))
        out.append((int(lib.sum()), len(our_steps), total))
    return out


CASES = [("snntorch", 0, False), ("snntorch", 1, True), ("norse", 0, False), ("norse", 3, False),
         ("rockpool", 0, False), ("rockpool", 3, False)]


@pytest.mark.parametrize("library,seed,recurrent", CASES)
def test_library_graph_spikes_like_the_library(tmp_path, library, seed, recurrent):
    if library == "rockpool":
        pytest.importorskip("rockpool")
        case = lg.rockpool_case(seed)
    elif library == "norse":
        pytest.importorskip("norse")
        case = lg.norse_case(seed)
    else:
        pytest.importorskip("snntorch")
        case = lg.snntorch_case(seed, recurrent=recurrent)
    layers = compare(case, tmp_path)
    assert layers[0][0] >= 10, f"the hidden layer barely spikes: {layers}"
    assert sum(n_lib for n_lib, _, _ in layers[1:]) >= 1, f"the readout never spikes: {layers}"
    for n_lib, n_ours, n_matched in layers:
        assert n_matched >= MIN_MATCHED * n_lib - 1 and n_matched >= MIN_MATCHED * n_ours - 1, layers


def test_without_the_profile_a_library_graph_means_something_else(tmp_path):
    """The profiles are needed: read by NIR's equations alone, snntorch's graph is off by 1/dt."""
    case = lg.snntorch_case(0)
    path = tmp_path / "s.nir"
    nir.write(str(path), case.graph)
    plain = spikeline_nir.import_file(path)
    prof = spikeline_nir.import_file(path, profile="snntorch")
    np.testing.assert_allclose(plain.weights[0] * case.dt, prof.weights[0], rtol=1e-12)


def test_recurrent_snntorch_graph_is_imported_as_recurrent(tmp_path):
    case = lg.snntorch_case(1, recurrent=True)
    path = tmp_path / "r.nir"
    nir.write(str(path), case.graph)
    net = spikeline_nir.import_file(path, profile="snntorch")
    assert net.recurrent[0] is not None and np.any(net.recurrent[0] != 0)
    assert net.recurrent_delays[0] == pytest.approx(case.dt)
