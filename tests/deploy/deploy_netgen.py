"""Small random chip configurations for the deployment tests (seeded)."""

from __future__ import annotations

import numpy as np

from hw_models.config import ChipConfig


def random_config(seed: int = 0, chip: str = "xylo-audio2", n_hidden: int = 12, n_out: int = 3,
                  n_syn: int = 2, density: float = 0.4, positive: bool = False, aliases: bool = False,
                  bias: bool = False) -> ChipConfig:
    """A random legal configuration; ``positive`` keeps every weight >= 0 (states never go negative)."""
    rng = np.random.default_rng(seed)
    lo = 0 if positive else -60

    def weights(shape, p):
        return rng.integers(lo, 61, shape) * (rng.random(shape) < p)

    n_in = 16
    w_in = weights((n_in, n_hidden, n_syn), density)
    w_rec = weights((n_hidden, n_hidden, n_syn), density)
    w_out = weights((n_hidden, n_out), 0.6)
    if chip in ("xylo-imu", "xylo-audio3"):  # readouts only from the last 128, inputs to the first 128
        w_in[:, 128:] = 0
        w_out[: max(0, n_hidden - 128)] = 0
    fields = dict(dash_mem=rng.integers(1, 6, n_hidden), dash_syn=rng.integers(1, 5, n_hidden),
                  dash_mem_out=rng.integers(1, 6, n_out), dash_syn_out=rng.integers(1, 5, n_out),
                  weight_shift_in=2, weight_shift_rec=1, weight_shift_out=1)
    if n_syn == 2:
        fields["dash_syn2"] = rng.integers(1, 7, n_hidden)
    if bias:
        fields["bias"] = rng.integers(-20, 21, n_hidden)
        fields["bias_out"] = rng.integers(-20, 21, n_out)
    alias = None
    if aliases:
        alias = [[int(rng.integers(0, n_hidden))] if rng.random() < 0.3 else [] for _ in range(n_hidden)]
        alias[0] = [n_hidden - 1]  # at least one alias, and one that targets a later neuron
        alias[n_hidden - 1] = [0]  # ... and one targeting neuron 0 (rockpool drops those)
    return ChipConfig.create(chip, 1e-3, w_in, w_out, rng.integers(200, 900, n_hidden),
                             rng.integers(200, 900, n_out), weights_rec=w_rec, aliases=alias, **fields)


def random_raster(seed: int = 0, steps: int = 60, rate: float = 0.3, n_in: int = 16,
                  batch: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    shape = (steps, n_in) if batch is None else (batch, steps, n_in)
    return np.minimum(rng.poisson(rate, shape), 15)
