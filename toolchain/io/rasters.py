"""Raster files: the chip's integer input counts, alone (``.npy``) or with their labels (``.npz``).

``spikeline encode`` writes an ``.npz`` (format ``spikeline.rasters/1``) with

=================  =====================================================================
``rasters``        int16 ``(B, T, N_in)`` spike counts per step and channel
``labels``         int64 ``(B,)`` class of each sample
``class_names``    ``(n_classes,)`` strings, in label order
``meta``           a JSON string: format, task, split, task options, dt, t_end, source
=================  =====================================================================

``sim``, ``hil`` and ``deploy --test-bench`` read either kind; a plain ``.npy`` holds the counts only,
``(T, N_in)`` or ``(B, T, N_in)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.atomic import atomic_save_with
from hw_models.errors import InputError
from hw_models.files import read_bytes, read_npy, read_npz

FORMAT = "spikeline.rasters/1"


@dataclass
class RasterFile:
    """Counts, and (from an ``.npz`` of ``spikeline encode``) labels, class names and how they were made."""

    rasters: np.ndarray
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def save_rasters(path: str | os.PathLike, rasters: np.ndarray, labels: np.ndarray, class_names: list[str],
                 meta: dict[str, Any]) -> Path:
    """Write an ``.npz`` raster file atomically (counts fit int16: the chip clips inputs at 15)."""
    doc = json.dumps({"format": FORMAT, **meta})
    return atomic_save_with(path, lambda fh: np.savez_compressed(
        fh, rasters=np.asarray(rasters, np.int16), labels=np.asarray(labels, np.int64),
        class_names=np.asarray(class_names, dtype=str), meta=np.asarray(doc)))


def load_rasters(path: str | os.PathLike) -> RasterFile:
    """Read a ``.npy`` raster or an ``.npz`` from ``spikeline encode``; refuse anything else in one line."""
    fix = "write one with `spikeline encode` or numpy.save('raster.npy', counts)"
    if read_bytes(path, "raster").startswith(b"PK"):
        data = read_npz(path, "a raster file", fix)
    else:
        return RasterFile(read_npy(path, "a raster", fix))
    if "rasters" not in data:
        raise InputError(f"{path}: an .npz raster file needs an array 'rasters' (it has "
                         f"{', '.join(data) or 'none'}); write one with `spikeline encode`")
    try:
        meta = json.loads(str(data["meta"])) if "meta" in data else {}
    except ValueError:
        raise InputError(f"{path}: its 'meta' entry is not JSON; {fix}") from None
    labels = data.get("labels")
    names = [str(n) for n in data["class_names"]] if "class_names" in data else None
    rasters = data["rasters"]
    if labels is not None and (labels.ndim != 1 or rasters.ndim != 3 or labels.size != rasters.shape[0]):
        raise InputError(f"{path}: {labels.size} labels for rasters of shape {rasters.shape}; they must "
                         "match one label per sample (B, T, N_in)")
    return RasterFile(rasters, labels, names, meta if isinstance(meta, dict) else {})
