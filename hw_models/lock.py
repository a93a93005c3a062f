"""One writer per output folder: a lock file holding the writer's process id and host.

``with folder_lock(out, "training run"):`` refuses, with a :class:`FolderLocked` error naming the other
writer, a second process writing into the same folder (two interleaved runs would corrupt each other's
checkpoints and metrics). A lock left behind by a process that no longer runs (killed with SIGKILL,
power loss) is stale: it is replaced, with a note on stderr saying so.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from hw_models.errors import SpikelineError

LOCK_NAME = ".spikeline.lock"


class FolderLocked(SpikelineError):
    """Another live process is writing into the folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holder(lock: Path) -> tuple[int | None, str]:
    try:
        pid, _, host = lock.read_text(encoding="utf-8").strip().partition(" ")
        return int(pid), host
    except (OSError, ValueError):
        return None, ""


def _create(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {socket.gethostname()}\n")
    return True


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "run") -> Iterator[Path]:
    """Hold ``folder``'s lock for the duration of the ``with`` block (see the module docstring)."""
    lock = Path(folder) / LOCK_NAME
    lock.parent.mkdir(parents=True, exist_ok=True)
    if not _create(lock):
        pid, host = _holder(lock)
        here = socket.gethostname()
        stale = pid is not None and host == here and pid != os.getpid() and not _alive(pid)
        if stale:
            print(f"note: {folder}: replacing the lock of {what} pid {pid}, which is no longer running "
                  "(killed?); its last checkpoint is intact", file=sys.stderr)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
        if not (stale and _create(lock)):
            pid, host = _holder(lock)  # whoever holds it now
            who = f"pid {pid} on {host}" if pid is not None else "a process that left no readable id"
            hint = "" if pid is not None and host == here else f"; if that process is gone, delete {lock}"
            raise FolderLocked(f"{folder}: another {what} ({who}) is writing to this folder; wait for it to "
                               f"finish or choose another output folder{hint}")
    try:
        yield lock
    finally:
        if _holder(lock)[0] == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
