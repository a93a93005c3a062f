"""Generated corruptions of a valid file, each marked with whether it *must* be refused.

A corruption is ``(label, bytes, must_fail)``. ``must_fail`` corruptions make the file invalid whatever
the position or value drawn (empty, truncated, another kind of file, binary garbage, a NaN token, a
value of the wrong JSON type, an array of the wrong dtype or shape); the others (a flipped byte, a
huge or negative number where a number is expected, a list element dropped) may or may not leave a
valid file, so either outcome is accepted there, but never a traceback.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from hypothesis import strategies as st

Corruption = tuple[str, bytes, bool]

#: JSON subtrees that are free-form by design: any value is valid there.
FREE_FORM = ("metadata", "provenance", "description", "kind")


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def byte_level(data: bytes, others: dict[str, bytes]) -> st.SearchStrategy[Corruption]:
    """Corruptions that ignore the format: empty, truncated, flipped, garbage, another kind of file."""
    body = len(data.rstrip())
    return st.one_of(
        st.just(("empty", b"", True)),
        st.integers(0, max(0, body - 2)).map(lambda n: (f"truncated to {n} bytes", data[:n], True)),
        st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)).map(
            lambda pm: (f"byte {pm[0]} xor {pm[1]}",
                        data[:pm[0]] + bytes([data[pm[0]] ^ pm[1]]) + data[pm[0] + 1:], False)),
        st.binary(min_size=1, max_size=64).map(lambda b: ("binary garbage", b"\xff\xfe" + b, True)),
        st.sampled_from(sorted(others)).map(lambda k: (f"a {k} file instead", others[k], True)),
    )


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a value in a JSON tree, skipping free-form subtrees and the format tag."""
    out = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            if k not in FREE_FORM and k != "format":
                out += _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:4]):
            out += _paths(v, path + (i,))
    return out


def _set(node: Any, path: tuple, value: Any) -> Any:
    doc = json.loads(json.dumps(node))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def _wrong_type(old: Any, top_level: bool) -> list[Any]:
    """Values of a JSON type that cannot stand where ``old`` stands (a string for a number, an object
    for a list, ...). Not ``null`` for a top-level field (it may mean "the default"), nor a number for
    a list (a number is a valid per-neuron vector: every neuron gets it)."""
    null = [] if top_level else [None]
    if isinstance(old, bool):
        return ["yes", {"a": 1}]
    if isinstance(old, (int, float)):
        return ["1", {"a": 1}, True, [[1]], *null]
    if isinstance(old, str):
        return [1, {"a": 1}, [1], *null]
    if isinstance(old, list):
        return ["[1]", {"a": 1}]
    if isinstance(old, dict):
        return ["{}", [1], 3]
    return ["x", {"a": 1}]


def json_level(doc: Any) -> st.SearchStrategy[Corruption]:
    """Corruptions of one value of a JSON document."""
    paths = _paths(doc)

    def leaf(path: tuple) -> Any:
        node = doc
        for key in path:
            node = node[key]
        return node

    def wrong_type(draw_path: tuple) -> st.SearchStrategy[Corruption]:
        return st.sampled_from(_wrong_type(leaf(draw_path), len(draw_path) == 1)).map(
            lambda v: (f"{list(draw_path)} = {v!r}", json.dumps(_set(doc, draw_path, v)).encode(), True))

    def number(draw_path: tuple) -> st.SearchStrategy[Corruption]:
        values = st.sampled_from([0, -1, -(2**40), 2**70, 1e300, -1e-300, 0.5])
        return values.map(lambda v: (f"{list(draw_path)} = {v!r}", json.dumps(_set(doc, draw_path, v)).encode(),
                                     False))

    def nan(draw_path: tuple) -> st.SearchStrategy[Corruption]:
        token = st.sampled_from(["NaN", "Infinity", "-Infinity"])
        return token.map(lambda t: (f"{list(draw_path)} = {t}",
                                    json.dumps(_set(doc, draw_path, "@@")).replace('"@@"', t).encode(), True))

    def drop(draw_path: tuple) -> st.SearchStrategy[Corruption]:
        parent = leaf(draw_path[:-1]) if len(draw_path) > 1 else doc
        smaller = json.loads(json.dumps(doc))
        node = smaller
        for key in draw_path[:-1]:
            node = node[key]
        del node[draw_path[-1]]
        return st.just((f"{list(draw_path)} removed (from a {type(parent).__name__})",
                        json.dumps(smaller).encode(), False))

    if not paths:  # a free-form document: only the top level (a JSON object) is checked
        return st.sampled_from([[1], "text", 3]).map(lambda v: (f"document = {v!r}", json.dumps(v).encode(), True))
    numeric = [p for p in paths if isinstance(leaf(p), (int, float)) and not isinstance(leaf(p), bool)]
    kinds = [st.sampled_from(paths).flatmap(wrong_type), st.sampled_from(paths).flatmap(drop)]
    if numeric:
        kinds += [st.sampled_from(numeric).flatmap(number), st.sampled_from(numeric).flatmap(nan)]
    return st.one_of(*kinds)


def raster_level(arr: np.ndarray) -> st.SearchStrategy[Corruption]:
    """A raster of the wrong dtype, shape or values (every one of them invalid)."""
    T, N = arr.shape
    bad = [
        ("float counts", arr + 0.5),
        ("boolean", arr > 0),
        ("1-D", arr[:, 0]),
        ("4-D", arr[None, None]),
        ("one channel too many", np.concatenate([arr, arr[:, :1]], axis=1)),
        ("one channel too few", arr[:, :-1]),
        ("no steps", arr[:0]),
        ("negative count", np.where(np.arange(T * N).reshape(T, N) == 3, -1, arr)),
        ("count 16", np.where(np.arange(T * N).reshape(T, N) == 3, 16, arr)),
        ("huge uint64", (arr.astype(np.uint64) + np.uint64(2**63))),
        ("NaN", np.where(np.arange(T * N).reshape(T, N) == 3, np.nan, arr.astype(float))),
        ("1e300", np.where(np.arange(T * N).reshape(T, N) == 3, 1e300, arr.astype(float))),
        ("strings", arr.astype(str)),
        ("complex", arr.astype(complex)),
        ("objects (pickled)", arr.astype(object)),
    ]
    return st.sampled_from(bad).map(lambda lb: (lb[0], _npy(lb[1]), True))


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def record_level(record: dict[str, np.ndarray]) -> st.SearchStrategy[Corruption]:
    """A record with unknown keys, float or boolean arrays, wrong shapes, or no arrays at all."""
    first = sorted(record)[0]
    bad = [
        ("no arrays", {}),
        ("an unknown key", {**record, "Spikes_in": record[first]}),
        ("float arrays", {k: v.astype(float) + 0.5 for k, v in record.items()}),
        ("boolean arrays", {k: v > 0 for k, v in record.items()}),
        ("1-D arrays", {k: v.ravel() for k, v in record.items()}),
        ("one step short", {k: v[:-1] for k, v in record.items()}),
        ("one neuron more", {k: np.concatenate([v, v[:, :1]], axis=1) for k, v in record.items()}),
    ]
    return st.sampled_from(bad).map(lambda lb: (f"record with {lb[0]}", npz_bytes(lb[1]), True))
