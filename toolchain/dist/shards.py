"""Independent per-sample work split into contiguous sample ranges and mapped on an executor.

Samples that do not interact (verification, calibration's simulations) give the same per-sample results
however they are split; the caller concatenates the shards' results in sample order, so any reduction it then
takes runs in one fixed order and nothing depends on the executor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from toolchain.dist.base import Executor
from toolchain.progress import progress_bar

#: samples per shard by default: a progress step, and the unit an executor hands to a worker
CHUNK = 100


def sample_shards(n: int, executor: Executor, chunk: int | None = CHUNK, per_worker: int = 2
                  ) -> list[tuple[int, int]]:
    """Contiguous ranges ``(a, b)`` covering ``0..n``: at most ``chunk`` samples each (``None``: no cap), and at
    least ``per_worker`` per worker where ``n`` allows (one range on a one-worker executor without a cap)."""
    parts = max(-(-n // chunk) if chunk else 1, 1 if executor.workers == 1 else min(n, per_worker * executor.workers))
    bounds = np.linspace(0, n, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def map_shards(executor: Executor, fn: Callable[..., Any], n: int, *shared: Any, label: str = "",
               progress: bool = False, chunk: int | None = CHUNK, per_worker: int = 2) -> list[Any]:
    """``[fn((a, b), *shared) for (a, b) in sample_shards(...)]`` in shard order, one round of shards per worker at
    a time when a progress bar is shown (a step each), all at once otherwise."""
    shards = sample_shards(n, executor, chunk, per_worker)
    if not progress:
        return executor.map(fn, shards, *shared)
    out: list[Any] = []
    with progress_bar(label, n, progress) as advance:
        for first in range(0, len(shards), executor.workers):
            group = shards[first:first + executor.workers]
            out += executor.map(fn, group, *shared)
            advance(sum(b - a for a, b in group))
    return out


__all__ = ["CHUNK", "map_shards", "sample_shards"]
