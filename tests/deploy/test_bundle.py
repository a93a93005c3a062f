"""Bundles: round trip, and every kind of damage refused with an error naming it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from deploy_netgen import random_config

from deploy.bundle import (
    FORMAT,
    BundleError,
    build_bundle,
    load_bundle,
    load_deployable,
    save_bundle,
    sha256,
    verify_bundle_bytes,
)

ENCODING = {"kind": "rate", "channels": 16, "max_rate_hz": 200.0}
NETWORK = {"format": "whatever/1", "layers": [{"n": 12, "tau_mem": 0.02}]}


@pytest.fixture(scope="module")
def config():
    return random_config(3, aliases=True, bias=True)


def rezip(data: bytes, edit) -> bytes:
    """Rebuild the archive after ``edit(members: dict[str, bytes])`` changed the members in place."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    edit(members)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return buf.getvalue()


def test_round_trip(tmp_path, config):
    path = save_bundle(tmp_path / "net.bundle", config, ENCODING, NETWORK, {"task": "yinyang"})
    b = load_bundle(path)
    assert b.config == config
    assert b.encoding == ENCODING and b.network == NETWORK
    assert b.metadata["chip"] == "xylo-audio2" and b.metadata["dt"] == config.dt
    assert b.metadata["task"] == "yinyang"
    assert b.metadata["versions"]["numpy"] and b.metadata["created_utc"].endswith("Z")
    assert b.manifest["format"] == FORMAT
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temporary file
    cfg, bundle = load_deployable(path)
    assert cfg == config and bundle is not None


def test_network_is_optional_and_bytes_are_deterministic(config):
    a = build_bundle(config, created="2026-01-01T00:00:00Z")
    assert a == build_bundle(config, created="2026-01-01T00:00:00Z")
    b = verify_bundle_bytes(a)
    assert b.network is None and "network.json" not in b.manifest["members"]


def test_tampered_member_is_refused(config):
    data = build_bundle(config, ENCODING)

    def edit(m):
        doc = json.loads(m["config.json"])
        doc["threshold"][0] += 1
        m["config.json"] = json.dumps(doc).encode()

    with pytest.raises(BundleError, match="config.json.*(SHA-256|bytes)"):
        verify_bundle_bytes(rezip(data, edit))

    def same_size(m):  # a change that keeps the size: only the hash can catch it
        m["encoding.json"] = m["encoding.json"].replace(b"rate", b"RATE")

    with pytest.raises(BundleError, match="encoding.json fails its SHA-256 check"):
        verify_bundle_bytes(rezip(data, same_size))


@pytest.mark.parametrize("cut", [0.3, 0.9, 0.999])
def test_truncated_archive_is_refused(config, cut):
    data = build_bundle(config, ENCODING, NETWORK)
    with pytest.raises(BundleError, match="truncated or corrupted"):
        verify_bundle_bytes(data[: int(len(data) * cut)])


def test_every_corrupted_byte_is_refused(config):
    """Flip bytes all over the archive (headers, compressed data, directory): never accepted, never a
    raw zlib/zip exception."""
    data = build_bundle(config, ENCODING, NETWORK, created="2026-01-01T00:00:00Z")
    for pos in range(0, len(data), 7):
        bad = bytearray(data)
        bad[pos] ^= 0xFF
        try:
            verify_bundle_bytes(bytes(bad))
        except BundleError:
            continue
        # a flip in a field zip ignores (e.g. a timestamp) may be harmless: content must be unchanged
        assert verify_bundle_bytes(bytes(bad)).config == config, pos


def test_foreign_version_is_refused(config):
    def edit(m):
        man = json.loads(m["manifest.json"])
        man["format"] = "spikeline.bundle/2"
        m["manifest.json"] = json.dumps(man).encode()

    with pytest.raises(BundleError, match="'spikeline.bundle/2' is not supported"):
        verify_bundle_bytes(rezip(build_bundle(config), edit))


def test_missing_extra_and_unlisted_members_are_refused(config):
    data = build_bundle(config, ENCODING, NETWORK)
    with pytest.raises(BundleError, match="network.json.*missing"):
        verify_bundle_bytes(rezip(data, lambda m: m.pop("network.json")))
    with pytest.raises(BundleError, match="evil.py.*not in the manifest"):
        verify_bundle_bytes(rezip(data, lambda m: m.update({"evil.py": b"print(1)"})))
    with pytest.raises(BundleError, match="no manifest.json"):
        verify_bundle_bytes(rezip(data, lambda m: m.pop("manifest.json")))

    def unlist(m):
        man = json.loads(m["manifest.json"])
        del man["members"]["metadata.json"]
        m["manifest.json"] = json.dumps(man).encode()

    with pytest.raises(BundleError, match="does not list the required member metadata.json"):
        verify_bundle_bytes(rezip(data, unlist))


def test_consistent_rewrite_that_contradicts_metadata_is_refused(config):
    """Rewriting config.json AND its manifest entry passes the hashes; the metadata check still bites."""
    def edit(m):
        doc = json.loads(m["config.json"])
        doc["dt"] = 2e-3
        blob = json.dumps(doc).encode()
        m["config.json"] = blob
        man = json.loads(m["manifest.json"])
        man["members"]["config.json"] = {"sha256": sha256(blob), "size": len(blob)}
        m["manifest.json"] = json.dumps(man).encode()

    with pytest.raises(BundleError, match="metadata dt=0.001 contradicts"):
        verify_bundle_bytes(rezip(build_bundle(config), edit))


def test_not_a_bundle(tmp_path, config):
    p = tmp_path / "config.json"
    config.save(p)
    with pytest.raises(BundleError, match="not a Spikeline bundle"):
        load_bundle(p)
    with pytest.raises(BundleError, match="cannot read"):
        load_bundle(tmp_path / "nope.bundle")
    assert load_deployable(p) == (config, None)


def test_unserialisable_encoding_is_an_error(config):
    with pytest.raises(BundleError, match="encoding cannot be stored as JSON"):
        build_bundle(config, {"rate": float("nan")})


MEMBERS = ["config.json", "encoding.json", "metadata.json", "network.json"]


def _same_size_edit(blob: bytes) -> bytes:
    """Change one digit (or letter) of a member without changing its size."""
    for pos, byte in enumerate(blob):
        if chr(byte).isdigit():
            return blob[:pos] + (b"7" if byte != ord("7") else b"3") + blob[pos + 1:]
    raise AssertionError("no digit to change")


@pytest.mark.parametrize("name", MEMBERS)
def test_every_member_is_hash_and_size_checked(config, name):
    """Each member, changed with its size kept (only SHA-256 can tell) and with its size changed."""
    data = build_bundle(config, ENCODING, NETWORK)
    with pytest.raises(BundleError, match=f"member {name} fails its SHA-256 check"):
        verify_bundle_bytes(rezip(data, lambda m: m.update({name: _same_size_edit(m[name])})))
    with pytest.raises(BundleError, match=f"member {name} has {{}} bytes".format(r"\d+")):
        verify_bundle_bytes(rezip(data, lambda m: m.update({name: m[name] + b" "})))


@pytest.mark.parametrize("name", MEMBERS)
def test_every_member_removed_is_refused(config, name):
    data = build_bundle(config, ENCODING, NETWORK)
    with pytest.raises(BundleError, match=f"{name}.*missing from the archive"):
        verify_bundle_bytes(rezip(data, lambda m: m.pop(name)))


@pytest.mark.parametrize("name", ["network.json", "extra.json", "config.json.bak", "../config.json"])
def test_a_member_added_is_refused(config, name):
    data = build_bundle(config, ENCODING)  # no network.json: adding one is an addition too
    with pytest.raises(BundleError, match="not in the manifest"):
        verify_bundle_bytes(rezip(data, lambda m: m.update({name: b"{}"})))


@pytest.mark.parametrize("edit, message", [
    (lambda man: man["members"]["config.json"].update(sha256="0" * 64), "config.json fails its SHA-256"),
    (lambda man: man["members"]["network.json"].update(size=1), "network.json has .* bytes"),
    (lambda man: man["members"]["encoding.json"].update(size="12"), "malformed"),
    (lambda man: man["members"].update({"config.json": "x"}), "malformed"),
    (lambda man: man.update(members=[]), "malformed"),
    (lambda man: man["members"].update({"evil.py": {"sha256": "0" * 64, "size": 1}}), "unknown member"),
    (lambda man: man.pop("format"), "format None is not supported"),
])
def test_manifest_tampering_is_refused(config, edit, message):
    data = build_bundle(config, ENCODING, NETWORK)

    def tamper(m):
        man = json.loads(m["manifest.json"])
        edit(man)
        m["manifest.json"] = json.dumps(man).encode()

    with pytest.raises(BundleError, match=message):
        verify_bundle_bytes(rezip(data, tamper))
    with pytest.raises(BundleError, match="manifest.json is not valid JSON"):
        verify_bundle_bytes(rezip(data, lambda m: m.update({"manifest.json": m["manifest.json"][:-3]})))


def _message(data: bytes, where: str = "net.bundle") -> str:
    with pytest.raises(BundleError) as err:
        verify_bundle_bytes(data, where)
    return str(err.value)


def test_every_refusal_names_the_file_and_the_member(config):
    """One line: the bundle's path first, then the member concerned (mutation testing pinned these)."""
    data = build_bundle(config, ENCODING, NETWORK)
    cases = {
        "truncated": (data[:-40], "net.bundle: the archive is truncated or corrupted"),
        "not a zip": (b"hello", "net.bundle: this is text, not a Spikeline bundle"),
        "manifest a list": (rezip(data, lambda m: m.update({"manifest.json": b"[1, 2]"})),
                            "net.bundle: bundle format None is not supported"),
        "manifest not JSON": (rezip(data, lambda m: m.update({"manifest.json": b"{"})),
                              "net.bundle: member manifest.json is not valid JSON"),
        "missing": (rezip(data, lambda m: m.pop("network.json")),
                    "net.bundle: member(s) network.json listed in the manifest are missing"),
        "added": (rezip(data, lambda m: m.update({"a.txt": b"", "b.txt": b""})),
                  "net.bundle: member(s) a.txt, b.txt are in the archive but not in the manifest"),
    }
    for name, (blob, start) in cases.items():
        assert _message(blob).startswith(start), name
    for member in ("encoding.json", "metadata.json", "network.json", "config.json"):
        def replace(m, member=member):  # rewrite a member AND its manifest entry: only its decoding can object
            m[member] = b"[1]" if member != "network.json" else b"{"
            man = json.loads(m["manifest.json"])
            man["members"][member] = {"sha256": sha256(m[member]), "size": len(m[member])}
            m["manifest.json"] = json.dumps(man).encode()
        msg = _message(rezip(data, replace))
        assert msg.startswith("net.bundle") and member in msg, (member, msg)


def test_metadata_records_sizes_date_and_versions(tmp_path, config):
    import re

    from deploy.bundle import is_bundle, package_versions

    meta = verify_bundle_bytes(build_bundle(config)).metadata
    assert (meta["n_inputs"], meta["n_hidden"], meta["n_outputs"]) == (16, 12, 3)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["created_utc"])
    assert meta["python"].count(".") == 2
    path = save_bundle(tmp_path / "b.bundle", config, created="2001-02-03T04:05:06Z")
    assert load_bundle(path).metadata["created_utc"] == "2001-02-03T04:05:06Z"
    assert package_versions(("numpy", "no-such-package-spikeline")) == {
        "numpy": __import__("numpy").__version__, "no-such-package-spikeline": None}
    assert not is_bundle(tmp_path / "missing.bundle") and is_bundle(path)


def test_non_finite_numbers_are_not_stored(config):
    with pytest.raises(BundleError, match="the encoding cannot be stored as JSON"):
        build_bundle(config, {"rate": float("nan")})
    with pytest.raises(BundleError, match="the network cannot be stored as JSON"):
        build_bundle(config, None, {"w": [float("inf")]})
    with pytest.raises(BundleError, match="the encoding must be a JSON object"):
        build_bundle(config, [1, 2])


@pytest.mark.parametrize("member", ["encoding.json", "metadata.json", "network.json"])
def test_a_member_that_is_not_json_is_named(tmp_path, config, member):
    def replace(m):
        m[member] = b"{oops"
        man = json.loads(m["manifest.json"])
        man["members"][member] = {"sha256": sha256(m[member]), "size": len(m[member])}
        m["manifest.json"] = json.dumps(man).encode()

    path = tmp_path / "x.bundle"
    path.write_bytes(rezip(build_bundle(config, ENCODING, NETWORK), replace))
    with pytest.raises(BundleError) as err:
        load_bundle(path)
    assert str(err.value).startswith(f"{path}: member {member} is not valid JSON")
    with pytest.raises(BundleError, match=f"^{tmp_path / 'none.bundle'}: cannot read the bundle"):
        load_bundle(tmp_path / "none.bundle")


def test_a_member_listed_twice_is_refused(config):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("manifest.json", b"{}")
        zf.writestr("manifest.json", b"{}")
    assert _message(buf.getvalue()).startswith("net.bundle: the archive lists a member twice")
