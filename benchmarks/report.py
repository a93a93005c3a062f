"""Write one benchmark's results into its own section of docs/benchmarks.md (atomically).

Each script owns a section delimited by ``<!-- begin: NAME -->`` / ``<!-- end: NAME -->``; other
sections are left untouched, so scripts can be rerun in any order.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path

from hw_models.atomic import atomic_write_text

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = ("# Benchmarks\n\nEvery figure here was measured by a script in `benchmarks/`, which times Spikeline "
          "and its anchor in the same run. Rerun a script to refresh its section.\n")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
            f"{_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}")


def update_section(name: str, markdown: str, doc: Path = DOC) -> Path:
    text = doc.read_text() if doc.exists() else HEADER
    block = f"<!-- begin: {name} -->\n{markdown.strip()}\n<!-- end: {name} -->"
    pattern = re.compile(rf"<!-- begin: {re.escape(name)} -->.*?<!-- end: {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    return atomic_write_text(doc, text)
