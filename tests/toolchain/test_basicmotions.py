"""The BasicMotions task (real IMU recordings from aeon): splits, coding, preset on Xylo IMU."""

from __future__ import annotations

import numpy as np
import pytest

from hw_models.errors import InputError
from toolchain.data import class_names, load_task
from toolchain.data.basicmotions import CLASSES, load_split

pytest.importorskip("aeon")


def test_splits_are_the_archives_test_and_a_disjoint_stratified_validation():
    task = load_task("basicmotions")
    assert (task.n_inputs, task.n_classes, task.duration) == (6, 4, pytest.approx(10.0))
    assert [len(task.split(s)) for s in ("train", "val", "test")] == [28, 12, 40]
    assert np.bincount(task.val.labels).tolist() == [3, 3, 3, 3]
    x_test, y_test = load_split("test")
    assert np.array_equal(task.test.labels, y_test) and np.array_equal(np.stack(task.test.features), x_test)
    x_train, _ = load_split("train")
    train_val = np.concatenate([np.stack(task.train.features), np.stack(task.val.features)])
    assert sorted(map(bytes, train_val)) == sorted(map(bytes, x_train))  # a partition of the archive's training set
    other = load_task("basicmotions", seed=1)  # another seed draws other validation recordings
    assert {bytes(x) for x in other.val.features} != {bytes(x) for x in task.val.features}
    assert class_names("basicmotions", 4) == list(CLASSES)


def test_rate_code_follows_the_signal_and_delta_code_doubles_the_channels():
    task = load_task("basicmotions")
    r = task.rasters("test")
    assert r.shape == (40, 100, 6) and 0 <= r.min() and r.max() <= 3
    # running moves the wrist more than standing: its rate-coded accelerometer varies more over time
    spread = r[..., :3].std(axis=1).mean(axis=1)
    labels = task.test.labels
    assert spread[labels == CLASSES.index("running")].mean() > 2 * spread[labels == CLASSES.index("standing")].mean()
    delta = load_task("basicmotions", encoding="delta", threshold=2.0)
    assert delta.n_inputs == 12 and delta.rasters("train").sum() > 0


def test_bad_options_are_refused():
    with pytest.raises(InputError, match="unknown BasicMotions encoding"):
        load_task("basicmotions", encoding="pcm")
    with pytest.raises(InputError, match="at most 15"):  # a threshold this small needs more than 15 events a step
        load_task("basicmotions", encoding="delta", threshold=0.1)
