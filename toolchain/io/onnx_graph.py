"""A small builder for ONNX graphs with standard operators only (shared by the chip and float models).

``Graph.op("Add", a, b)`` appends a node and returns its output name; ``Graph.const(array)`` adds an
initializer. Subgraphs (the bodies of ``Scan``, ``If``, ``Loop``) are :meth:`Graph.subgraph` builders
that share the name counter and keep their constants in the root graph (ONNX lets a subgraph read
outer-scope values), so every name in the model is unique.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hw_models.atomic import atomic_write_bytes
from toolchain.io import FormatError

#: The ONNX operator set every Spikeline model uses (standard domain only, no custom operators).
OPSET = 17


def require_onnx():
    """Import ``onnx``, or raise a one-line error naming the extra to install."""
    try:
        import onnx
    except ImportError:
        raise FormatError("the ONNX format needs the `onnx` package: pip install 'spikeline[onnx]'") from None
    return onnx


class Graph:
    """Nodes, initializers and a shared name counter for one (sub)graph."""

    def __init__(self, root: Graph | None = None, prefix: str = ""):
        self.onnx = require_onnx()
        self.root = root or self
        self.prefix = prefix
        self.nodes: list = []
        self.initializers: list = [] if root is None else self.root.initializers
        self._count = [0] if root is None else self.root._count
        self._consts: dict = {} if root is None else self.root._consts

    def name(self, hint: str) -> str:
        self._count[0] += 1
        return f"{self.prefix}{hint}_{self._count[0]}"

    def subgraph(self, prefix: str) -> Graph:
        return Graph(self.root, prefix=prefix)

    def const(self, value, dtype=np.float32, hint: str = "c") -> str:
        """An initializer holding ``value`` (deduplicated by content)."""
        arr = np.array(value, dtype=dtype, order="C")  # (ascontiguousarray would make scalars 1-D)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            name = self.name(hint)
            self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
            self._consts[key] = name
        return self._consts[key]

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs) -> str:
        return self.op_n(op_type, list(inputs), 1, hint=hint, **attrs)[0]

    def op_n(self, op_type: str, inputs: list[str], n_out: int, hint: str | None = None,
             **attrs) -> list[str]:
        outs = [self.name(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, outs, name=self.name(op_type), **attrs))
        return outs

    def build(self, name: str, inputs: list, outputs: list, initializers: bool = False):
        """A ``GraphProto``; ``inputs``/``outputs`` are ``ValueInfoProto``s (or names for subgraphs)."""
        helper = self.onnx.helper

        def info(v):  # a bare name: a float32 tensor of unknown shape (subgraph values)
            return v if not isinstance(v, str) else helper.make_tensor_value_info(v, 1, None)

        return helper.make_graph(self.nodes, name, [info(v) for v in inputs], [info(v) for v in outputs],
                                 initializer=self.initializers if initializers else None)


def tensor_info(name: str, dtype, shape: list):
    """A ``ValueInfoProto`` for a graph input or output (``shape`` entries: ints or symbolic names)."""
    onnx = require_onnx()
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return onnx.helper.make_tensor_value_info(name, elem, shape)


def finish_model(graph, metadata: dict[str, str], doc: str):
    """A checked ``ModelProto`` (``onnx.checker`` with ``full_check``: shape inference included)."""
    onnx = require_onnx()
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="spikeline", doc_string=doc)
    model.ir_version = min(model.ir_version, 8)  # readable by onnxruntime >= 1.14
    onnx.helper.set_model_props(model, {k: str(v) for k, v in metadata.items()})
    onnx.checker.check_model(model, full_check=True)
    return model


def save_model(model, out: Path) -> Path:
    """Write a ``ModelProto`` atomically; returns the path."""
    return atomic_write_bytes(out, model.SerializeToString())
