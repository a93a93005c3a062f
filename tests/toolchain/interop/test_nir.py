"""NIR export and import: every graph we write is read by ``nir.read`` with type checking on, export ->
import is the identity, any ``r``/``w_in`` is read by NIR's equations (checked against a direct
integration of those equations), and each refusal names the node and why."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from toolchain.cli import main
from toolchain.io import nir as spikeline_nir
from toolchain.io.nir import NIRImportError
from toolchain.lif.forward import forward
from toolchain.network import Network

nir = pytest.importorskip("nir")

NETWORKS = {
    "feed-forward": lambda: Network.random([5, 7, 3], seed=0, dt=1e-3),
    "recurrent-delays": lambda: Network.random([4, 6, 5, 3], seed=1, recurrent_std=0.3, delays=[0.0, 1e-3, 2e-3],
                                               recurrent_delays=[0.0, 5e-4], dt=1e-3),
    "leaky-readout": lambda: Network.random([3, 8, 2], seed=2, readout="leaky-integrator", recurrent_std=0.2),
    "per-neuron": lambda: Network.create([np.ones((2, 3)), -np.ones((3, 2))], [np.array([1e-3, 2e-3, 3e-3]), 4e-3],
                                         [np.array([5e-3, 6e-3, 7e-3]), 8e-3], [np.array([0.5, 1.0, 2.0]), 1.5]),
}


def close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-12 * max(1.0, abs(a))
    return a == b


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_export_is_read_by_nir_and_imports_back_identically(tmp_path, name):
    net = NETWORKS[name]()
    net.metadata = {"task": "test", "seed": 3}
    path = spikeline_nir.export(net, tmp_path / "m.nir")
    graph = nir.read(str(path))  # type checking on (the default)
    kinds = {type(v).__name__ for v in graph.nodes.values()}
    assert {"Input", "Output", "Linear"} <= kinds
    assert ("CubaLI" in kinds) == (net.readout == "leaky-integrator")
    assert ("Delay" in kinds) == any(d > 0 for d in net.delays)
    assert ("NIRGraph" in kinds) == any(r is not None for r in net.recurrent)
    assert graph.metadata["reset"] == "subtract"
    back = spikeline_nir.import_file(path)
    assert close(net.to_dict(), back.to_dict())


def test_recurrent_layer_is_a_nir_subgraph_with_the_loop(tmp_path):
    net = NETWORKS["recurrent-delays"]()
    graph = nir.read(str(spikeline_nir.export(net, tmp_path / "m.nir")))
    sub = graph.nodes["layer1"]
    assert isinstance(sub, nir.NIRGraph)
    assert ("lif", "w_rec") in sub.edges and ("w_rec", "lif") in sub.edges
    np.testing.assert_array_equal(sub.nodes["w_rec"].weight, net.recurrent[0].T)
    np.testing.assert_array_equal(graph.nodes["delay1"].delay, np.full(6, 1e-3))


def test_cli_export_import_round_trip(tmp_path):
    net = NETWORKS["recurrent-delays"]()
    net.save(tmp_path / "network.json")
    runner = CliRunner()
    r = runner.invoke(main, ["export", str(tmp_path / "network.json"), "--out", str(tmp_path / "m.nir"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["format"] == "nir"
    r = runner.invoke(main, ["import", str(tmp_path / "m.nir"), "--out", str(tmp_path / "back.json")])
    assert r.exit_code == 0, r.output
    assert close(net.to_dict(), json.loads((tmp_path / "back.json").read_text()))


# -- any r and w_in, by NIR's equations ---------------------------------------------------------------
def integrate_nir(w, tau_syn, tau_mem, r, w_in, theta, times, chans, t_end, h=1e-6):
    """NIR's CubaLIF equations solved directly on a grid of step h (the linear ODE exactly over each step),
    Dirac input spikes through ``w`` (post, pre); a crossing is seen at the end of its step and subtracts the
    threshold (the same as a reset to 0 at the exact crossing, up to the overshoot within the step).
    Returns the spike times per neuron (each late by < h)."""
    n = w.shape[0]
    i_syn, v = np.zeros(n), np.zeros(n)
    ks = np.rint(np.asarray(times) / h).astype(int)
    spikes = [[] for _ in range(n)]
    for step in range(int(round(t_end / h))):
        for c in np.asarray(chans)[ks == step]:
            i_syn += w_in * w[:, c] / tau_syn  # integral of w_in * delta / tau_syn
        gain = (np.exp(-h / tau_mem) - np.exp(-h / tau_syn)) / (1 / tau_syn - 1 / tau_mem)
        v = v * np.exp(-h / tau_mem) + r * i_syn / tau_mem * gain
        i_syn = i_syn * np.exp(-h / tau_syn)
        for j in np.flatnonzero(v >= theta):
            spikes[j].append((step + 1) * h)
            v[j] -= theta[j]
    return spikes


def test_any_r_and_w_in_are_read_by_nirs_equations(tmp_path):
    rng = np.random.default_rng(4)
    n_in, n = 4, 5
    tau_syn, tau_mem = rng.uniform(2e-3, 5e-3, n), rng.uniform(8e-3, 20e-3, n)
    r, w_in = rng.uniform(0.1, 30.0, n), rng.uniform(0.01, 5.0, n)
    theta = np.ones(n)
    w = rng.uniform(0.2, 1.0, (n, n_in)) * (tau_mem * tau_syn / (r * w_in))[:, None] * 300.0
    graph = nir.NIRGraph.from_list(nir.Input(input_type={"input": np.array([n_in])}), nir.Linear(weight=w),
                                   nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=np.zeros(n),
                                               v_threshold=theta, w_in=w_in),
                                   nir.Output(output_type={"output": np.array([n])}))
    nir.write(str(tmp_path / "g.nir"), graph)
    net = spikeline_nir.import_file(tmp_path / "g.nir")
    times = np.sort(rng.uniform(0, 0.04, 40))
    chans = rng.integers(0, n_in, 40)
    times = np.rint(times / 1e-6) * 1e-6
    ours = forward(net, (times, chans), 0.05).layers[0]
    ref = integrate_nir(w, tau_syn, tau_mem, r, w_in, theta, times, chans, 0.05)
    assert sum(len(s) for s in ref) >= 10
    for j in range(n):
        t_ours = np.sort(ours.times[ours.neurons == j])
        assert len(t_ours) == len(ref[j])
        np.testing.assert_allclose(t_ours, ref[j], atol=1e-5)  # grid of h = 1 us


def test_lif_nodes_are_approximated_by_a_short_synaptic_current(tmp_path):
    """A LIF node (V jumps by r w / tau per spike) imports with tau_syn = 1e-3 tau_mem; spikes agree within
    10 tau_syn (the short current needs a few tau_syn to deliver its charge). Its PSP peaks 0.8 % below the
    jump, and each reset comes ~3 tau_syn late (the later subtraction leaves V ~0.3 % of the threshold lower
    per recent spike), so a marginal crossing may be missed: spikes are compared up to the first crossing of
    the exact LIF that exceeds the threshold by less than 3 %."""
    n_in, n = 3, 4
    rng = np.random.default_rng(5)
    tau, r = rng.uniform(8e-3, 20e-3, n), rng.uniform(0.5, 2.0, n)
    w = rng.uniform(0.2, 0.6, (n, n_in)) * (tau / r)[:, None]  # jumps of 0.2-0.6
    graph = nir.NIRGraph.from_list(nir.Input(input_type={"input": np.array([n_in])}), nir.Linear(weight=w),
                                   nir.LIF(tau=tau, r=r, v_leak=np.zeros(n), v_threshold=np.ones(n)),
                                   nir.Output(output_type={"output": np.array([n])}))
    net = spikeline_nir.from_graph(graph)
    np.testing.assert_allclose(net.tau_syn[0], spikeline_nir.LIF_TAU_SYN_FRACTION * tau)
    times = np.sort(rng.uniform(0, 0.05, 60))
    chans = rng.integers(0, n_in, 60)
    ours = forward(net, (times, chans), 0.06).layers[0]
    # the LIF exactly: V jumps by r w / tau at each input, decays with tau, resets to 0 on crossing
    compared = 0
    for j in range(n):
        v, t_prev, ref = 0.0, 0.0, []
        for t, c in zip(times, chans, strict=True):
            v = v * np.exp(-(t - t_prev) / tau[j]) + r[j] * w[j, c] / tau[j]
            t_prev = t
            if v >= 1.0:
                if v < 1.03:  # a marginal crossing: the comparison stops here
                    break
                ref.append(t)
                v -= 1.0
        t_ours = np.sort(ours.times[ours.neurons == j])
        tol = 10 * spikeline_nir.LIF_TAU_SYN_FRACTION * tau[j]
        np.testing.assert_allclose(t_ours[: len(ref)], ref, atol=tol)
        compared += len(ref)
    assert compared >= 20


# -- refusals ----------------------------------------------------------------------------------------
def chain(*middle, n_in=3, n_out=2):
    return nir.NIRGraph.from_list(nir.Input(input_type={"input": np.array([n_in])}), *middle,
                                  nir.Output(output_type={"output": np.array([n_out])}), type_check=False)


def cuba(n=2, **kw):
    args = dict(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 1e-2), r=np.full(n, 1e-2), v_leak=np.zeros(n),
                v_threshold=np.ones(n), w_in=np.full(n, 5e-3))
    args.update(kw)
    return nir.CubaLIF(**args)


def test_a_plain_chain_imports():
    net = spikeline_nir.from_graph(chain(nir.Linear(weight=np.ones((2, 3))), cuba()))
    assert net.layer_sizes == [3, 2]


REFUSALS = {
    "conv": (lambda: chain(nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 2, 2)), stride=1, padding=0,
                                      dilation=1, groups=1, bias=np.zeros(1)), nir.Linear(weight=np.ones((2, 9))),
                           cuba(), n_in=16),
             "(Conv2d): convolutions are not supported"),
    "pool": (lambda: chain(nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                         padding=np.array([0, 0])), nir.Linear(weight=np.ones((2, 4))), cuba()),
             "(SumPool2d): pooling is not supported"),
    "v_reset": (lambda: chain(nir.Linear(weight=np.ones((2, 3))), cuba(v_reset=np.full(2, -0.5))),
                "(CubaLIF): v_reset != 0 is not supported"),
    "negative threshold": (lambda: chain(nir.Linear(weight=np.ones((2, 3))), cuba(v_threshold=np.array([1.0, -1.0]))),
                           "v_threshold <= 0 is not supported"),
    "v_leak": (lambda: chain(nir.Linear(weight=np.ones((2, 3))), cuba(v_leak=np.full(2, 0.1))),
               "v_leak != 0 (a constant drive) is not supported"),
    "bias": (lambda: chain(nir.Affine(weight=np.ones((2, 3)), bias=np.ones(2)), cuba()),
             "(Affine): non-zero biases are not supported"),
    "IF": (lambda: chain(nir.Linear(weight=np.ones((2, 3))), nir.IF(r=np.ones(2), v_threshold=np.ones(2))),
           "(IF): integrate-and-fire neurons without leak (IF) are not supported"),
    "unsupported node": (lambda: chain(nir.Linear(weight=np.ones((2, 3))), nir.Scale(scale=np.ones(2)), cuba()),
                         "(Scale): Scale nodes are not supported"),
    "uneven delays": (lambda: chain(nir.Delay(delay=np.array([1e-3, 2e-3, 1e-3])), nir.Linear(weight=np.ones((2, 3))),
                                    cuba()), "(Delay): per-neuron delays differ"),
    "no neurons": (lambda: chain(nir.Linear(weight=np.ones((2, 3)))), "feeds the Output directly"),
    "hidden leaky integrator": (lambda: chain(nir.Linear(weight=np.ones((2, 3))),
                                              nir.CubaLI(tau_syn=np.full(2, 5e-3), tau_mem=np.full(2, 1e-2),
                                                         r=np.ones(2), v_leak=np.zeros(2)),
                                              nir.Linear(weight=np.ones((2, 2))), cuba()),
                                "can only be the last layer"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_name_the_node_and_why(name):
    make, message = REFUSALS[name]
    with pytest.raises(NIRImportError) as info:
        spikeline_nir.from_graph(make())
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_branches_are_refused():
    lin_a, lin_b = nir.Linear(weight=np.ones((2, 3))), nir.Linear(weight=np.ones((2, 3)))
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}), "a": lin_a, "b": lin_b,
                                "lif": cuba(), "output": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("input", "a"), ("input", "b"), ("a", "lif"), ("b", "lif"), ("lif", "output")],
                         type_check=False)
    with pytest.raises(NIRImportError, match="only chains of layers are supported"):
        spikeline_nir.from_graph(graph)


def test_cli_refusal_is_one_line_exit_2_and_json(tmp_path):
    nir.write(str(tmp_path / "conv.nir"), REFUSALS["v_reset"][0]())
    runner = CliRunner()
    r = runner.invoke(main, ["import", str(tmp_path / "conv.nir"), "--out", str(tmp_path / "n.json")])
    assert r.exit_code == 2
    assert r.output.count("error:") == 1 and "v_reset != 0" in r.output
    r = runner.invoke(main, ["import", str(tmp_path / "conv.nir"), "--out", str(tmp_path / "n.json"), "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["ok"] is False
    assert not (tmp_path / "n.json").exists()


def test_export_refuses_a_chip_configuration(tmp_path):
    from tests.hw_models.random_configs import random_config

    cfg, _, _ = random_config(0, "xylo-audio2", "random")
    with pytest.raises(spikeline_nir.FormatError, match="--format rockpool"):
        spikeline_nir.export(cfg, tmp_path / "x.nir")


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(spikeline_nir.FormatError, match="unknown NIR profile"):
        spikeline_nir.from_graph(chain(nir.Linear(weight=np.ones((2, 3))), cuba()), profile="sinabs")
    with pytest.raises(spikeline_nir.FormatError, match="not a readable NIR file"):
        spikeline_nir.import_file(tmp_path / "missing.nir")


def test_options_of_another_format_are_refused(tmp_path):
    with pytest.raises(spikeline_nir.FormatError, match="--chip: not an option of the NIR format"):
        spikeline_nir.import_file(tmp_path / "x.nir", chip="xylo-audio2")
