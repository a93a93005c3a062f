"""The executor interface and the ``--scheduler`` syntax."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hw_models.errors import SpikelineError

SCHEDULER_HELP = ("where the work runs: 'serial' (this process, the default), 'local:N' (a Dask LocalCluster of N "
                  "worker processes), 'tcp://HOST:PORT' (a running Dask scheduler) or a Dask scheduler file (.json); "
                  "results are the same on every scheduler")


def available_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class SchedulerError(SpikelineError):
    """A scheduler that cannot be used, or that went away while work was running."""


def parse_scheduler(value: str | None) -> tuple[str, Any]:
    """``None``/``serial`` -> ("serial", None); ``local:N`` -> ("local", N); an address or file -> its kind."""
    if value is None or value == "" or value == "serial":
        return "serial", None
    if not isinstance(value, str):
        raise SchedulerError(f"--scheduler must be text, got {value!r}")
    m = re.fullmatch(r"local:(\d+)", value)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise SchedulerError(f"--scheduler {value}: a local cluster needs at least 1 worker "
                                 "(local:1, local:2, ...)")
        return "local", n
    if re.fullmatch(r"(tcp|tls|inproc|ucx)://[^\s/]+(:\d+)?/?", value):
        return "address", value
    if value.endswith(".json"):
        if not Path(value).is_file():
            raise SchedulerError(f"--scheduler {value}: no such scheduler file (dask scheduler "
                                 "--scheduler-file FILE writes one)")
        return "file", value
    raise SchedulerError(f"--scheduler {value!r} is not understood; use 'serial', 'local:N', 'tcp://HOST:PORT' or "
                         "a scheduler file ending in .json")


class Executor:
    """Maps a function over items, results in item order. Use as a context manager."""

    #: worker processes (1 for the serial executor)
    workers: int = 1
    #: how the executor was named (``serial``, ``local:2``, ``tcp://...``)
    name: str = "serial"
    #: threads one task may use for compiled work (the batched engine): the cores it has to itself
    threads: int = 1

    def share(self, obj: Any) -> Any:
        """A handle for ``obj`` to pass to :meth:`map`: sent to the workers once."""
        raise NotImplementedError

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *shared: Any) -> list[Any]:
        """``[fn(item, *shared_objects) for item in items]``, computed wherever the executor runs work."""
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (nothing for the serial executor)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
