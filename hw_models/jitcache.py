"""numba's disk cache for every compiled kernel, dropped whenever any kernel source changes.

numba caches a kernel's machine code beside its source (``__pycache__``, or a user cache folder when that is
read-only) and reuses it while *that one file* is unchanged. Kernels compile in functions from other files
(``hw_models.arith`` into the simulator kernel, ``toolchain.lif.kernels`` into the forward pass and the
gradients), so an edit there would leave stale machine code running. Here every cache folder carries a stamp,
the SHA-256 of all the kernel sources of :data:`KERNEL_SOURCES` together; when it differs, every cached kernel of
those modules in that folder is deleted before anything loads it, and numba compiles afresh (about a minute,
once). A fresh process then starts in about a second instead of compiling for tens of seconds.

Each kernel module calls :func:`drop_stale_cache` with one of its kernels right after defining them.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from hw_models.atomic import atomic_write_text

#: every file that defines or compiles in numba kernels, relative to the folder holding hw_models/ and toolchain/
KERNEL_SOURCES = ("hw_models/arith.py", "hw_models/kernel.py", "toolchain/lif/kernels.py", "toolchain/lif/forward.py",
                  "toolchain/grad/fp_reverse.py", "toolchain/grad/eventprop.py", "toolchain/grad/hm2bp.py",
                  "toolchain/grad/batch_kernels.py", "toolchain/grad/batched.py")
STAMP = "spikeline-kernels.sha256"
ROOT = Path(__file__).resolve().parent.parent


@cache
def sources_digest(root: Path = ROOT) -> str:
    """SHA-256 over the kernel sources (name and bytes of each, in :data:`KERNEL_SOURCES` order)."""
    h = hashlib.sha256()
    for name in KERNEL_SOURCES:
        h.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return h.hexdigest()


def drop_stale_cache(kernel, digest: str | None = None) -> None:
    """Delete the cached machine code in ``kernel``'s cache folder unless its stamp is the sources' digest.

    ``kernel`` is any ``@njit(cache=True)`` dispatcher of the calling module; without a disk cache (JIT off,
    ``cache=False``, another numba) there is nothing to do."""
    try:
        folder = Path(kernel._cache._cache_path)
    except AttributeError:
        return
    digest = digest or sources_digest()
    stamp = folder / STAMP
    try:
        if stamp.read_text().strip() == digest:
            return
    except OSError:
        pass
    stems = {Path(name).stem for name in KERNEL_SOURCES}
    for old in [*folder.glob("*.nbi"), *folder.glob("*.nbc")]:
        if old.name.split(".", 1)[0] in stems:
            old.unlink(missing_ok=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stamp, digest)
    except OSError:
        pass  # a read-only install: numba does not cache there either
