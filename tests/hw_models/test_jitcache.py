"""numba's disk cache is dropped whenever any kernel source changes (hw_models/jitcache.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

from hw_models import jitcache

ROOT = Path(jitcache.__file__).resolve().parent.parent


def fake_kernel(folder: Path):
    return SimpleNamespace(_cache=SimpleNamespace(_cache_path=str(folder)))


def test_a_stale_stamp_drops_the_kernels_cached_code_and_only_theirs(tmp_path):
    ours = [tmp_path / "kernel._simulate_sample-33.py311.nbi", tmp_path / "forward._grow-96.py311.nbc"]
    other = tmp_path / "somebody_else.f-1.py311.nbi"
    for f in [*ours, other]:
        f.write_text("machine code")
    (tmp_path / jitcache.STAMP).write_text("the digest of older sources")
    jitcache.drop_stale_cache(fake_kernel(tmp_path), digest="new")
    assert not any(f.exists() for f in ours) and other.exists()
    assert (tmp_path / jitcache.STAMP).read_text() == "new"
    for f in ours:  # compiled from the current sources: kept from now on
        f.write_text("fresh machine code")
    jitcache.drop_stale_cache(fake_kernel(tmp_path), digest="new")
    assert all(f.exists() for f in ours)
    jitcache.drop_stale_cache(fake_kernel(tmp_path), digest="after an edit")
    assert not any(f.exists() for f in ours)


def test_no_disk_cache_means_nothing_to_do(tmp_path):
    jitcache.drop_stale_cache(lambda: None)  # a plain function (NUMBA_DISABLE_JIT=1): no cache, no error


def test_the_digest_follows_every_kernel_source(tmp_path):
    for name in jitcache.KERNEL_SOURCES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    before = jitcache.sources_digest(tmp_path)
    assert before == jitcache.sources_digest(ROOT)
    for name in jitcache.KERNEL_SOURCES:
        original = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(original + b"# edited\n")
        assert jitcache.sources_digest.__wrapped__(tmp_path) != before, name
        (tmp_path / name).write_bytes(original)


def test_every_kernel_module_is_listed_cached_and_stamped():
    """A module with numba kernels that is missing from KERNEL_SOURCES (or not cached, or never stamped)
    would run stale machine code after an edit of what it compiles in."""
    found = set()
    for path in [*ROOT.glob("hw_models/*.py"), *ROOT.glob("toolchain/**/*.py")]:
        text = path.read_text()
        if not re.search(r"^@(njit|register_jitable)\b", text, re.M):
            continue
        name = path.relative_to(ROOT).as_posix()
        found.add(name)
        if re.search(r"^@njit\b", text, re.M):
            assert not re.search(r"@njit\((?![^)]*cache=True)", text) and "@njit\n" not in text, name
            assert "drop_stale_cache(" in text, name
    assert found == set(jitcache.KERNEL_SOURCES)
