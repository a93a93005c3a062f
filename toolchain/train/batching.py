"""Minibatches: a seeded shuffle of the sample indices each epoch, cut into batches."""

from __future__ import annotations

import numpy as np

from hw_models.errors import Violation
from toolchain.train.errors import raise_hyperparameter_violations


def minibatches(n_samples: int, batch_size: int, rng: np.random.Generator, shuffle: bool = True
                ) -> list[np.ndarray]:
    """Index arrays covering ``range(n_samples)`` once, each of ``batch_size`` (the last may be shorter).

    The order comes from ``rng.permutation`` (one call per epoch), so a generator restored from a
    checkpoint yields exactly the batches an uninterrupted run would have seen.
    """
    problems = []
    if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
        problems.append(Violation("n_samples", f"need at least one sample, got {n_samples!r}",
                                  value=repr(n_samples)))
    whole = isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool)
    if not (whole and batch_size >= 1):
        problems.append(Violation("batch_size", f"must be a whole number >= 1, got {batch_size!r}",
                                  value=repr(batch_size), limit=1, hint="e.g. 32"))
    raise_hyperparameter_violations(problems)
    order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
    return [order[i:i + batch_size] for i in range(0, n_samples, batch_size)]
