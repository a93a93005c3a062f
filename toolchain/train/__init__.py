"""The trainer's machinery: Adam + learning-rate schedules + clipping, the chip grid (quantization-aware
parametrisation), checkpoints, JSON-lines metrics and the progress bar."""

from toolchain.train.batching import minibatches
from toolchain.train.checkpoint import (
    Checkpoint,
    load_checkpoint,
    require_same_settings,
    rng_from_state,
    rng_state,
    save_checkpoint,
)
from toolchain.train.errors import CheckpointError, HyperparameterError
from toolchain.train.metrics import MetricsLog, read_metrics
from toolchain.train.optim import Adam, LRSchedule, clip_global_norm, global_norm
from toolchain.train.progress import TrainingProgress

__all__ = [
    "Adam", "Checkpoint", "CheckpointError", "HyperparameterError", "LRSchedule", "MetricsLog",
    "TrainingProgress", "clip_global_norm", "global_norm",
    "load_checkpoint", "minibatches", "read_metrics", "require_same_settings", "rng_from_state",
    "rng_state", "save_checkpoint",
]
