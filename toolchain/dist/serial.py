"""The default executor: everything in this process, nothing extra to install."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from toolchain.dist.base import Executor, available_cores


class SerialExecutor(Executor):
    workers = 1
    name = "serial"

    def __init__(self) -> None:
        self.threads = available_cores()

    def share(self, obj: Any) -> Any:
        return obj

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *shared: Any) -> list[Any]:
        return [fn(item, *shared) for item in items]
