"""The float Network and its JSON format spikeline.network/1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hw_models.errors import ConfigError, InputError
from toolchain.network import FORMAT, Network, from_dict, load_network


def example() -> Network:
    return Network.create(
        [np.arange(24.0).reshape(4, 6) / 7, -np.ones((6, 5)), np.full((5, 3), 0.1)],
        tau_syn=[4e-3, 5e-3, 6e-3], tau_mem=[8e-3, np.linspace(9e-3, 1e-2, 5), 2e-2], threshold=[1.0, 0.5, None],
        recurrent=[np.eye(6) * 0.3, None], delays=[0.0, 1e-3, 1e-3], recurrent_delays=[1e-3, 0.0],
        readout="leaky-integrator", dt=1e-3, metadata={"task": "demo", "epoch": 3})


def assert_same(a: Network, b: Network) -> None:
    assert a.layer_sizes == b.layer_sizes and a.readout == b.readout and a.dt == b.dt
    assert a.delays == b.delays and a.recurrent_delays == b.recurrent_delays and a.metadata == b.metadata
    for name in ("weights", "tau_syn", "tau_mem", "threshold", "recurrent"):
        for x, y in zip(getattr(a, name), getattr(b, name), strict=True):
            assert (x is None and y is None) or np.array_equal(x, y)


def test_save_and_load_round_trip_bit_for_bit(tmp_path):
    net = example()
    path = net.save(tmp_path / "sub" / "network.json")
    loaded = load_network(path)
    assert_same(net, loaded)
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT and doc["layer_sizes"] == [4, 6, 5, 3]
    assert doc["layers"][2]["threshold"] is None and doc["hops"][1]["delay"] == 1e-3
    assert not list(tmp_path.glob("sub/.*.tmp"))  # written atomically, no temp file left


def test_create_broadcasts_scalars_to_per_neuron_arrays():
    net = Network.create([np.ones((2, 3)), np.ones((3, 2))], tau_syn=5e-3, tau_mem=[1e-2, [1e-2, 2e-2]])
    assert net.tau_syn[1].shape == (2,) and net.tau_mem[1][1] == 2e-2 and net.threshold[0].tolist() == [1.0] * 3
    assert net.recurrent == [None] and net.delays == [0.0, 0.0] and net.readout == "spiking"


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        Network.create([np.ones((2, 3)), np.full((3, 2), np.nan)], tau_syn=-1.0, tau_mem=1e-2, threshold=0.0,
                       delays=[0.0, -1.0])
    fields = {v.field for v in err.value.violations}
    assert {"weights", "tau_syn", "threshold", "delays"} <= fields


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.update(format="spikeline.network/0"), "format"),
    (lambda d: d.update(extra=1), "format"),
    (lambda d: d["hops"][0].update(weights=[[1.0]]), "weights"),
    (lambda d: d["layers"][0].update(tau_mem=[0.0] * 6), "tau_mem"),
    (lambda d: d["layers"][0].update(recurrent=[[1.0, 2.0]]), "recurrent"),
    (lambda d: d["layers"].pop(), "layers"),
    (lambda d: d.pop("hops"), "hops"),
    (lambda d: d.update(readout="binary"), "readout"),
])
def test_bad_documents_name_the_problem(mutate, field):
    doc = example().to_dict()
    mutate(doc)
    with pytest.raises(ConfigError) as err:
        from_dict(doc)
    assert field in {v.field for v in err.value.violations}


def test_truncated_or_missing_files_are_clear_errors(tmp_path):
    path = example().save(tmp_path / "n.json")
    path.write_text(path.read_text()[:200])
    with pytest.raises(InputError, match="truncated"):
        load_network(path)
    with pytest.raises(InputError, match="cannot read"):
        load_network(tmp_path / "missing.json")


def test_copy_is_independent():
    net = example()
    twin = net.copy()
    twin.weights[0][0, 0] += 1.0
    assert net.weights[0][0, 0] != twin.weights[0][0, 0]
    assert_same(net, example())
