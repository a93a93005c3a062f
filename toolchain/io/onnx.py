"""ONNX: a chip configuration as a bit-exact ONNX chip model, a float network as its discrete twin.

``export(source, out, **options)`` dispatches on the source: a :class:`~hw_models.config.ChipConfig`
goes to :mod:`toolchain.io.onnx_chip` (options ``record``, ``clip_inputs``), a
:class:`~toolchain.network.Network` to :mod:`toolchain.io.onnx_float` (option ``precision``).
:func:`run` evolves rasters with onnxruntime. ``docs/onnx.md`` describes both graphs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hw_models.config import ChipConfig
from toolchain.io import FormatError, refuse_options

CHIP_OPTIONS = ("record", "clip_inputs")
FLOAT_OPTIONS = ("precision",)


def export(source, out: Path, **options) -> Path:
    """Write ``source`` (chip configuration or float network) as an ONNX model; returns the path."""
    from toolchain.network import Network

    if isinstance(source, ChipConfig):
        from toolchain.io.onnx_chip import export_chip

        return export_chip(source, Path(out), **refuse_options(options, CHIP_OPTIONS,
                                                              "onnx export of a chip configuration"))
    if isinstance(source, Network):
        from toolchain.io.onnx_float import export_float

        return export_float(source, Path(out), **refuse_options(options, FLOAT_OPTIONS,
                                                                "onnx export of a float network"))
    raise FormatError(f"onnx export takes a chip configuration or a network, got {type(source).__name__}")


def session(model, threads: int | None = None):
    """An onnxruntime ``InferenceSession`` for a model path, bytes or ``ModelProto``."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise FormatError("running ONNX models needs onnxruntime: pip install 'spikeline[onnx]'") from None
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif not isinstance(model, bytes):
        model = str(model)
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def run(model, raster, threads: int | None = None) -> dict[str, np.ndarray]:
    """Evolve ``raster`` (``(T, N_in)`` or ``(B, T, N_in)`` counts) through an exported model (chip or float).

    Returns output name -> array (the record keys for a chip model), ``(T, N)`` for a 2-D raster, else
    ``(B, T, N)``.
    """
    sess = model if hasattr(model, "run") and hasattr(model, "get_outputs") else session(model, threads)
    arr = np.asarray(raster)
    batch = arr[None] if arr.ndim == 2 else arr
    name = sess.get_inputs()[0].name
    outs = sess.run(None, {name: np.ascontiguousarray(batch, np.int64)})
    keys = [o.name for o in sess.get_outputs()]
    return {k: (v[0] if arr.ndim == 2 else v) for k, v in zip(keys, outs, strict=True)}
