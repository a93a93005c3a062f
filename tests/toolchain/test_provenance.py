"""Provenance in the configuration: verify refuses a foreign configuration at once, without compiling."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from hw_models.config import load_config
from toolchain.cli import main
from toolchain.compile import compile_network, compiler
from toolchain.network import Network, load_network
from toolchain.verify import verify
from toolchain.verify.models import ForeignConfigError, recompile

DT = 1e-3


def small_net(seed: int) -> Network:
    tau_s, tau_m = -DT / np.log(1 - 2**-2), -DT / np.log(1 - 2**-3)
    net = Network.random([5, 30, 3], seed=seed, tau_syn=tau_s, tau_mem=tau_m, weight_mean=[1.0, 0.6],
                         weight_std=[1.0, 1.0], delays=[0, DT / 2], dt=DT)
    net.metadata.update(task="yinyang", task_options={"dt": DT}, t_end=0.06, decision="first-spike")
    return net


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prov")
    net = small_net(1)
    path = net.save(folder / "network.json")
    config, report = compile_network(net, "xylo-audio2")
    config.save(folder / "config.json")
    return folder, path, net, config, report


@pytest.fixture()
def count_builds(monkeypatch):
    """Counts every build of a configuration (the compiler's one entry point for candidates)."""
    calls = []
    original = compiler._build

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(compiler, "_build", counting)
    return calls


def test_the_compiler_records_the_network_hash_and_settings(compiled):
    folder, path, net, config, report = compiled
    prov = load_config(folder / "config.json").provenance
    assert prov["network_sha256"] == net.sha256() == load_network(path).sha256()    # survives save and load
    assert prov["compile"]["shifts"] == report.shifts and prov["compile"]["calibrate"] is True
    assert prov["compile"]["candidate"] == next(c["name"] for c in report.candidates if c["kept"])
    assert prov["spikeline"] and prov["created"].endswith("Z")
    assert small_net(2).sha256() != net.sha256()


def test_verify_of_a_foreign_configuration_fails_at_once_without_compiling(compiled, count_builds):
    folder, path, net, config, report = compiled
    other = small_net(9)
    with pytest.raises(ForeignConfigError, match="not compiled from this network.*SHA-256"):
        verify(other, load_config(folder / "config.json"))
    assert count_builds == []                                   # no compile of any kind ran
    assert recompile(net, load_config(folder / "config.json")) is not None
    assert len(count_builds) == 1                              # its own network: one rebuild with the settings


def test_verify_cli_refuses_a_foreign_configuration(compiled, count_builds, tmp_path):
    folder, path, net, config, report = compiled
    small_net(9).save(tmp_path / "other.json")
    res = CliRunner().invoke(main, ["verify", str(tmp_path / "other.json"), str(folder / "config.json")])
    assert res.exit_code == 2 and "not compiled from this network" in res.output and count_builds == []


def test_a_version_1_file_without_provenance_is_checked_by_reading_its_settings_back(compiled, count_builds,
                                                                                     tmp_path):
    folder, path, net, config, report = compiled
    doc = json.loads((folder / "config.json").read_text())
    doc["format"] = "spikeline.chip-config/1"
    doc["dash_syn2"] = doc.pop("dash_syn_2")
    del doc["provenance"]
    (tmp_path / "v1.json").write_text(json.dumps(doc))
    v1 = load_config(tmp_path / "v1.json")
    assert v1 == config and not v1.provenance
    rebuilt = recompile(net, v1)                               # the settings, read back from the configuration
    assert rebuilt.shifts == report.shifts and rebuilt.gain_correction == report.gain_correction
    assert len(count_builds) <= 20                             # a few builds, no candidate search
    count_builds.clear()
    with pytest.raises(ForeignConfigError, match="not compiled from this network"):
        recompile(small_net(9), v1)
    assert len(count_builds) <= 16
