"""A float network as an ONNX model: its discrete-time twin (:mod:`toolchain.lif.discrete`) on its dt grid.

Input ``raster``: integer counts ``(B, T, N_in)``. Outputs (``toolchain.lif.discrete.output_names``):
``hidden_spikes_<k>`` per hidden layer, ``readout_v`` and, for a spiking readout, ``readout_spikes``, each
``(B, T, N)`` in the chosen precision. One ``Scan`` step is one twin step, the same operations in the same
order as the numpy twin:

    i = a_s (i + x @ W + s_prev @ R);  v = a_m v + dt i;  s = max(floor(v / theta), 0);  v -= s theta
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolchain.io import FormatError
from toolchain.io.onnx_graph import Graph, finish_model, require_onnx, save_model, tensor_info
from toolchain.lif.discrete import output_names, twin_constants
from toolchain.network import Network

FORMAT = "spikeline.onnx-twin/1"
PRECISIONS = {"float32": np.float32, "float64": np.float64}


def build_float_model(net: Network, precision: str = "float32"):
    """The ONNX ``ModelProto`` of ``net``'s discrete twin (checked with ``onnx.checker``, full check)."""
    onnx = require_onnx()
    if precision not in PRECISIONS:
        raise FormatError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    consts = twin_constants(net, dtype)
    sizes = net.layer_sizes[1:]
    g = Graph()
    body = g.subgraph("step_")
    state_in = [[body.name(f"{kind}{k + 1}") for kind in ("i", "v", "s")] for k in range(net.n_layers)]
    x_t = body.name("x_t")
    state_out = []
    for k, c in enumerate(consts):
        i, v, s = state_in[k]
        x = x_t if k == 0 else state_in[k - 1][2]  # the previous layer's spikes of the previous step
        current = body.op("MatMul", x, g.const(net.weights[k], dtype, hint="w"))
        if k < net.n_layers - 1 and net.recurrent[k] is not None:
            current = body.op("Add", current, body.op("MatMul", s, g.const(net.recurrent[k], dtype, hint="r")))
        i = body.op("Mul", g.const(c["a_s"], dtype), body.op("Add", i, current))
        v = body.op("Add", body.op("Mul", g.const(c["a_m"], dtype), v), body.op("Mul", g.const(c["dt"], dtype), i))
        if c["theta"] is not None:
            theta = g.const(c["theta"], dtype, hint="theta")
            s = body.op("Max", body.op("Floor", body.op("Div", v, theta)), g.const(0.0, dtype))
            v = body.op("Sub", v, body.op("Mul", s, theta))
        else:  # a leaky-integrator readout never spikes
            s = body.op("Identity", s)
        state_out.append([i, v, s])
    names = output_names(net)
    scans = [body.op("Identity", state_out[k][2]) for k in range(net.n_layers - 1)]
    scans.append(body.op("Identity", state_out[-1][1]))
    if "readout_spikes" in names:
        scans.append(body.op("Identity", state_out[-1][2]))

    def info(name: str, n: int):
        return onnx.helper.make_tensor_value_info(name, elem, ["batch", n])

    flat_in = [info(nm, n) for k, n in enumerate(sizes) for nm in state_in[k]] + [info(x_t, net.layer_sizes[0])]
    flat_out = [info(nm, n) for k, n in enumerate(sizes) for nm in state_out[k]]
    scan_sizes = sizes[:-1] + [sizes[-1]] * (len(names) - len(sizes) + 1)
    graph_body = body.build("twin_step", flat_in, flat_out + [info(nm, n) for nm, n in zip(scans, scan_sizes,
                                                                                             strict=True)])
    counts = g.op("Transpose", g.op("Cast", "raster", to=elem), perm=[1, 0, 2])
    batch = g.op("Slice", g.op("Shape", "raster"), g.const([0], np.int64), g.const([1], np.int64))
    zeros = {n: g.op("ConstantOfShape", g.op("Concat", batch, g.const([n], np.int64), axis=0),
                     value=onnx.numpy_helper.from_array(np.zeros(1, dtype))) for n in set(sizes)}
    init = [zeros[n] for n in sizes for _ in range(3)]
    outs = g.op_n("Scan", init + [counts], len(init) + len(scans), body=graph_body, num_scan_inputs=1)
    outputs = []
    for name, seq, n in zip(names, outs[len(init):], scan_sizes, strict=True):
        g.nodes.append(onnx.helper.make_node("Transpose", [seq], [name], perm=[1, 0, 2], name=g.name("Transpose")))
        outputs.append(tensor_info(name, dtype, ["batch", "steps", n]))
    graph = g.build("spikeline_twin", [tensor_info("raster", np.int64, ["batch", "steps", net.layer_sizes[0]])],
                    outputs, initializers=True)
    meta = {"format": FORMAT, "dt": repr(net.dt), "precision": precision,
            "layer_sizes": ",".join(map(str, net.layer_sizes)), "readout": net.readout,
            "network_sha256": network_sha256(net)}
    return finish_model(graph, meta, "Discrete-time twin of a Spikeline float network (see docs/onnx.md)")


def network_sha256(net: Network) -> str:
    """SHA-256 of the network's JSON document (``Network.to_json``)."""
    import hashlib

    return hashlib.sha256(net.to_json().encode()).hexdigest()


def export_float(net: Network, out: Path, precision: str = "float32") -> Path:
    """Write ``net``'s discrete twin as an ONNX model (atomically)."""
    return save_model(build_float_model(net, precision=precision), Path(out))
