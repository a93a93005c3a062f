"""Property tests: every legal configuration survives the RAM image and the samna field mapping."""

from __future__ import annotations

import numpy as np
from deploy_netgen import config_from_fields
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.backends.samna import samna_fields
from deploy.ram_image import build_ram_image, config_from_ram_image
from hw_models.config import ChipConfig
from hw_models.rules import check


@st.composite
def legal_configs(draw) -> ChipConfig:
    chip = draw(st.sampled_from(["xylo-audio2", "xylo-audio3"]))
    n_in, n_h, n_out = draw(st.integers(1, 16)), draw(st.integers(1, 40)), draw(st.integers(1, 8))
    n_syn = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))

    def weights(shape):
        return rng.integers(-128, 128, shape) * (rng.random(shape) < density)

    aliases = [[int(rng.integers(0, n_h))] if rng.random() < 0.3 else [] for _ in range(n_h)]
    config = ChipConfig.create(
        chip, 1e-3, weights((n_in, n_h, n_syn)), weights((n_h, n_out)),
        rng.integers(-32768, 32768, n_h), rng.integers(-32768, 32768, n_out),
        weights_rec=weights((n_h, n_h, n_syn)), aliases=aliases,
        dash_mem=rng.integers(0, 16, n_h), dash_syn=rng.integers(0, 16, n_h),
        dash_syn_2=rng.integers(0, 16, n_h), dash_mem_out=rng.integers(0, 16, n_out),
        dash_syn_out=rng.integers(0, 16, n_out), bias=rng.integers(-128, 128, n_h),
        bias_out=rng.integers(-128, 128, n_out), weight_shift_in=draw(st.integers(0, 8)),
        weight_shift_rec=draw(st.integers(0, 8)), weight_shift_out=draw(st.integers(0, 8)))
    assert check(config) == [], check(config)
    return config


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(legal_configs())
def test_ram_image_round_trip(config):
    assert config_from_ram_image(build_ram_image(config)) == config


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(legal_configs())
def test_samna_fields_read_back(config):
    back = config_from_fields(config.chip, samna_fields(config))
    expected = config.copy()
    if not np.any(config.weights_in[..., 1:]) and not np.any(config.weights_rec[..., 1:]):
        # an unused second synapse is not enabled on the chip: the read-back has one synapse
        expected.weights_in, expected.weights_rec = config.weights_in[..., :1], config.weights_rec[..., :1]
    if not config.has_bias:
        expected.bias, expected.bias_out = np.zeros_like(config.bias), np.zeros_like(config.bias_out)
    assert back == expected
