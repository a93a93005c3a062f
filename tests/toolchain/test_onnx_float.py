"""The ONNX float model (the network's discrete-time twin) in onnxruntime against the numpy twin."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from toolchain.io import FormatError  # noqa: E402
from toolchain.io.onnx import export, session  # noqa: E402
from toolchain.io.onnx_float import FORMAT, build_float_model  # noqa: E402
from toolchain.lif.discrete import discrete_twin, output_names  # noqa: E402
from toolchain.network import Network  # noqa: E402

RTOL = 1e-6


def run_float(model, raster) -> dict[str, np.ndarray]:
    sess = session(model)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"raster": raster}), strict=True))


@pytest.mark.parametrize("readout", ["spiking", "leaky-integrator"])
@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_float_model_matches_the_twin(readout, precision):
    net = Network.random([6, 20, 12, 4], seed=3, readout=readout, dt=1e-3, weight_std=0.4, weight_mean=0.2,
                         recurrent_std=0.1)
    raster = np.random.default_rng(0).poisson(0.3, (3, 80, 6))
    model = build_float_model(net, precision)
    onnx.checker.check_model(model, full_check=True)
    ours = run_float(model, raster)
    ref = discrete_twin(net, raster, dtype=np.dtype(precision).type)
    assert list(ours) == output_names(net) == list(ref)
    for key in ref:
        assert ours[key].dtype == np.dtype(precision) and ours[key].shape == ref[key].shape
        scale = np.abs(ref[key]).max()
        assert scale > 0, f"{key} is all zero: the case proves nothing"
        np.testing.assert_allclose(ours[key], ref[key], rtol=RTOL, atol=RTOL * scale, err_msg=key)
    # several spikes per step and recurrence are exercised
    assert ref["hidden_spikes_2"].max() >= 2 and ref["hidden_spikes_1"].sum() > 50


def test_float_export_metadata_and_options(tmp_path):
    net = Network.random([3, 5, 2], seed=1, dt=1e-3, readout="leaky-integrator")
    path = export(net, tmp_path / "net.onnx", precision="float64")
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["format"] == FORMAT and meta["precision"] == "float64" and float(meta["dt"]) == 1e-3
    with pytest.raises(FormatError, match="does not take --record"):
        export(net, tmp_path / "x.onnx", record="spikes")
    net.dt = None
    with pytest.raises(Exception, match="no dt"):
        export(net, tmp_path / "y.onnx")
