"""One test per design rule: the violation names the field, the index, the value and the limit."""

from __future__ import annotations

import numpy as np
import pytest

from hw_models.chips import custom_chip, get_chip, register, tau_from_dash
from hw_models.config import ChipConfig
from hw_models.errors import ConfigError, SpikelineError
from hw_models.rules import check, raise_if_invalid, resources, warnings


def base(chip="xylo-audio2", n_in=3, n_h=5, n_o=2, syn=1, **kw) -> ChipConfig:
    args = dict(weights_in=np.ones((n_in, n_h, syn), int), weights_out=np.ones((n_h, n_o), int),
                threshold=np.full(n_h, 100), threshold_out=np.full(n_o, 100))
    args.update(kw)
    return ChipConfig.create(chip, 1e-3, **args)


def only(cfg, chip=None):
    problems = check(cfg, chip)
    assert len(problems) == 1, problems
    return problems[0]


def test_base_is_legal_on_every_chip():
    for chip in ("xylo-audio2", "xylo-imu", "xylo-audio3"):
        assert check(base(chip)) == []


def test_unknown_chip():
    v = only(base("xylo-audio2"), "xylo-nano")
    assert v.field == "chip" and "xylo-audio2" in v.message


def test_too_many_inputs():
    v = only(base(n_in=17))
    assert (v.field, v.value, v.limit) == ("weights_in", 17, 16) and "16" in str(v)


def test_too_many_hidden_neurons_message():
    v = only(base("xylo-audio2", n_h=1200, n_o=1))
    assert v.value == 1200 and v.limit == 1000
    assert "1,200 hidden neurons; xylo-audio2 has 1,000" in str(v)


def test_too_many_readouts():
    v = only(base("xylo-audio2", n_o=9))
    assert (v.field, v.value, v.limit) == ("weights_out", 9, 8)


def test_second_synapse_on_imu():
    v = only(base("xylo-imu", syn=2))
    assert (v.field, v.value, v.limit) == ("weights_in", 2, 1)


@pytest.mark.parametrize("field", ["weights_in", "weights_rec", "weights_out"])
def test_weight_range(field):
    cfg = base()
    getattr(cfg, field).flat[7] = 128
    v = only(cfg)
    assert v.field == field and v.value == 128 and v.limit == [-128, 127]
    assert str(list(v.index)) in str(v) and "[-128, 127]" in str(v)


@pytest.mark.parametrize("field", ["weight_shift_in", "weight_shift_rec", "weight_shift_out"])
def test_shift_range(field):
    cfg = base()
    setattr(cfg, field, 16)
    v = only(cfg)
    assert v.field == field and v.value == 16 and v.limit == [0, 15]


def test_shift_that_wraps_is_refused():
    cfg = base(weight_shift_in=9)
    cfg.weights_in[0, 0, 0] = 100
    v = only(cfg)
    assert v.field == "weight_shift_in" and v.index == (0, 0, 0) and "wrap" in v.message


@pytest.mark.parametrize("field", ["dash_mem", "dash_syn", "dash_syn_2", "dash_mem_out", "dash_syn_out"])
def test_dash_range(field):
    cfg = base()
    getattr(cfg, field)[1] = 16
    v = only(cfg)
    assert v.field == field and v.index == (1,) and v.value == 16 and v.limit == [0, 15]


@pytest.mark.parametrize("field", ["threshold", "threshold_out"])
def test_threshold_range(field):
    cfg = base()
    getattr(cfg, field)[0] = 40000
    v = only(cfg)
    assert v.field == field and v.index == (0,) and v.limit == [-32768, 32767]


@pytest.mark.parametrize("field", ["bias", "bias_out"])
def test_bias_range(field):
    cfg = base()
    getattr(cfg, field)[1] = 200
    v = only(cfg)
    assert v.field == field and v.index == (1,) and v.limit == [-128, 127]


def test_bias_on_a_chip_without_bias():
    register(custom_chip("test-nobias", n_hidden=10, has_bias=False))
    v = only(base("test-nobias", bias=np.array([0, 0, 3, 0, 0])))
    assert v.field == "bias" and "no bias" in v.message


def test_input_window():
    cfg = base("xylo-imu", n_h=200, n_o=1)
    cfg.weights_out[:72] = 0
    cfg.weights_in[:, 128:] = 0
    cfg.weights_in[2, 150, 0] = 5
    v = only(cfg)
    assert v.field == "weights_in" and v.index == (150,) and v.limit == 128


def test_output_window():
    cfg = base("xylo-audio3", n_h=200, n_o=1)
    cfg.weights_in[:, 128:] = 0
    cfg.weights_out[:72] = 0
    cfg.weights_out[10, 0] = 1
    v = only(cfg)
    assert v.field == "weights_out" and v.index == (10,) and v.limit == 128


def test_fanout():
    cfg = base(n_h=100, n_o=1, weights_rec=np.zeros((100, 100), int))
    cfg.weights_rec[3, :65, 0] = 1
    v = only(cfg)
    assert v.field == "weights_rec" and v.index == (3,) and (v.value, v.limit) == (65, 64)


def test_total_recurrent_memory():
    n = 1000
    w = np.zeros((n, n), int)
    for i in range(n):
        w[i, (i + np.arange(1, 34)) % n] = 1
    v = only(base(n_h=n, n_o=1, weights_rec=w))
    assert v.field == "weights_rec" and (v.value, v.limit) == (33000, 32000)


def test_alias_targets_count_and_range():
    aliases = [[], [1, 2], [], [9], []]
    problems = check(base(aliases=aliases))
    assert sorted((v.field, v.index, str(v.limit)) for v in problems) == [
        ("aliases", (1,), "1"), ("aliases", (3,), "[0, 4]")]


def test_all_violations_at_once_with_resource_table():
    cfg = base("xylo-audio2", n_in=17, n_h=1200, n_o=9, dash_mem=20)
    with pytest.raises(ConfigError) as err:
        raise_if_invalid(cfg)
    fields = [v.field for v in err.value.violations]
    assert fields.count("weights_in") == 2 and "weights_out" in fields and "dash_mem" in fields
    assert "1,200 hidden neurons" in str(err.value)
    rows = {r.resource: r for r in resources(cfg)}
    assert rows["hidden neurons"].used == 1200 and not rows["hidden neurons"].fits


def test_warnings_for_legal_but_suspicious_settings():
    cfg = base(threshold=np.array([0, 1, 1, 1, 1]), dash_syn=0)
    text = " ".join(warnings(cfg))
    assert "31-spike cap" in text and "dash 0" in text


def test_chip_table_and_tau():
    assert get_chip("SYNS61201").n_hidden == 1000
    assert (get_chip("xylo-imu").n_hidden, get_chip("xylo-imu").n_synapses) == (496, 1)
    assert (get_chip("xylo-audio3").n_hidden, get_chip("xylo-audio3").n_outputs) == (992, 32)
    assert [round(tau_from_dash(d, 1.0), 2) for d in (1, 2, 3, 4)] == [1.44, 3.48, 7.49, 15.49]
    with pytest.raises(SpikelineError, match="unknown chip"):
        get_chip("nope")
    big = custom_chip("research-4k", n_hidden=4000, n_outputs=20)
    assert big.max_fanout == 4000 and check(base(n_h=3000, n_o=20), big) == []
