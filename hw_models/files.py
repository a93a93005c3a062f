"""Reading input files at the boundary: the right kind of file, or one line saying what it is instead.

Every loader (networks, chip configurations, rasters, records, bundles, encodings, checkpoints,
metrics) reads its file through these helpers, so a file of the wrong kind is named as such ("this is
a chip configuration, not a network") with the fix, instead of failing deep inside a decoder:

- :func:`read_bytes`: the file exists, is a file and is readable;
- :func:`file_kind`: what the bytes are (empty, zip archive, ``.npy`` array, checkpoint, binary,
  text), from their first bytes;
- :func:`read_json`: UTF-8 JSON (standard JSON only: ``NaN`` and ``Infinity`` are refused), and not a
  Spikeline document of another format;
- :func:`read_npy` / :func:`read_npz`: a numpy array / archive without pickled objects.

Errors are :class:`~hw_models.errors.InputError` (or what the caller's ``error`` factory builds),
``"{path}: {problem}; {fix}"``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.errors import InputError, SpikelineError

#: Leading bytes of the binary kinds Spikeline meets, and what to call them.
MAGIC_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (a Spikeline bundle or a numpy .npz)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x93NUMPY", "a numpy .npy array"),
    (b"SPIKELINE-CHECKPOINT", "a Spikeline training checkpoint"),
    (b"\x89HDF", "an HDF5 file (e.g. a NIR graph)"),
)
#: ``format`` prefixes of Spikeline's JSON documents, and what to call them.
JSON_KINDS: dict[str, str] = {
    "spikeline.chip-config/": "a chip configuration",
    "spikeline.network/": "a network",
    "spikeline.bundle/": "a bundle manifest",
    "spikeline.ram-image/": "a RAM image manifest",
}

ErrorFactory = Callable[[str], SpikelineError]


def _input_error(path: str | os.PathLike) -> ErrorFactory:
    return lambda message: InputError(f"{path}: {message}")


def read_bytes(path: str | os.PathLike, what: str, error: ErrorFactory | None = None) -> bytes:
    """The bytes of ``path``; a missing, unreadable path or a folder is refused naming ``what``."""
    fail = error or _input_error(path)
    p = Path(path)
    if p.is_dir():
        raise fail(f"is a folder; give the {what} file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read the {what} ({exc.strerror or exc})") from None


def file_kind(data: bytes) -> str:
    """What ``data`` is, in words: ``"text"`` for UTF-8 text, else e.g. ``"a numpy .npy array"``."""
    if not data:
        return "an empty file"
    for magic, kind in MAGIC_KINDS:
        if data.startswith(magic):
            return kind
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data (not UTF-8 text)"
    return "text"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (write finite numbers only)")


def json_kind(doc: Any) -> str | None:
    """The kind of Spikeline document ``doc`` is, from its ``format`` field (``None`` if not one)."""
    fmt = doc.get("format") if isinstance(doc, dict) else None
    for prefix, kind in JSON_KINDS.items():
        if isinstance(fmt, str) and fmt.startswith(prefix):
            return kind
    return None


def parse_json(data: bytes, what: str, fix: str, fail: ErrorFactory) -> Any:
    """Decode UTF-8 JSON bytes, naming the kind of file when they are not JSON at all."""
    kind = file_kind(data)
    if kind != "text":
        raise fail(f"this is {kind}, not {what} (JSON); {fix}")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON (line {exc.lineno}: {exc.msg}; truncated?); {fix}") from None
    except ValueError as exc:
        raise fail(f"not valid JSON ({exc}); {fix}") from None
    except RecursionError:
        raise fail(f"JSON nested too deeply; {fix}") from None


def read_json(path: str | os.PathLike, what: str, fix: str, *, expect: str | None = None,
              error: ErrorFactory | None = None) -> Any:
    """Read ``path`` as JSON. With ``expect`` (a ``format`` prefix such as ``"spikeline.network/"``,
    or ``""`` for "no Spikeline document"), a Spikeline document of another kind is refused by name
    ("this is a chip configuration, not a network")."""
    fail = error or _input_error(path)
    doc = parse_json(read_bytes(path, what, fail), what, fix, fail)
    found = json_kind(doc)
    if expect is not None and found is not None and found != JSON_KINDS.get(expect):
        raise fail(f"this is {found}, not {what}; {fix}")
    return doc


def read_npy(path: str | os.PathLike, what: str, fix: str, error: ErrorFactory | None = None) -> np.ndarray:
    """Read a single ``.npy`` array (no pickled objects)."""
    fail = error or _input_error(path)
    data = read_bytes(path, what, fail)
    kind = file_kind(data)
    if kind != MAGIC_KINDS[2][1]:
        raise fail(f"this is {kind}, not {what} (.npy); {fix}")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - a damaged header fails in numpy's parser in many ways
        reason = "it holds Python objects" if "pickle" in str(exc) else f"truncated or corrupted: {exc}"
        raise fail(f"cannot read {what} ({reason}); {fix}") from None
    return arr


def read_npz(path: str | os.PathLike, what: str, fix: str, error: ErrorFactory | None = None
             ) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` archive (no pickled objects) into a dict."""
    fail = error or _input_error(path)
    data = read_bytes(path, what, fail)
    kind = file_kind(data)
    if not data.startswith(b"PK"):
        raise fail(f"this is {kind}, not {what} (.npz); {fix}")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except Exception as exc:  # noqa: BLE001 - zip, zlib and numpy's header parser fail in many ways
        reason = "it holds Python objects" if "pickle" in str(exc) else f"truncated or corrupted: {exc}"
        raise fail(f"cannot read {what} ({reason}); {fix}") from None
