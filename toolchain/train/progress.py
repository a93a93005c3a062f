"""A rich progress bar for training: epoch, batches, and running loss, accuracy and spikes per sample."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainingProgress:
    """Use as a context manager::

        with TrainingProgress(n_epochs=10) as bar:
            for epoch in range(10):
                bar.start_epoch(epoch, n_batches)
                for ...:
                    bar.advance(loss, correct_fraction, spikes_per_sample, batch_size)
                bar.end_epoch({"val_accuracy": 0.9})

    The bar shows the running means of the current epoch, weighted by batch size; ``end_epoch``
    prints one summary line per epoch. ``disable=True`` shows nothing (e.g. ``--quiet``).
    """

    def __init__(self, n_epochs: int, console: Console | None = None, disable: bool = False):
        self.n_epochs = n_epochs
        self.console = console or Console(stderr=True)
        self.disable = disable
        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  acc {task.fields[acc]}"),
            TextColumn("spikes/sample {task.fields[spikes]}"),
            TimeElapsedColumn(), console=self.console, disable=disable, transient=True)
        self._task: Any = None
        self._sums = {"loss": 0.0, "accuracy": 0.0, "spikes": 0.0, "n": 0}
        self._epoch = 0

    def __enter__(self) -> TrainingProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start_epoch(self, epoch: int, n_batches: int) -> None:
        """Begin epoch ``epoch`` (counted from 0) of ``n_batches`` batches."""
        self._epoch = epoch
        self._sums = {"loss": 0.0, "accuracy": 0.0, "spikes": 0.0, "n": 0}
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task("train", total=n_batches, **self._fields())

    def advance(self, loss: float, accuracy: float, spikes_per_sample: float, batch_size: int = 1) -> None:
        """Record one batch: its mean loss, accuracy (fraction correct) and spikes per sample."""
        s = self._sums
        s["loss"] += loss * batch_size
        s["accuracy"] += accuracy * batch_size
        s["spikes"] += spikes_per_sample * batch_size
        s["n"] += batch_size
        self._progress.update(self._task, advance=1, **self._fields())

    def running(self) -> dict[str, float]:
        """The epoch's running means so far."""
        n = max(self._sums["n"], 1)
        return {k: self._sums[k] / n for k in ("loss", "accuracy", "spikes")}

    def end_epoch(self, summary: dict[str, Any] | None = None) -> None:
        """Print one line for the finished epoch: running means plus ``summary`` (e.g. validation)."""
        r = self.running()
        parts = [f"epoch {self._epoch + 1}/{self.n_epochs}", f"loss {r['loss']:.4f}",
                 f"acc {100 * r['accuracy']:.1f}%", f"spikes/sample {r['spikes']:.1f}"]
        parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in (summary or {}).items()]
        if not self.disable:
            self.console.print("  ".join(parts), highlight=False)

    def _fields(self) -> dict[str, str]:
        r = self.running()
        empty = self._sums["n"] == 0
        return {"epoch": f"{self._epoch + 1}/{self.n_epochs}",
                "loss": "-" if empty else f"{r['loss']:.4f}",
                "acc": "-" if empty else f"{100 * r['accuracy']:.1f}%",
                "spikes": "-" if empty else f"{r['spikes']:.1f}"}
