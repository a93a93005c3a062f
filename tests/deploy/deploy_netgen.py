"""Small random chip configurations for the deployment tests (seeded)."""

from __future__ import annotations

import numpy as np

from deploy.backends.sim import SimBackend
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
        fields["dash_syn_2"] = rng.integers(1, 7, n_hidden)
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


def flip_bit(w: int, bit: int) -> int:
    """Flip one bit of an int8 weight (two's complement)."""
    u = (w & 0xFF) ^ (1 << bit)
    return u - 256 if u >= 128 else u


class FlippedWeightBackend(SimBackend):
    """A broken device: it applies the configuration with one bit of one weight flipped."""

    name = "sim+flipped-bit"

    def __init__(self, field: str, index: tuple[int, ...], bit: int):
        super().__init__()
        self.field, self.index, self.bit = field, index, bit

    def faulty(self, config: ChipConfig) -> ChipConfig:
        bad = config.copy()
        w = getattr(bad, self.field)
        w[self.index] = flip_bit(int(w[self.index]), self.bit)
        return bad

    def apply(self, config: ChipConfig) -> None:
        super().apply(self.faulty(config))


def fake_install(root, version: str, files: list[str]):
    dist = root / f"samna-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: samna\nVersion: {version}\n")
    (dist / "RECORD").write_text("".join(f"{f},,\n" for f in files))
    (root / "samna").mkdir()
    (root / "samna" / "__init__.py").write_text("raise RuntimeError('imported: would download')\n")


def config_from_fields(chip: str, f: dict, dt: float = 1e-3) -> ChipConfig:
    """Inverse mapping, independent of samna_fields: as rockpool's from_config reads samna's object
    (input rows -> first hidden neurons, readout rows -> the *last* hidden neurons, alias if set)."""
    hid = f["reservoir" if "reservoir" in f else "hidden"]
    n_h = len(hid["neurons"])
    w_in1 = np.array(f["input"]["weights"])
    n_in, ien = w_in1.shape
    two = "syn2_weights" in f["input"]
    w_in = np.zeros((n_in, n_h, 2 if two else 1), int)
    w_in[:, :ien, 0] = w_in1
    w_rec = np.zeros((n_h, n_h, 2 if two else 1), int)
    w_rec[..., 0] = hid["weights"]
    if two:
        w_in[:, :ien, 1] = f["input"]["syn2_weights"]
        w_rec[..., 1] = hid["syn2_weights"]
    w_out1 = np.array(f["readout"]["weights"])
    w_out = np.zeros((n_h, w_out1.shape[1]), int)
    w_out[n_h - w_out1.shape[0]:] = w_out1
    hn, on = hid["neurons"], f["readout"]["neurons"]
    bias = f["top"]["bias_enable"]
    return ChipConfig.create(
        chip, dt, w_in, w_out, [n["threshold"] for n in hn], [n["threshold"] for n in on],
        weights_rec=w_rec, aliases=[[n["alias_target"]] if "alias_target" in n else [] for n in hn],
        dash_mem=[n["v_mem_decay"] for n in hn], dash_syn=[n["i_syn_decay"] for n in hn],
        dash_syn_2=[n.get("i_syn2_decay", n["i_syn_decay"]) for n in hn],
        bias=[n["v_mem_bias"] if bias else 0 for n in hn],
        dash_mem_out=[n["v_mem_decay"] for n in on], dash_syn_out=[n["i_syn_decay"] for n in on],
        bias_out=[n["v_mem_bias"] if bias else 0 for n in on],
        weight_shift_in=f["input"]["weight_bit_shift"], weight_shift_rec=hid["weight_bit_shift"],
        weight_shift_out=f["readout"]["weight_bit_shift"])
