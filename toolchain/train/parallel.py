"""Use both cores: map a function over samples in worker processes, results in input order.

Results come back in the order of the inputs whatever the number of workers, so a sum of per-sample
gradients taken in that order is bit-identical with 1 or 2 workers. Workers are started once per
:class:`SampleMap` (``spawn``: safe with numba's thread pools) and reused for every batch; the mapped
function must be importable (a module-level function) and its arguments picklable.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from hw_models.errors import Violation
from toolchain.train.errors import raise_hyperparameter_violations


def default_workers() -> int:
    """The cores this process may use (2 on the project's machines)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class SampleMap:
    """``with SampleMap(workers=2) as pmap: results = pmap(fn, items)``; ``workers=1`` runs inline."""

    def __init__(self, workers: int | None = None):
        workers = default_workers() if workers is None else workers
        ok = isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1
        raise_hyperparameter_violations([None if ok else Violation(
            "workers", f"must be a whole number >= 1, got {workers!r}", value=repr(workers), limit=1)])
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> SampleMap:
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __call__(self, fn: Callable[..., Any], items: Iterable[Any]) -> list[Any]:
        items = list(items)
        if self._pool is None or len(items) < 2:
            return [fn(item) for item in items]
        chunk = max(1, math.ceil(len(items) / (4 * self.workers)))
        return list(self._pool.map(fn, items, chunksize=chunk))
