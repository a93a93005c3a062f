"""The Spikeline exception family.

Every error the package raises on purpose derives from :class:`SpikelineError`, so a caller can catch
the whole family with one ``except``. Configuration problems carry *every* violation found, each with
the field, index, value, limit and a hint, so a user fixes them all in one go.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class SpikelineError(Exception):
    """Root of every error Spikeline raises on purpose."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (field, index), what (value), the rule (limit) and how to fix it (hint)."""

    field: str
    message: str
    index: tuple[int, ...] | None = None
    value: Any = None
    limit: Any = None
    hint: str = ""

    def __str__(self) -> str:
        where = self.field + ("" if self.index is None else str(list(self.index)))
        text = f"{where}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["index"] = None if self.index is None else list(self.index)
        for key in ("value", "limit"):
            if d[key] is not None and not isinstance(d[key], (int, float, str, bool, list)):
                d[key] = str(d[key])
        return d


class ConfigError(SpikelineError):
    """A chip configuration (or a file claiming to be one) breaks one or more rules."""

    def __init__(self, violations: list[Violation], source: str | None = None):
        self.violations = list(violations)
        self.source = source
        head = f"{source}: " if source else ""
        n = len(self.violations)
        lines = [f"{head}{n} configuration problem{'s' if n != 1 else ''}:"]
        lines += [f"  - {v}" for v in self.violations]
        super().__init__("\n".join(lines))


class InputError(SpikelineError):
    """An input (raster, array, file) has the wrong shape, type or values."""


class OutputError(SpikelineError):
    """A result cannot be written (folder not writable, disk full, a folder where a file should go)."""


class BackendUnavailable(SpikelineError):
    """A simulation or hardware backend cannot be used here (missing package, no device)."""
