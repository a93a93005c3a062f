"""scikit-learn's handwritten digits (UCI optical digits, test half): 1797 images of 8x8 pixels with
integer intensities 0..16, 10 classes. Ships inside scikit-learn, so it loads offline."""

from __future__ import annotations

import numpy as np

from toolchain.data.errors import DatasetUnavailable

N_CLASSES = 10
MAX_INTENSITY = 16.0  # pixel values are integers 0..16 by construction of the data set


def load_images() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 images ``(N, 8, 8)`` float64 in [0, 16] and labels ``(N,)`` int64."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DatasetUnavailable(
            "the digits data set comes with scikit-learn, which is not installed "
            "(pip install 'spikeline[data]' or pip install scikit-learn)") from exc
    bunch = load_digits()
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)
