"""Progress bars for long loops outside training (verify's models, fine-tuning's batches), on stderr.

    >>> with progress_bar("float model", total=1000) as advance:
    ...     for sample in samples:
    ...         advance()

``enabled=False`` shows nothing (``--json``, ``--quiet``, library use); the bar disappears when done and one
line with the stage's count and time stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True,
                 console: Console | None = None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n=1)``; show a bar of ``total`` items while the block runs (when ``enabled``)."""
    if not enabled:
        yield lambda n=1: None
        return
    console = console or Console(stderr=True)
    start = time.perf_counter()
    with Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
    console.print(f"  {description}: {total} done in {time.perf_counter() - start:.1f} s", highlight=False)
