"""Data files shipped inside pip packages, located without importing the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from toolchain.data.errors import DatasetUnavailable


def packaged_file(package: str, relative: str, what: str, install: str) -> Path:
    """``<package folder>/<relative>``; :class:`DatasetUnavailable` with the ``install`` command if the package
    (or the file) is missing. ``what`` names the data in the message."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailable(f"{what} ship inside the {package} package, which is not installed; install "
                                 f"it with: {install}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise DatasetUnavailable(f"{package} is installed but {path} is missing; reinstall with: {install} "
                                 "--force-reinstall")
    return path
