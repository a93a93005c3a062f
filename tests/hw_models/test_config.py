"""Configuration JSON: lossless round trips, clear structural errors, and a property test that randomly
mutated files never raise anything but Spikeline's own errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw_models.config import FORMAT, ChipConfig, from_dict, from_json, load_config
from hw_models.errors import ConfigError, SpikelineError
from hw_models.rules import check
from hw_models.simulator import simulate
from tests.hw_models.random_configs import CHIPS, KINDS, random_config


def small_config() -> ChipConfig:
    return random_config(11, "xylo-audio2", "caps-aliases")[0]


@pytest.mark.parametrize("seed", range(12))
def test_round_trip_is_lossless(tmp_path, seed):
    cfg = random_config(seed, CHIPS[seed % 3], KINDS[seed % len(KINDS)])[0]
    path = cfg.save(tmp_path / "c.json")
    again = load_config(path)
    assert again == cfg
    assert again.to_json() == cfg.to_json()


def test_defaults_are_documented_values():
    doc = {"format": FORMAT, "chip": "xylo-imu", "dt": 0.001, "weights_in": [[1, 2]],
           "weights_out": [[3], [4]], "threshold": [5, 6], "threshold_out": [7]}
    cfg = from_dict(doc)
    assert cfg.weights_rec.shape == (2, 2, 1) and not cfg.weights_rec.any()
    assert cfg.dash_mem.tolist() == [1, 1] and cfg.dash_syn_2.tolist() == cfg.dash_syn.tolist()
    assert cfg.bias.tolist() == [0, 0] and cfg.aliases == [[], []]
    assert cfg.weight_shift_in == cfg.weight_shift_rec == cfg.weight_shift_out == 0


def test_version_1_files_load_with_their_old_field_name(tmp_path):
    cfg = random_config(3, "xylo-audio2", "caps-aliases")[0]
    cfg.dash_syn_2 = (cfg.dash_syn + 1) % 16
    doc = cfg.to_dict()
    assert doc["format"] == "spikeline.chip-config/2" and "dash_syn_2" in doc and "dash_syn2" not in doc
    doc["format"] = "spikeline.chip-config/1"
    doc["dash_syn2"] = doc.pop("dash_syn_2")
    (tmp_path / "v1.json").write_text(json.dumps(doc))
    old = load_config(tmp_path / "v1.json")
    assert old == cfg and old.dash_syn_2.tolist() == cfg.dash_syn_2.tolist()
    # a version-2 file must use rockpool's spelling; the old one is an unknown field there
    doc["format"] = FORMAT
    with pytest.raises(ConfigError, match="dash_syn2.*unknown field"):
        from_dict(doc)


def test_provenance_round_trips_and_is_not_part_of_equality(tmp_path):
    cfg = small_config()
    cfg.provenance = {"network_sha256": "ab" * 32, "compile": {"calibrate": True}}
    again = load_config(cfg.save(tmp_path / "c.json"))
    assert again.provenance == cfg.provenance
    assert again == small_config()  # same network on the chip
    doc = cfg.to_dict()
    doc["provenance"] = [1, 2]
    with pytest.raises(ConfigError, match="provenance"):
        from_dict(doc)


def test_scalars_broadcast_and_two_synapse_forms_mix():
    cfg = ChipConfig.create("xylo-audio2", 1e-3, weights_in=np.ones((2, 3, 2), int),
                            weights_rec=np.ones((3, 3), int), weights_out=np.ones((3, 1), int),
                            threshold=10, threshold_out=5, dash_mem=3)
    assert cfg.weights_rec.shape == (3, 3, 2) and not cfg.weights_rec[..., 1].any()
    assert cfg.dash_mem.tolist() == [3, 3, 3]


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d.update(colour="red"), "colour"),
    (lambda d: d.update(format="spikeline.chip-config/9"), "format"),
    (lambda d: d.pop("threshold"), "threshold"),
    (lambda d: d.update(dt=-1), "dt"),
    (lambda d: d.update(weights_out=[[1.5]]), "weights_out"),
    (lambda d: d.update(weights_in=[[True, 1]]), "weights_in"),
    (lambda d: d.update(weights_in=[[1, 2], [3]]), "weights_in"),
    (lambda d: d.update(weights_rec=[[1, 2, 3]]), "weights_rec"),
    (lambda d: d.update(dash_mem=[1, 2, 3]), "dash_mem"),
    (lambda d: d.update(aliases=[[0], ["x"]]), "aliases"),
    (lambda d: d.update(weight_shift_in="2"), "weight_shift_in"),
    (lambda d: d.update(threshold=[10**30, 1]), "threshold"),
])
def test_structural_problems_name_the_field(mutate, field):
    doc = {"format": FORMAT, "chip": "xylo-audio2", "dt": 0.001, "weights_in": [[1, 2]],
           "weights_out": [[3], [4]], "threshold": [5, 6], "threshold_out": [7]}
    mutate(doc)
    with pytest.raises(ConfigError) as err:
        from_dict(doc)
    assert field in {v.field for v in err.value.violations}, err.value


def test_every_structural_problem_reported_at_once():
    doc = {"format": "nope", "chip": "", "dt": "x", "weights_in": [[1]], "extra": 1,
           "weights_out": [[1]]}
    with pytest.raises(ConfigError) as err:
        from_dict(doc)
    fields = {v.field for v in err.value.violations}
    assert {"format", "chip", "dt", "extra", "threshold", "threshold_out"} <= fields


def test_unreadable_and_non_json_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_config(tmp_path / "list.json")


# -- property test: random mutations of a valid file ------------------------------------------------
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5))
json_value = st.recursive(json_leaf, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                             st.dictionaries(st.text(max_size=4), kids,
                                                                             max_size=3)),
                          max_leaves=12)
BASE_DOC = small_config().to_dict()
KEYS = sorted(BASE_DOC)


def _replace_deep(doc, key, path, value):
    target = doc[key]
    if not isinstance(target, list) or not path:
        doc[key] = value
        return
    for step in path[:-1]:
        if isinstance(target, list) and target:
            target = target[step % len(target)]
    if isinstance(target, list) and target:
        target[path[-1] % len(target)] = value


mutation = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(KEYS), st.just(()), st.none()),
    st.tuples(st.just("set"), st.sampled_from(KEYS + ["bogus"]), st.just(()), json_value),
    st.tuples(st.just("deep"), st.sampled_from(KEYS), st.lists(st.integers(0, 50), min_size=1,
                                                               max_size=3).map(tuple), json_value),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(mutation, min_size=1, max_size=4), cut=st.one_of(st.none(), st.integers(0, 5000)),
       flip=st.one_of(st.none(), st.tuples(st.integers(0, 5000), st.characters(codec="utf-8"))))
def test_mutated_files_only_raise_spikeline_errors(mutations, cut, flip):
    doc = json.loads(json.dumps(BASE_DOC))
    for kind, key, path, value in mutations:
        if kind == "drop":
            doc.pop(key, None)
        elif kind == "set":
            doc[key] = value
        elif key in doc:
            _replace_deep(doc, key, path, value)
    text = json.dumps(doc)
    if cut is not None:
        text = text[: cut % (len(text) + 1)]
    if flip is not None:
        pos = flip[0] % (len(text) + 1)
        text = text[:pos] + flip[1] + text[pos + 1:]
    try:
        cfg = from_json(text)
        if not check(cfg):
            simulate(cfg, np.ones((3, cfg.n_inputs), int))
    except SpikelineError:
        pass
