"""Training checkpoints: everything needed to resume a run exactly, in one atomically written file.

A checkpoint holds the parameters, the optimiser state, the random generator state, the number of
completed epochs, the metrics history and free-form JSON (``extra``: configuration, task, seeds).

File layout (format ``spikeline.checkpoint/1``)::

    MAGIC | header length (8 bytes, big endian) | header (UTF-8 JSON) | payload (.npz) | SHA-256 (32 bytes)

The header holds the format and the content tree with every numpy array replaced by
``{"__array__": key}``; the arrays are in the ``.npz`` payload (read with ``allow_pickle=False``). The
SHA-256 covers everything before it, so a truncated, tampered with or foreign file is refused with
:class:`CheckpointError`. Floats go through JSON with ``repr`` precision, so values round-trip exactly.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.atomic import atomic_write_bytes
from hw_models.files import file_kind, read_bytes
from toolchain.train.errors import CheckpointError

FORMAT = "spikeline.checkpoint/1"
MAGIC = b"SPIKELINE-CHECKPOINT\n"
_ARRAY = "__array__"
_DIGEST = 32


@dataclass
class Checkpoint:
    """The state of a training run after ``epoch`` completed epochs."""

    epoch: int
    params: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    rng_state: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The exact state of a numpy Generator (restore with :func:`rng_from_state`)."""
    return rng.bit_generator.state


def rng_from_state(state: dict[str, Any]) -> np.random.Generator:
    """A numpy Generator in exactly the saved state."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    bit_generator = getattr(np.random, str(name), None)
    if not (isinstance(bit_generator, type) and issubclass(bit_generator, np.random.BitGenerator)):
        raise CheckpointError(f"unknown random bit generator {name!r} in checkpoint")
    generator = bit_generator()
    generator.state = state
    return np.random.Generator(generator)


def _split_arrays(node: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON tree of ``node`` with arrays moved into ``arrays`` (keyed by their path)."""
    if isinstance(node, np.ndarray):
        if node.dtype == object:
            raise CheckpointError(f"{path}: object arrays cannot be stored in a checkpoint")
        if path in arrays:
            raise CheckpointError(f"{path}: two arrays map to this path (avoid '/' in names)")
        arrays[path] = node
        return {_ARRAY: path}
    if isinstance(node, np.generic):
        return node.item()
    if isinstance(node, dict):
        if _ARRAY in node:
            raise CheckpointError(f"{path}: the key {_ARRAY!r} is reserved")
        if not all(isinstance(k, str) for k in node):
            raise CheckpointError(f"{path}: dictionary keys must be strings")
        return {k: _split_arrays(v, f"{path}/{k}", arrays) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_split_arrays(v, f"{path}/{i}", arrays) for i, v in enumerate(node)]
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise CheckpointError(f"{path}: cannot store a {type(node).__name__} in a checkpoint")


def _join_arrays(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(node, dict):
        if set(node) == {_ARRAY}:
            if node[_ARRAY] not in arrays:
                raise CheckpointError(f"checkpoint refers to a missing array {node[_ARRAY]!r}")
            return arrays[node[_ARRAY]]
        return {k: _join_arrays(v, arrays) for k, v in node.items()}
    if isinstance(node, list):
        return [_join_arrays(v, arrays) for v in node]
    return node


def encode_checkpoint(ckpt: Checkpoint) -> bytes:
    """The bytes of a checkpoint file."""
    tree = {"epoch": int(ckpt.epoch), "params": ckpt.params, "optimizer": ckpt.optimizer,
            "rng_state": ckpt.rng_state, "history": ckpt.history, "extra": ckpt.extra}
    arrays: dict[str, np.ndarray] = {}
    content = _split_arrays(tree, "", arrays)
    payload = io.BytesIO()
    np.savez(payload, **{f"a{i}": a for i, a in enumerate(arrays.values())})
    header = json.dumps({"format": FORMAT, "arrays": {path: f"a{i}" for i, path in enumerate(arrays)},
                         "payload_bytes": payload.getbuffer().nbytes, "content": content}).encode()
    body = MAGIC + len(header).to_bytes(8, "big") + header + payload.getvalue()
    return body + hashlib.sha256(body).digest()


def decode_checkpoint(data: bytes, source: str = "checkpoint") -> Checkpoint:
    """Parse checkpoint bytes; :class:`CheckpointError` if they are not an intact checkpoint."""
    if not data.startswith(MAGIC):
        raise CheckpointError(f"{source} is {file_kind(data)}, not a Spikeline checkpoint (wrong file type)")
    if len(data) < len(MAGIC) + 8 + _DIGEST:
        raise CheckpointError(f"{source} is truncated ({len(data)} bytes)")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointError(f"{source} is corrupted or truncated (SHA-256 mismatch); "
                              "resume from an earlier checkpoint or start over")
    n_header = int.from_bytes(body[len(MAGIC):len(MAGIC) + 8], "big")
    start = len(MAGIC) + 8
    try:
        header = json.loads(body[start:start + n_header].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{source} has an unreadable header: {exc}") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{source} has format {header.get('format')!r}; this version of Spikeline "
                              f"reads {FORMAT!r}")
    payload = body[start + n_header:]
    if len(payload) != header.get("payload_bytes"):
        raise CheckpointError(f"{source}: payload is {len(payload)} bytes, header says "
                              f"{header.get('payload_bytes')}")
    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        arrays = {path: z[name] for path, name in header["arrays"].items()}
    tree = _join_arrays(header["content"], arrays)
    return Checkpoint(epoch=tree["epoch"], params=tree["params"], optimizer=tree["optimizer"],
                      rng_state=tree["rng_state"], history=tree["history"], extra=tree["extra"])


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` atomically (temporary file + rename): readers see the old file or the new one."""
    return atomic_write_bytes(path, encode_checkpoint(ckpt))


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint, refusing missing, truncated, tampered with or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    data = read_bytes(path, "checkpoint", lambda message: CheckpointError(f"{path}: {message}"))
    return decode_checkpoint(data, source=str(path))


def require_same_settings(saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to ``--resume`` with other settings than the checkpoint's: :class:`CheckpointError`
    listing every setting that differs (compared after a JSON round trip, so tuples equal lists)."""
    saved, current = json.loads(json.dumps(saved)), json.loads(json.dumps(current))
    unset = "<unset>"
    diffs = [f"{k}: {saved.get(k, unset)!r} in the checkpoint, {current.get(k, unset)!r} now"
             for k in sorted(set(saved) | set(current)) if saved.get(k, unset) != current.get(k, unset)]
    if diffs:
        raise CheckpointError("cannot resume with different settings (start a new run, or use the "
                              "checkpoint's settings):\n  - " + "\n  - ".join(diffs))
