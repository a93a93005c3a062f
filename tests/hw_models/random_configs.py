"""Deterministic random chip configurations for oracle tests, including adversarial corners.

Every configuration is legal for its chip (design rules pass), so any disagreement between engines
is an engine bug, not an out-of-range artefact.
"""

from __future__ import annotations

import numpy as np

from hw_models.chips import get_chip
from hw_models.config import ChipConfig

CHIPS = ("xylo-audio2", "xylo-imu", "xylo-audio3")
KINDS = ("random", "saturating", "caps-aliases", "dash0", "threshold-nonpositive", "v-min", "shift8",
         "wide")


def random_config(seed: int, chip: str, kind: str) -> tuple[ChipConfig, np.ndarray, bool]:
    """(config, raster batch, clip_inputs) for one seed, chip and kind of corner case."""
    rng = np.random.default_rng(seed)
    spec = get_chip(chip)
    n_in = int(rng.integers(1, spec.n_inputs + 1))
    n_h = int(rng.integers(2, 160 if kind == "wide" else 40))
    n_o = int(rng.integers(1, spec.n_outputs + 1))
    n_syn = spec.n_synapses if rng.random() < 0.8 else 1
    w_lo, w_hi = (-128, 128) if kind in ("saturating", "shift8", "v-min") else (-60, 80)

    def sparse(shape, density):
        return rng.integers(w_lo, w_hi, shape) * (rng.random(shape) < density)

    w_in = sparse((n_in, n_h, n_syn), float(rng.uniform(0.2, 1.0)))
    if spec.input_window is not None:
        w_in[:, spec.input_window:] = 0
    w_rec = sparse((n_h, n_h, n_syn), float(rng.uniform(0.0, 0.5)))
    fan_cap = min(spec.max_fanout, n_h)
    for pre in range(n_h):  # respect the fan-out limit
        posts = np.flatnonzero(np.any(w_rec[pre] != 0, axis=1))
        if len(posts) > fan_cap:
            w_rec[pre, rng.choice(posts, len(posts) - fan_cap, replace=False)] = 0
    w_out = sparse((n_h, n_o), float(rng.uniform(0.3, 1.0)))
    if spec.output_window is not None and n_h > spec.output_window:
        w_out[: n_h - spec.output_window] = 0

    th = rng.integers(50, 4000, n_h)
    th_out = rng.integers(50, 4000, n_o)
    dash_hi = 9
    fields = dict(
        dash_mem=rng.integers(1, dash_hi, n_h), dash_syn=rng.integers(1, dash_hi, n_h),
        dash_syn_2=rng.integers(1, dash_hi, n_h), dash_mem_out=rng.integers(1, dash_hi, n_o),
        dash_syn_out=rng.integers(1, dash_hi, n_o),
        weight_shift_in=int(rng.integers(0, 7)), weight_shift_rec=int(rng.integers(0, 6)),
        weight_shift_out=int(rng.integers(0, 6)),
    )
    if spec.has_bias and rng.random() < 0.5:
        fields["bias"] = rng.integers(-128, 128, n_h)
        fields["bias_out"] = rng.integers(-128, 128, n_o)
    aliases = [[] for _ in range(n_h)]
    clip = bool(rng.random() < 0.3)
    max_count = 255 if clip else 15
    density = float(rng.uniform(0.02, 0.3))

    if kind == "saturating":
        fields.update(weight_shift_in=8, weight_shift_rec=8, weight_shift_out=8)
        th = rng.integers(1000, 32767, n_h)
        th_out = rng.integers(1000, 32767, n_o)
        fields["dash_syn"] = rng.integers(4, 16, n_h)
        fields["dash_syn_2"] = rng.integers(4, 16, n_h)
        fields["dash_mem"] = rng.integers(4, 16, n_h)
        density = 0.5
    elif kind == "caps-aliases":
        th = rng.integers(1, 40, n_h)
        th_out = rng.integers(1, 40, n_o)
        for i in range(n_h):
            if rng.random() < 0.6:
                aliases[i] = [0 if rng.random() < 0.3 else int(rng.integers(0, n_h))]
        fields.update(weight_shift_in=6, weight_shift_rec=4)
        density = 0.5
    elif kind == "dash0":
        for key in ("dash_mem", "dash_syn", "dash_syn_2", "dash_mem_out", "dash_syn_out"):
            n = n_o if key.endswith("_out") else n_h
            fields[key] = np.where(rng.random(n) < 0.5, 0, fields[key])
    elif kind == "threshold-nonpositive":
        th = np.where(rng.random(n_h) < 0.3, rng.integers(-32768, 1, n_h), th)
        th_out = np.where(rng.random(n_o) < 0.3, rng.integers(-500, 1, n_o), th_out)
    elif kind == "v-min":  # drive membranes to -32768 with dash_mem 0 (the int16 wrap of -decay(v))
        w_in = -np.abs(w_in)
        fields.update(weight_shift_in=8)
        fields["dash_mem"] = np.where(rng.random(n_h) < 0.5, 0, fields["dash_mem"])
        fields["dash_syn"] = rng.integers(6, 16, n_h)
        fields["dash_syn_2"] = rng.integers(6, 16, n_h)
        density = 0.6
    elif kind == "shift8":
        fields.update(weight_shift_in=8, weight_shift_rec=8, weight_shift_out=8)
        th = rng.integers(5000, 32767, n_h)
    if kind != "caps-aliases" and rng.random() < 0.3:  # sprinkle aliases everywhere
        for i in range(n_h):
            if rng.random() < 0.2:
                aliases[i] = [int(rng.integers(0, n_h))]
    if not spec.has_bias:
        fields.pop("bias", None)
        fields.pop("bias_out", None)

    cfg = ChipConfig.create(chip, 1e-3, weights_in=w_in, weights_rec=w_rec, weights_out=w_out,
                            threshold=th, threshold_out=th_out, aliases=aliases, **fields)
    n_b = int(rng.integers(1, 3))
    n_t = int(rng.integers(5, 60))
    counts = rng.integers(1, max_count + 1, (n_b, n_t, n_in))
    raster = counts * (rng.random((n_b, n_t, n_in)) < density)
    return cfg, raster, clip


def cases(n: int, kinds=KINDS, chips=CHIPS, offset: int = 0):
    """``n`` (seed, chip, kind) triples cycling through chips and kinds."""
    return [(offset + i, chips[i % len(chips)], kinds[(i // len(chips)) % len(kinds)]) for i in range(n)]
