"""Formats in and out of Spikeline, one module per format, behind ``spikeline export`` / ``import``.

Each format module is imported on demand (its optional dependency never breaks another format) and
offers one or both of::

    export(source: Network | ChipConfig, out: Path, **options) -> Path
    import_file(path: Path, **options) -> Network | ChipConfig

``FORMATS`` maps a format name to its module; ``EXTENSIONS`` picks the format from a file name when
``--format`` is not given. Add a format by adding a module and a line to each table.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

from hw_models.errors import SpikelineError

#: format name -> module implementing it
FORMATS: dict[str, str] = {
    "nir": "toolchain.io.nir",
    "onnx": "toolchain.io.onnx",
    "rockpool": "toolchain.io.rockpool",
}
#: file-name ending -> format name
EXTENSIONS: dict[str, str] = {
    ".nir": "nir",
    ".onnx": "onnx",
}


class FormatError(SpikelineError):
    """A file cannot be converted: wrong kind, unsupported content, or a missing optional package."""


def refuse_options(options: dict, allowed: tuple[str, ...], what: str) -> dict:
    """The options that were given (not ``None``); a clear error for any that ``what`` does not take."""
    given = {k: v for k, v in options.items() if v is not None}
    extra = sorted(k for k in given if k not in allowed)
    if extra:
        def flag(k: str) -> str:
            return "--" + k.replace("_", "-")
        takes = ", ".join(map(flag, allowed)) if allowed else "no options"
        raise FormatError(f"{what} does not take {', '.join(map(flag, extra))} (it takes: {takes})")
    return given


def format_for(path: str | Path, given: str | None) -> str:
    """The format named by ``given``, or else the one ``path``'s ending implies."""
    if given:
        if given not in FORMATS:
            raise FormatError(f"unknown format {given!r}; choose one of {', '.join(sorted(FORMATS))}")
        return given
    name = Path(path).name.lower()
    for ending, fmt in sorted(EXTENSIONS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(ending):
            return fmt
    raise FormatError(f"{path}: cannot tell the format from the file name; pass --format "
                      f"({', '.join(sorted(FORMATS))})")


def format_module(fmt: str) -> ModuleType:
    return importlib.import_module(FORMATS[fmt])


def load_source(path: str | Path):
    """A Spikeline network or chip configuration file, whichever ``path`` holds (by its ``format``)."""
    from hw_models.config import load_config
    from toolchain.network import load_network

    p = Path(path)
    try:
        doc = json.loads(p.read_bytes())
        kind = doc.get("format", "") if isinstance(doc, dict) else ""
    except (OSError, ValueError):
        kind = ""
    if str(kind).startswith("spikeline.chip-config/"):
        return load_config(p)
    if str(kind).startswith("spikeline.network/"):
        return load_network(p)
    raise FormatError(f"{p}: not a Spikeline network (network.json) or chip configuration "
                      "(config.json); export takes one of those")
