"""Deployment bundles: one verified file holding everything needed to run a network on a chip.

A bundle is a zip archive (format ``spikeline.bundle/1``) with these members:

=================  ==============================================================================
``manifest.json``  format version and, for every other member, its size and SHA-256
``config.json``    the :class:`~hw_models.config.ChipConfig` (``spikeline.chip-config/2``)
``encoding.json``  how raw data becomes the input raster (a JSON object, free-form)
``metadata.json``  chip, dt, package versions, UTC creation date (and anything the caller adds)
``network.json``   optional: the float network the configuration was compiled from (opaque JSON)
=================  ==============================================================================

:func:`load_bundle` refuses, with a :class:`BundleError` naming the problem, a file that is not a
zip, a truncated or corrupted archive, a foreign format version, missing or unexpected members, a
member whose size or SHA-256 differs from the manifest, and metadata that contradicts the
configuration. The hashes detect accidental or careless changes; they are not a signature (whoever
can rewrite the manifest can rewrite the hashes).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from hw_models.atomic import atomic_write_bytes
from hw_models.config import ChipConfig, from_json
from hw_models.errors import ConfigError, SpikelineError
from hw_models.files import file_kind, read_bytes

FORMAT = "spikeline.bundle/1"
MANIFEST = "manifest.json"
REQUIRED_MEMBERS = ("config.json", "encoding.json", "metadata.json")
OPTIONAL_MEMBERS = ("network.json",)
#: Packages whose versions are recorded in ``metadata.json``.
RECORDED_PACKAGES = ("spikeline", "numpy", "numba", "pydantic", "xylosim", "samna")
#: A fixed member timestamp keeps bundles byte-identical for identical contents.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


class BundleError(SpikelineError):
    """A bundle is missing, unreadable, tampered with, truncated or of a foreign format version."""


@dataclass
class Bundle:
    """The verified contents of a bundle."""

    config: ChipConfig
    encoding: dict[str, Any]
    metadata: dict[str, Any]
    network: Any = None
    manifest: dict[str, Any] = field(default_factory=dict)


def package_versions(names: tuple[str, ...] = RECORDED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (``None`` when not installed); nothing is imported."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = None
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(doc: Any, what: str) -> bytes:
    try:
        return (json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{what} cannot be stored as JSON: {exc} (use plain dicts, lists, "
                          "strings, finite numbers)") from None


def build_bundle(config: ChipConfig, encoding: dict[str, Any] | None = None, network: Any = None,
                 extra_metadata: dict[str, Any] | None = None, created: str | None = None) -> bytes:
    """The bytes of a bundle. ``created`` (ISO-8601 UTC) defaults to now."""
    if encoding is None:
        encoding = {"kind": "raster", "description": "integer spike counts per time step "
                                                    "(T, N_in), given directly"}
    if not isinstance(encoding, dict):
        raise BundleError(f"the encoding must be a JSON object (dict), got {type(encoding).__name__}")
    meta = {"chip": config.chip, "dt": config.dt, "n_inputs": config.n_inputs,
            "n_hidden": config.n_hidden, "n_outputs": config.n_outputs,
            "created_utc": created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "python": platform.python_version(), "versions": package_versions()}
    for key, value in (extra_metadata or {}).items():
        if key in meta:
            raise BundleError(f"extra metadata key {key!r} would overwrite a recorded field; "
                              "choose another name")
        meta[key] = value
    members = {"config.json": (config.to_json() + "\n").encode(),
               "encoding.json": _json_bytes(encoding, "the encoding"),
               "metadata.json": _json_bytes(meta, "the metadata")}
    if network is not None:
        members["network.json"] = _json_bytes(network, "the network")
    manifest = {"format": FORMAT,
                "members": {name: {"sha256": sha256(data), "size": len(data)}
                            for name, data in sorted(members.items())}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [(MANIFEST, _json_bytes(manifest, "the manifest")), *sorted(members.items())]:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def save_bundle(path: str | os.PathLike, config: ChipConfig, encoding: dict[str, Any] | None = None,
                network: Any = None, extra_metadata: dict[str, Any] | None = None,
                created: str | None = None) -> Path:
    """Write a bundle atomically (temporary file + rename) and return its path."""
    return atomic_write_bytes(path, build_bundle(config, encoding, network, extra_metadata, created))


def _read_members(data: bytes, where: str) -> dict[str, bytes]:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if data[:4] == b"PK\x03\x04":
            raise BundleError(f"{where}: the archive is truncated or corrupted (no zip directory "
                              "at the end); copy the bundle again from its source")
        raise BundleError(f"{where}: this is {file_kind(data)}, not a Spikeline bundle (a zip archive); "
                          "write one with `spikeline deploy config.json --bundle out.bundle`")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            if len(names) != len(set(names)):
                raise BundleError(f"{where}: the archive lists a member twice; it was assembled "
                                  "by hand or tampered with")
            return {name: zf.read(name) for name in names}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError) as exc:  # RuntimeError: a flipped "encrypted" flag bit
        raise BundleError(f"{where}: the archive is truncated or corrupted ({exc}); copy the "
                          "bundle again from its source") from None


def _parse_json(name: str, data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{where}: member {name} is not valid JSON ({exc})") from None


def verify_bundle_bytes(data: bytes, where: str = "bundle") -> Bundle:
    """Check and decode bundle bytes; raise :class:`BundleError` naming the first problem."""
    members = _read_members(data, where)
    if MANIFEST not in members:
        raise BundleError(f"{where}: no {MANIFEST}; this is not a Spikeline bundle")
    manifest = _parse_json(MANIFEST, members[MANIFEST], where)
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    if fmt != FORMAT:
        raise BundleError(f"{where}: bundle format {fmt!r} is not supported; this Spikeline reads "
                          f"{FORMAT!r} (a newer bundle needs a newer Spikeline, an older one must be "
                          "re-exported)")
    listed = manifest.get("members")
    if not isinstance(listed, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("size"), int)
            for v in listed.values()):
        raise BundleError(f"{where}: the manifest's member list is malformed")
    present = set(members) - {MANIFEST}
    for name in REQUIRED_MEMBERS:
        if name not in listed:
            raise BundleError(f"{where}: the manifest does not list the required member {name}")
    unknown = sorted(set(listed) - set(REQUIRED_MEMBERS) - set(OPTIONAL_MEMBERS))
    if unknown:
        raise BundleError(f"{where}: the manifest lists unknown member(s) {', '.join(unknown)}")
    missing = sorted(set(listed) - present)
    if missing:
        raise BundleError(f"{where}: member(s) {', '.join(missing)} listed in the manifest are "
                          "missing from the archive (truncated or tampered with)")
    extra = sorted(present - set(listed))
    if extra:
        raise BundleError(f"{where}: member(s) {', '.join(extra)} are in the archive but not in "
                          "the manifest (added after the bundle was written)")
    for name, entry in sorted(listed.items()):
        blob = members[name]
        if len(blob) != entry["size"]:
            raise BundleError(f"{where}: member {name} has {len(blob)} bytes, the manifest says "
                              f"{entry['size']} (truncated or tampered with)")
        if sha256(blob) != entry["sha256"]:
            raise BundleError(f"{where}: member {name} fails its SHA-256 check (content changed "
                              "after the bundle was written)")
    try:
        config = from_json(members["config.json"], source=f"{where}:config.json")
    except ConfigError as exc:
        raise BundleError(str(exc)) from None
    encoding = _parse_json("encoding.json", members["encoding.json"], where)
    meta = _parse_json("metadata.json", members["metadata.json"], where)
    if not isinstance(encoding, dict) or not isinstance(meta, dict):
        raise BundleError(f"{where}: encoding.json and metadata.json must hold JSON objects")
    for key in ("chip", "dt"):
        if meta.get(key) != getattr(config, key):
            raise BundleError(f"{where}: metadata {key}={meta.get(key)!r} contradicts the "
                              f"configuration's {key}={getattr(config, key)!r}")
    network = (_parse_json("network.json", members["network.json"], where)
               if "network.json" in listed else None)
    return Bundle(config=config, encoding=encoding, metadata=meta, network=network,
                  manifest=manifest)


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Read and verify a bundle file (see the module docstring for what is refused)."""
    p = Path(path)
    data = read_bytes(p, "bundle", lambda message: BundleError(f"{p}: {message}"))
    return verify_bundle_bytes(data, str(p))


def is_bundle(path: str | os.PathLike) -> bool:
    """True if ``path`` starts like a zip archive (a bundle, possibly damaged)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def load_deployable(path: str | os.PathLike) -> tuple[ChipConfig, Bundle | None]:
    """A configuration from a bundle (verified) or a chip-config JSON file (validated by the caller)."""
    if is_bundle(path):
        bundle = load_bundle(path)
        return bundle.config, bundle
    from hw_models.config import load_config

    return load_config(path, validate=False), None
