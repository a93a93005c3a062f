"""rockpool models in: the imported float network spikes like rockpool's own simulation of the model
(the bound of test_nir_libraries.py), and an imported model goes through compile and verify."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.toolchain.interop.test_nir_libraries import MIN_MATCHED, matched
from toolchain.cli import main
from toolchain.io import FormatError
from toolchain.io.rockpool import network_from_module
from toolchain.lif.forward import forward

torch = pytest.importorskip("torch")
pytest.importorskip("rockpool")
from rockpool.nn.combinators import Sequential  # noqa: E402
from rockpool.nn.modules import LIFTorch, LinearTorch  # noqa: E402

DT = 1e-3


def lif(n, mode, rng, **kw):
    if mode == "bitshifts":
        return LIFTorch(n, leak_mode="bitshifts", dash_syn=torch.tensor(rng.integers(5, 7, n), dtype=torch.float32),
                        dash_mem=torch.tensor(rng.integers(6, 8, n), dtype=torch.float32), dt=DT, **kw)
    tau_s, tau_m = rng.uniform(0.02, 0.05, n), rng.uniform(0.05, 0.1, n)  # dt/tau <= 0.05
    if mode == "decays":
        return LIFTorch(n, leak_mode="decays", alpha=torch.tensor(np.exp(-DT / tau_m), dtype=torch.float32),
                        beta=torch.tensor(np.exp(-DT / tau_s), dtype=torch.float32), dt=DT, **kw)
    return LIFTorch(n, tau_syn=torch.tensor(tau_s, dtype=torch.float32), tau_mem=torch.tensor(tau_m,
                    dtype=torch.float32), dt=DT, **kw)


def model(seed: int, mode: str, recurrent: bool, n_in=8, n_h=12, n_o=4):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    l1, l2 = LinearTorch((n_in, n_h), has_bias=False), LinearTorch((n_h, n_o), has_bias=False)
    with torch.no_grad():
        l1.weight.mul_(0.05)
        l2.weight.abs_().mul_(0.08)
    hidden = lif(n_h, mode, rng, has_rec=recurrent)
    if recurrent:
        with torch.no_grad():
            hidden.w_rec.mul_(0.01)
    return Sequential(l1, hidden, l2, lif(n_o, mode, rng)), (l1, hidden, l2)


@pytest.mark.parametrize("mode,recurrent", [("taus", False), ("bitshifts", False), ("decays", True)])
def test_imported_model_spikes_like_rockpool(mode, recurrent):
    net, (l1, hidden, l2) = model(1, mode, recurrent)
    T = 200
    x = (np.random.default_rng(7).random((T, 8)) < 0.05).astype(np.float32)
    with torch.no_grad():
        h, _, _ = hidden(l1(torch.tensor(x[None]))[0])
        o, _, _ = net[3](l2(h)[0])
    lib = [h[0].numpy(), o[0].numpy()]
    ours_net = network_from_module(net)
    assert (ours_net.recurrent[0] is not None) == recurrent
    steps, chans = np.nonzero(x)
    res = forward(ours_net, (steps * DT, chans), T * DT)
    assert lib[0].sum() >= 10 and lib[1].sum() >= 1
    for layer, spikes in enumerate(lib):
        ours = res.layers[layer]
        our_steps = np.floor(ours.times / DT + 1e-9).astype(int)
        n_match = sum(matched(np.repeat(np.arange(T), spikes[:, i].astype(int)),
                              np.sort(our_steps[ours.neurons == i])) for i in range(spikes.shape[1]))
        n_lib, n_ours = int(spikes.sum()), len(our_steps)
        assert n_match >= MIN_MATCHED * n_lib - 1 and n_match >= MIN_MATCHED * n_ours - 1, (layer, n_lib, n_ours,
                                                                                              n_match)


def test_reverse_unit_mapping():
    net, (l1, hidden, l2) = model(2, "bitshifts", False)
    ours = network_from_module(net)
    dt = float(hidden.dt)  # rockpool keeps dt in float32
    np.testing.assert_allclose(ours.weights[0], l1.weight.detach().numpy().astype(np.float64) / dt, rtol=1e-12)
    dash = hidden.dash_mem.detach().numpy().astype(np.float64)
    np.testing.assert_allclose(ours.tau_mem[0], -dt / np.log(1 - 2.0 ** -dash), rtol=1e-12)
    assert ours.delays == [0.0, 0.0] and ours.dt == dt and ours.recurrent[0] is None


def test_refusals():
    with pytest.raises(FormatError, match="non-zero biases are not supported"):
        network_from_module(Sequential(LinearTorch((3, 4), has_bias=True), LIFTorch(4, dt=DT)))
    with pytest.raises(FormatError, match="synapses per neuron"):
        network_from_module(Sequential(LinearTorch((3, 8), has_bias=False), LIFTorch((8, 4), dt=DT)))
    with pytest.raises(FormatError, match="must end with a LIF layer"):
        network_from_module(Sequential(LinearTorch((3, 4), has_bias=False)))


def test_imported_model_compiles_and_verifies(tmp_path):
    torch.manual_seed(0)
    net = Sequential(LinearTorch((5, 30), has_bias=False, weight=torch.rand(5, 30) * 0.4),
                     LIFTorch(30, tau_syn=0.004, tau_mem=0.008, dt=DT),
                     LinearTorch((30, 3), has_bias=False, weight=torch.randn(30, 3) * 0.3),
                     LIFTorch(3, tau_syn=0.004, tau_mem=0.008, dt=DT))
    ours = network_from_module(net)
    ours.metadata.update(task="yinyang", t_end=0.06, decision="spike-count")
    ours.save(tmp_path / "network.json")
    runner = CliRunner()
    r = runner.invoke(main, ["compile", str(tmp_path / "network.json"), "--chip", "xylo-audio2", "--out",
                             str(tmp_path / "config.json")])  # calibrated: the default path
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["verify", str(tmp_path / "network.json"), str(tmp_path / "config.json"), "--limit",
                             "20", "--out", str(tmp_path / "verify"), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output[r.output.index("{"):])
    assert report["ok"] and report["samples"] == 20
    assert report["prediction_agreement"]["bit-accurate_vs_chip-grid"] >= 0.6
