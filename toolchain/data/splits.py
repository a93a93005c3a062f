"""Fixed, seeded, stratified train / validation / test splits.

Every class is shuffled with its own share of one seeded generator and cut by the same fractions, so
each split has (up to rounding) the class proportions of the whole set. The same seed gives the same
split on every machine; the test split is disjoint from the others and never used for fitting.
"""

from __future__ import annotations

import numpy as np

from hw_models.errors import InputError

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def stratified_split(labels: np.ndarray, seed: int, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
                     ) -> dict[str, np.ndarray]:
    """Indices ``{"train", "val", "test"}`` into ``labels``; per class ``n_train = round(f_train * n_c)``,
    ``n_val = round(f_val * n_c)``, the rest is test. Each split's order is shuffled (seeded)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or np.any(f <= 0) or not np.isclose(f.sum(), 1.0):
        raise InputError(f"split fractions must be three positive numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_train = int(np.floor(f[0] * idx.size + 0.5))
        n_val = int(np.floor(f[1] * idx.size + 0.5))
        parts["train"].append(idx[:n_train])
        parts["val"].append(idx[n_train:n_train + n_val])
        parts["test"].append(idx[n_train + n_val:])
    return {name: rng.permutation(np.concatenate(p)) for name, p in parts.items()}
