"""Errors of the data package."""

from __future__ import annotations

from hw_models.errors import SpikelineError


class DatasetUnavailable(SpikelineError):
    """A data set's files are not installed here; the message gives the install command."""
