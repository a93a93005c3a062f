"""The Yin-Yang data set (Kriener, Goeltz, Petrovici 2021), generated locally.

Identical to the published generator (``lkriener/yin_yang_data_set``, ``dataset.py``): for each sample
draw a goal class ``randint(3)``, then draw points ``(x, y) = rand(2) * 2 r_big`` until one lies in the
disc of radius ``r_big`` around ``(r_big, r_big)`` and has the goal class. Features are
``(x, y, 1 - x, 1 - y)``. The published splits: train 5000 samples with seed 42, validation 1000 with
seed 41, test 1000 with seed 40 (train class counts 1681 / 1702 / 1617).

The draws come from ``np.random.RandomState(seed)``: the same legacy Mersenne-Twister stream, in the
same call order, as the original ``np.random.seed(seed)`` followed by global ``np.random`` calls, so
the numbers are bit-identical, and the caller's global numpy RNG is never touched.
"""

from __future__ import annotations

import numpy as np

from hw_models.errors import InputError

R_SMALL = 0.1
R_BIG = 0.5
#: split name -> (size, seed) of the published data set
SPLITS: dict[str, tuple[int, int]] = {"train": (5000, 42), "val": (1000, 41), "test": (1000, 40)}
CLASS_NAMES = ("0: yin", "1: yang", "2: dot")


def which_class(x: float, y: float, r_small: float = R_SMALL, r_big: float = R_BIG) -> int:
    """Class of the point ``(x, y)``: 2 inside a dot, 1 in the yang region, 0 in the yin region."""
    d_right = np.sqrt((x - 1.5 * r_big) ** 2 + (y - r_big) ** 2)
    d_left = np.sqrt((x - 0.5 * r_big) ** 2 + (y - r_big) ** 2)
    if d_right < r_small or d_left < r_small:
        return 2
    criterion1 = d_right <= r_small
    criterion2 = r_small < d_left <= 0.5 * r_big
    criterion3 = y > r_big and d_right > 0.5 * r_big
    return int(criterion1 or criterion2 or criterion3)


def generate(size: int, seed: int, r_small: float = R_SMALL, r_big: float = R_BIG
             ) -> tuple[np.ndarray, np.ndarray]:
    """``size`` samples: features ``(size, 4)`` float64 in [0, 1] and labels ``(size,)`` int64."""
    if not (isinstance(size, (int, np.integer)) and size >= 0):
        raise InputError(f"Yin-Yang size must be a non-negative integer, got {size!r}")
    rng = np.random.RandomState(seed)
    features = np.empty((size, 4), dtype=np.float64)
    labels = np.empty(size, dtype=np.int64)
    for i in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * r_big
            if np.sqrt((x - r_big) ** 2 + (y - r_big) ** 2) > r_big:
                continue
            if which_class(x, y, r_small, r_big) == goal:
                break
        features[i] = (x, y, 1.0 - x, 1.0 - y)
        labels[i] = goal
    return features, labels


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """One published split (``train``, ``val`` or ``test``) as ``(features, labels)``."""
    if split not in SPLITS:
        raise InputError(f"unknown Yin-Yang split {split!r}; valid: {', '.join(SPLITS)}")
    size, seed = SPLITS[split]
    return generate(size, seed)
