"""Metrics as JSON lines: one JSON object per line (one per epoch, typically), written atomically.

Every change rewrites the whole file through a temporary file and a rename, so a crash never leaves a
half-written line. On ``--resume``, :meth:`MetricsLog.restore` rewrites the file from the checkpoint's
history, dropping lines of epochs after the checkpoint, so a resumed run ends with exactly the file
of an uninterrupted one. Values must be finite: a NaN loss is an error to report, not a number to log.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.atomic import atomic_write_text
from hw_models.errors import InputError
from hw_models.files import file_kind, read_bytes


def _check_finite(node: Any, where: str) -> None:
    if isinstance(node, float) and not math.isfinite(node):
        raise InputError(f"metric {where} is {node}; metrics must be finite (training diverged?)")
    if isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _check_finite(v, f"{where}[{i}]")


def encode_record(record: dict[str, Any]) -> str:
    """One line of strict JSON (no NaN/inf; numpy scalars become Python numbers)."""
    if not isinstance(record, dict):
        raise InputError(f"a metrics record is a dict, got {type(record).__name__}")
    plain = json.loads(json.dumps(record, default=_to_python))
    _check_finite(plain, "")
    return json.dumps(plain, allow_nan=False, separators=(",", ":"))


def _to_python(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise InputError(f"cannot write a {type(value).__name__} as a metric")


class MetricsLog:
    """A JSON-lines metrics file; :meth:`append` adds one record atomically. A new log starts empty:
    the first :meth:`append` replaces a file left by an earlier run (use :meth:`restore` to resume)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lines: list[str] = []

    def append(self, record: dict[str, Any]) -> None:
        line = encode_record(record)
        atomic_write_text(self.path, "".join(f"{x}\n" for x in [*self._lines, line]))
        self._lines.append(line)

    def restore(self, records: list[dict[str, Any]]) -> None:
        """Make the file hold exactly ``records`` (e.g. a checkpoint's history)."""
        lines = [encode_record(r) for r in records]
        atomic_write_text(self.path, "".join(f"{x}\n" for x in lines))
        self._lines = lines

    def read(self) -> list[dict[str, Any]]:
        return read_metrics(self.path)


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a JSON-lines metrics file; a malformed line raises InputError naming it."""
    data = read_bytes(path, "a metrics file")
    if file_kind(data) not in ("text", "an empty file"):
        raise InputError(f"{path}: this is {file_kind(data)}, not a metrics file (JSON lines)")
    records = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{n}: not a JSON line ({exc.msg})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}:{n}: a metrics line must be a JSON object")
        records.append(record)
    return records
