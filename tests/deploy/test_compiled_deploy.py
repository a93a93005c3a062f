"""Compiled networks through the deployment path: HIL sim vs xylosim is clean (including fan-out relays
built from aliases), and bundle + RAM image + samna mapping carry the compiled configuration intact."""

from __future__ import annotations

import json

import numpy as np
import pytest
from deploy_netgen import config_from_fields

from deploy.backends.samna import samna_fields
from deploy.bundle import build_bundle, verify_bundle_bytes
from deploy.hil import run_hil
from deploy.ram_image import build_ram_image, config_from_ram_image
from hw_models.simulator import simulate
from toolchain.compile import compile_network
from toolchain.network import Network


def network(sizes, seed):
    return Network.random(sizes, seed=seed, tau_syn=5e-3, tau_mem=10e-3, dt=1e-3,
                          weight_mean=[0.4] * (len(sizes) - 1), weight_std=[0.6] * (len(sizes) - 1),
                          recurrent_std=0.3)


def raster(n_in, steps, seed):
    return (np.random.default_rng(seed).random((2, steps, n_in)) < 0.1).astype(np.int64)


@pytest.mark.parametrize("chip,sizes,seed", [
    ("xylo-audio2", [8, 100, 100, 8], 3),  # fan-out 64: the compiler adds alias relays
    ("xylo-imu", [6, 40, 30, 4], 1),
    ("xylo-audio3", [6, 40, 30, 4], 2),
])
def test_hil_clean_on_compiled_networks(chip, sizes, seed):
    pytest.importorskip("xylosim")
    net = network(sizes, seed)
    config, report = compile_network(net, chip)
    assert report.ok
    r = raster(sizes[0], 120, seed)
    hil = run_hil(config, r, device="xylosim", reference="sim")
    assert hil.ok, hil.format_text()
    assert hil.mismatches == dict.fromkeys(hil.keys_compared, 0) and len(hil.keys_compared) == 7
    assert simulate(config, r, record="spikes")["Spikes"].sum() > 0  # the comparison covered activity
    if chip == "xylo-audio2":
        assert any(config.aliases)


def test_compiled_network_through_bundle_ram_image_and_samna_fields():
    net = network([8, 100, 100, 8], 3)
    config, _ = compile_network(net, "xylo-audio2")
    b = verify_bundle_bytes(build_bundle(config, {"kind": "raster"}, json.loads(net.to_json())))
    assert b.config == config and b.network == json.loads(net.to_json())
    assert config_from_ram_image(build_ram_image(config)) == config
    back = config_from_fields(config.chip, samna_fields(config))
    assert back.weights_rec[..., 0].tolist() == config.weights_rec[..., 0].tolist()
    assert back.aliases == config.aliases and back.threshold.tolist() == config.threshold.tolist()
