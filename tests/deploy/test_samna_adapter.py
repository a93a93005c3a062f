"""The samna adapter without samna: the pure field mapping (checked by reading it back the way
rockpool's ``XyloSim.from_config`` reads a samna configuration, then running the result on xylosim),
the thin writer against an object layout like samna's, and the stub detection."""

from __future__ import annotations

import importlib
import json
import sys

import numpy as np
import pytest
from deploy_netgen import config_from_fields, fake_install, random_config, random_raster

from deploy.backends import get_backend
from deploy.backends.samna import import_samna, samna_fields, samna_status, write_samna_configuration
from hw_models.errors import BackendUnavailable, ConfigError, SpikelineError


@pytest.mark.parametrize("chip,n_hidden,n_syn", [("xylo-audio2", 14, 2), ("xylo-imu", 140, 1),
                                                 ("xylo-audio3", 150, 2)])
def test_fields_read_back_run_identically_on_xylosim(chip, n_hidden, n_syn):
    pytest.importorskip("xylosim")
    config = random_config(7, chip=chip, n_hidden=n_hidden, n_syn=n_syn, aliases=True, bias=True,
                           density=0.4 if n_hidden < 100 else 0.03)
    fields = samna_fields(config)
    json.dumps(fields)  # plain data only
    back = config_from_fields(chip, fields)
    assert back == config
    # and it is the same network on SynSense's engine
    raster = random_raster(7, steps=40)
    xs = get_backend("xylosim")
    xs.apply(config)
    a = xs.evolve(raster)
    xs.apply(back)
    assert a.first_difference(xs.evolve(raster)) is None
    assert a["Spikes"].sum() > 0


def test_audio2_fields():
    config = random_config(1, n_hidden=10, aliases=True, bias=True)
    config.aliases = [[0] if i == 3 else [] for i in range(10)]
    f = samna_fields(config)
    assert f["samna_module"] == "xyloCore2" and "reservoir" in f and "hidden" not in f
    neurons = f["reservoir"]["neurons"]
    assert neurons[3]["alias_target"] == 0  # rockpool's from_config would drop this alias
    assert all("alias_target" not in n for i, n in enumerate(neurons) if i != 3)
    assert [n["v_mem_bias"] for n in neurons] == config.bias.tolist()
    assert [n["i_syn2_decay"] for n in neurons] == config.dash_syn_2.tolist()
    assert f["top"] == {"bias_enable": True, "synapse2_enable": True}
    assert f["debug"]["bias_clock_enable"] and f["debug"]["isyn2_clock_enable"]
    assert f["reservoir"]["aliasing"] is True
    assert f["input"]["weights"] == config.weights_in[..., 0].tolist()
    assert f["reservoir"]["syn2_weights"] == config.weights_rec[..., 1].tolist()


def test_imu_and_audio3_specifics():
    imu = samna_fields(random_config(2, chip="xylo-imu", n_syn=1, n_hidden=8))
    assert imu["samna_module"] == "xyloImu" and imu["top"]["imu_if_input_enable"] is False
    assert "syn2_weights" not in imu["input"] and "i_syn2_decay" not in imu["hidden"]["neurons"][0]
    a3 = samna_fields(random_config(3, chip="xylo-audio3", n_hidden=150, density=0.03))
    assert np.shape(a3["input"]["weights"]) == (16, 128) and np.shape(a3["readout"]["weights"]) == (128, 3)
    assert a3["top"]["input_source"]["enum"] == "InputSource" and a3["debug"]["event_input_enable"]


def test_invalid_configurations_are_refused_before_mapping():
    bad = random_config(0)
    bad.threshold[2] = 40000
    with pytest.raises(ConfigError, match="threshold"):
        samna_fields(bad)
    with pytest.raises(SpikelineError, match="no samna configuration layout"):
        samna_fields(random_config(0, chip="research-64"))  # a research chip samna cannot program


# -- the thin writer, against objects shaped like samna's (fixed attribute sets) --------------------

class Fixed:
    """An object that, like a pybind11 class, only has the attributes it was declared with."""

    FIELDS: tuple[str, ...] = ()

    def __init__(self):
        for name in self.FIELDS:
            object.__setattr__(self, name, None)

    def __setattr__(self, name, value):
        if name not in self.FIELDS:
            raise AttributeError(name)
        object.__setattr__(self, name, value)


def fake_samna(with_syn2: bool = True):
    class Hidden(Fixed):
        FIELDS = ("i_syn_decay", "i_syn2_decay", "v_mem_decay", "threshold", "v_mem_bias", "alias_target")

    class Output(Fixed):
        FIELDS = ("i_syn_decay", "v_mem_decay", "threshold", "v_mem_bias")

    class Section(Fixed):
        FIELDS = ("weights", "weight_bit_shift", "aliasing", "neurons") + (("syn2_weights",) if with_syn2
                                                                          else ())

    class Debug(Fixed):
        FIELDS = ("event_input_enable",)

    class InputSource:
        Saer = "SAER-enum"  # an older samna: no SpikeEvents member

    class XyloConfiguration(Fixed):
        FIELDS = ("bias_enable", "synapse2_enable", "input_source", "debug", "input", "hidden", "readout")

        def __init__(self):
            super().__init__()
            for name, cls in (("debug", Debug), ("input", Section), ("hidden", Section),
                              ("readout", Section)):
                object.__setattr__(self, name, cls())

    configuration = type("configuration", (), {"XyloConfiguration": XyloConfiguration,
                                               "HiddenNeuron": Hidden, "OutputNeuron": Output})
    module = type("xyloAudio3", (), {"configuration": configuration, "InputSource": InputSource})
    return type("samna", (), {"xyloAudio3": module})


def test_writer_fills_every_field():
    config = random_config(4, chip="xylo-audio3", n_hidden=9, aliases=True, bias=True)
    fields = samna_fields(config)
    obj = write_samna_configuration(fields, fake_samna())
    assert obj.input_source == "SAER-enum" and obj.bias_enable is True and obj.debug.event_input_enable
    assert obj.input.weights.dtype == np.int8
    assert obj.hidden.syn2_weights.tolist() == config.weights_rec[..., 1].tolist()
    assert [n.threshold for n in obj.hidden.neurons] == config.threshold.tolist()
    assert [n.alias_target for n in obj.hidden.neurons] == [a[0] if a else None for a in config.aliases]
    assert [n.v_mem_bias for n in obj.readout.neurons] == config.bias_out.tolist()


def test_writer_stops_on_a_field_this_samna_lacks():
    fields = samna_fields(random_config(4, chip="xylo-audio3", n_hidden=9))
    with pytest.raises(BackendUnavailable, match=r"no field input\.syn2_weights"):
        write_samna_configuration(fields, fake_samna(with_syn2=False))


# -- installation status, without ever importing samna ---------------------------------------------

@pytest.fixture
def isolated_samna(monkeypatch):
    yield monkeypatch
    sys.modules.pop("samna", None)
    importlib.invalidate_caches()


def test_stub_is_recognised_without_importing_it(tmp_path, isolated_samna):
    fake_install(tmp_path, "0.0.1", ["samna/__init__.py", "samna/_download.py"])
    isolated_samna.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    status = samna_status()
    assert status.installed and status.stub and status.version == "0.0.1" and not status.usable
    with pytest.raises(BackendUnavailable, match="public-index stub.*pip uninstall samna"):
        get_backend("samna")
    assert "samna" not in sys.modules  # recognised from its files, never imported


def test_real_looking_install_is_imported_and_failure_reported(tmp_path, isolated_samna):
    fake_install(tmp_path, "0.39.0", ["samna/__init__.py", "samna/samna.cpython-311-x86_64-linux-gnu.so"])
    isolated_samna.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    status = samna_status()
    assert status.usable and "compiled extension" in status.detail
    with pytest.raises(BackendUnavailable, match="`import samna` failed.*would download"):
        import_samna()


def test_absent_samna_gives_a_clear_error():
    if samna_status().installed:
        pytest.skip("a samna is installed here")
    with pytest.raises(BackendUnavailable, match="not installed.*SynSense's distribution"):
        get_backend("samna")
