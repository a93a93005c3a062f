"""NIR graphs written by snntorch, norse and rockpool themselves, with those libraries' own simulation of
the same network on a random input raster. Run by tests/toolchain/interop/test_nir_libraries.py (the graphs
are made at test time; nothing here is a checked-in binary).

Each ``*_case(seed)`` returns a :class:`LibraryCase`: the graph (``export_to_nir`` / ``to_nir`` output), the
input raster ``(T, N_in)`` of 0/1 spikes, the spike rasters ``(T, n)`` of every layer as the library
simulates them, the library's time step, and the ``--profile`` that reads its graphs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LibraryCase:
    name: str
    graph: object
    raster: np.ndarray
    spikes: list[np.ndarray]
    dt: float
    profile: str


def _raster(rng, T: int, n_in: int, rate: float = 0.05) -> np.ndarray:
    return (rng.random((T, n_in)) < rate).astype(np.float32)


def snntorch_case(seed: int, n_in: int = 8, n_h: int = 12, n_o: int = 4, T: int = 400,
                  recurrent: bool = False) -> LibraryCase:
    """snntorch ``Synaptic`` (or ``RSynaptic``) layers; snntorch's exporter assumes dt = 1e-4."""
    import snntorch as snn
    import snntorch.utils
    import torch
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dt = 1e-4
    alpha_h, beta_h = rng.uniform(0.97, 0.985, n_h), rng.uniform(0.985, 0.995, n_h)  # tau_syn 3-7 ms, tau_mem 7-20 ms
    alpha_o, beta_o = rng.uniform(0.97, 0.985, n_o), rng.uniform(0.985, 0.995, n_o)

    def t(a):
        return torch.tensor(a, dtype=torch.float32)

    lin1, lin2 = torch.nn.Linear(n_in, n_h, bias=False), torch.nn.Linear(n_h, n_o, bias=False)
    if recurrent:
        hidden = snn.RSynaptic(alpha=t(alpha_h), beta=t(beta_h), threshold=torch.ones(n_h), init_hidden=True,
                               all_to_all=True, linear_features=n_h)
    else:
        hidden = snn.Synaptic(alpha=t(alpha_h), beta=t(beta_h), threshold=torch.ones(n_h), init_hidden=True)
    out = snn.Synaptic(alpha=t(alpha_o), beta=t(beta_o), threshold=torch.ones(n_o), init_hidden=True, output=True)
    with torch.no_grad():
        lin1.weight.mul_(0.025)
        lin2.weight.mul_(0.06)
        if recurrent:
            hidden.recurrent.weight.mul_(0.02)
            hidden.recurrent.bias.zero_()  # a bias is a constant current, which a Spikeline network refuses
    net = torch.nn.Sequential(lin1, hidden, lin2, out)
    graph = export_to_nir(net, torch.zeros(n_in))
    x = _raster(rng, T, n_in)
    snntorch.utils.reset(net)
    h_spikes, o_spikes = [], []
    with torch.no_grad():
        for k in range(T):
            h = hidden(lin1(torch.tensor(x[k:k + 1])))
            o = out(lin2(h))[0]
            h_spikes.append(h[0].numpy())
            o_spikes.append(o[0].numpy())
    return LibraryCase("snntorch", graph, x, [np.array(h_spikes), np.array(o_spikes)], dt, "snntorch")


def norse_case(seed: int, n_in: int = 8, n_h: int = 12, n_o: int = 4, T: int = 400) -> LibraryCase:
    """norse ``LIFCell`` layers in a ``SequentialState``, exported with ``to_nir(..., dt=dt)``."""
    import norse.torch as norse
    import torch
    from norse.torch.utils.export_nir import to_nir

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dt = 1e-4

    def params(n):
        return norse.LIFParameters(tau_syn_inv=torch.tensor(1 / rng.uniform(3e-3, 7e-3, n), dtype=torch.float32),
                                   tau_mem_inv=torch.tensor(1 / rng.uniform(7e-3, 20e-3, n), dtype=torch.float32),
                                   v_th=torch.ones(n), v_leak=torch.zeros(n), v_reset=torch.zeros(n))

    lin1, lin2 = torch.nn.Linear(n_in, n_h, bias=False), torch.nn.Linear(n_h, n_o, bias=False)
    with torch.no_grad():
        lin1.weight.mul_(2.0)
        lin2.weight.abs_().mul_(4.0)  # an excitatory readout, so that it spikes
    c1, c2 = norse.LIFCell(params(n_h), dt=dt), norse.LIFCell(params(n_o), dt=dt)
    graph = to_nir(norse.SequentialState(lin1, c1, lin2, c2), torch.zeros(n_in), dt=dt)
    x = _raster(rng, T, n_in)
    s1 = s2 = None
    h_spikes, o_spikes = [], []
    with torch.no_grad():
        for k in range(T):
            h, s1 = c1(lin1(torch.tensor(x[k:k + 1])), s1)
            o, s2 = c2(lin2(h), s2)
            h_spikes.append(h[0].numpy())
            o_spikes.append(o[0].numpy())
    return LibraryCase("norse", graph, x, [np.array(h_spikes), np.array(o_spikes)], dt, "norse")


def rockpool_case(seed: int, n_in: int = 8, n_h: int = 12, n_o: int = 4, T: int = 200) -> LibraryCase:
    """rockpool ``LinearTorch`` + ``LIFTorch`` in a ``Sequential``, exported with its ``to_nir``."""
    import torch
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dt = 1e-3

    def lif(n):
        return LIFTorch(n, tau_syn=torch.tensor(rng.uniform(0.02, 0.05, n), dtype=torch.float32),
                        tau_mem=torch.tensor(rng.uniform(0.05, 0.1, n), dtype=torch.float32),
                        threshold=torch.ones(n), dt=dt)

    lin1, lin2 = LinearTorch((n_in, n_h), has_bias=False), LinearTorch((n_h, n_o), has_bias=False)
    with torch.no_grad():
        lin1.weight.mul_(0.05)
        lin2.weight.mul_(0.1)
    l1, l2 = lif(n_h), lif(n_o)
    net = Sequential(lin1, l1, lin2, l2)
    graph = to_nir(net, torch.zeros(n_in))
    x = _raster(rng, T, n_in)
    with torch.no_grad():
        h, _, _ = l1(lin1(torch.tensor(x[None]))[0])
        o, _, _ = l2(lin2(h)[0])
    return LibraryCase("rockpool", graph, x, [h[0].numpy(), o[0].numpy()], dt, "rockpool")
