"""Fixtures of the fuzz suite: one small valid file of every kind the command line reads.

Each fuzz test records how many generated cases it ran (``record_cases``); ``tests/conftest.py``
adds them up, also across xdist workers, and prints one summary line at the end of the run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from deploy.backends.sim import SimBackend
from deploy.bundle import save_bundle
from toolchain.compile import compile_network
from toolchain.network import Network

#: examples per fuzz test; raise it for a longer local run: SPIKELINE_FUZZ_EXAMPLES=500 pytest tests/fuzz
EXAMPLES = int(os.environ.get("SPIKELINE_FUZZ_EXAMPLES", "40"))
settings.register_profile("fuzz", max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                 HealthCheck.data_too_large])
DT = 1e-3


@pytest.fixture
def record_cases(request):
    """Call with the number of cases a test ran; it is reported in the run's summary line."""
    def record(n: int) -> None:
        request.node.user_properties.append(("fuzz_cases", int(n)))
    return record


@pytest.fixture(scope="session")
def valid_files(tmp_path_factory) -> dict[str, Path]:
    """A network, its chip configuration, a raster, the record of that raster, an encoding, a bundle."""
    d = tmp_path_factory.mktemp("fuzz-valid")
    tau_s, tau_m = -DT / np.log(1 - 2**-2), -DT / np.log(1 - 2**-3)
    net = Network.random([5, 12, 3], seed=1, tau_syn=tau_s, tau_mem=tau_m, weight_mean=[1.0, 0.6],
                         weight_std=[1.0, 1.0], delays=[0, DT / 2], dt=DT)
    net.metadata.update(task="yinyang", task_options={"dt": DT}, t_end=0.06, decision="first-spike")
    net.save(d / "network.json")
    config, report = compile_network(net, "xylo-audio2", calibrate=False, check_health=False)
    config.save(d / "config.json")
    report.save(d / "config.report")
    raster = np.random.default_rng(0).poisson(0.4, (20, 5)).astype(np.int64)
    np.save(d / "raster.npy", raster)
    backend = SimBackend()
    backend.apply(config)
    backend.evolve(raster).save(d / "record.npz")
    encoding = {"kind": "raster", "description": "counts per step"}
    (d / "encoding.json").write_text(json.dumps(encoding))
    save_bundle(d / "net.bundle", config, encoding, json.loads((d / "network.json").read_text()))
    return {"network": d / "network.json", "config": d / "config.json", "raster": d / "raster.npy",
            "record": d / "record.npz", "encoding": d / "encoding.json", "bundle": d / "net.bundle"}
