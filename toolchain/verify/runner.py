"""``verify``: a test split through the float model, the chip-grid model and the bit-accurate simulator.

Reports, side by side: the accuracy of each, confusion matrices, per-layer spike-count agreement and
spike-time divergence between the chip-grid model and the simulator, and how close the integer states come
to their int16 rails.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from hw_models.config import ChipConfig
from hw_models.errors import InputError
from hw_models.simulator import Record, simulate
from toolchain.decode import decide
from toolchain.dist import Executor, SerialExecutor
from toolchain.lif.forward import Forward, forward
from toolchain.network import Network
from toolchain.verify import chip_decode
from toolchain.verify.inputs import network_inputs
from toolchain.verify.models import chip_grid_network, layer_ids, recompile

#: Decision rule names used in ``network.metadata["decision"]`` -> chip rule.
RULE_ALIASES = {"first-spike": "first-spike", "ttfs": "first-spike", "first_spike": "first-spike",
                "spike-count": "spike-count", "count": "spike-count", "max-voltage": "max-voltage",
                "integrated-voltage": "integrated-voltage"}


@dataclass
class ModelResult:
    name: str
    predictions: np.ndarray
    accuracy: float
    confusion: np.ndarray
    spike_counts: list[np.ndarray]  # per spiking layer: (samples, neurons)
    first_times: list[np.ndarray]  # per spiking layer: (samples, neurons) seconds, inf if silent
    seconds: float


@dataclass
class VerifyResult:
    task: str
    split: str
    chip: str
    dt: float
    rule: str
    labels: np.ndarray
    models: dict[str, ModelResult]
    layer_agreement: list[dict] = field(default_factory=list)
    rails: dict[str, float] = field(default_factory=dict)
    sample_chip_layers: list[np.ndarray] = field(default_factory=list)  # sample 0: (T, n) per spiking layer
    sample_forward: Forward | None = None

    def accuracy(self, name: str) -> float:
        return self.models[name].accuracy


def _confusion(labels: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n + 1), np.int64)  # last column: no decision
    np.add.at(m, (labels, np.where(pred < 0, n, pred)), 1)
    return m


def _shards(n: int, executor: Executor) -> list[tuple[int, int]]:
    """Contiguous sample ranges, a few per worker (one on the serial executor)."""
    parts = 1 if executor.workers == 1 else min(n, 4 * executor.workers)
    bounds = np.linspace(0, n, parts + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _forward_shard(bounds: tuple[int, int], net: Network, inputs: list, static: tuple) -> tuple:
    """Decisions, spike counts and first spike times (per spiking layer) of samples ``a:b``."""
    t_end, rule, code = static
    results = [forward(net, s, t_end) for s in inputs[bounds[0]:bounds[1]]]
    pred = [decide(rule, r, net.layer_sizes[-1], code) for r in results]
    n_spiking = net.n_layers - (1 if net.readout == "leaky-integrator" else 0)
    counts, firsts = [], []
    for layer in range(n_spiking):
        n = net.layer_sizes[layer + 1]
        counts.append(np.stack([r.layers[layer].counts(n) for r in results]))
        ft = np.full((len(results), n), np.inf)
        for k, r in enumerate(results):
            np.minimum.at(ft[k], r.layers[layer].neurons, r.layers[layer].times)
        firsts.append(ft)
    return pred, counts, firsts


def _float_model(name: str, net: Network, inputs, labels, t_end: float, rule: str, code, executor: Executor,
                 shared_inputs) -> ModelResult:
    start = time.perf_counter()
    n = len(labels)
    parts = executor.map(_forward_shard, _shards(n, executor), executor.share(net), shared_inputs,
                         (t_end, rule, code))
    pred = np.array([p for part in parts for p in part[0]])
    counts = [np.concatenate([part[1][k] for part in parts]) for k in range(len(parts[0][1]))]
    firsts = [np.concatenate([part[2][k] for part in parts]) for k in range(len(parts[0][2]))]
    n_classes = net.layer_sizes[-1] if code is None else code.shape[0]
    return ModelResult(name, pred, float(np.mean(pred == labels)), _confusion(labels, pred, n_classes), counts,
                       firsts, time.perf_counter() - start)


def _chip_shard(bounds: tuple[int, int], config: ChipConfig, rasters: np.ndarray, static: tuple) -> tuple:
    """Decisions, spike counts, first spike steps (per spiking layer) and rail statistics of samples ``a:b`` on
    the bit-accurate simulator; with ``a == 0`` also sample 0's spike trains."""
    layer_columns, spiking_readout, rule, code = static
    rec = simulate(config, rasters[bounds[0]:bounds[1]])
    spikes = rec["Spikes"].astype(np.int64)
    layers = [spikes[..., cols] for cols in layer_columns]
    if spiking_readout:
        layers.append(rec["Spikes_out"].astype(np.int64))
    first = [chip_decode.first_step(s) for s in layers]
    sample0 = [s[0] for s in layers] if bounds[0] == 0 else None
    return (chip_decode.decide(rec, rule, code), [s.sum(axis=1) for s in layers], first, rail_counts(rec), sample0)


def _chip_model(net: Network, config: ChipConfig, report, rasters: np.ndarray, labels: np.ndarray,
                rule: str, code, executor: Executor) -> tuple[ModelResult, dict, list[np.ndarray]]:
    start = time.perf_counter()
    static = ([layer_ids(report, layer) for layer in range(1, net.n_layers)], net.readout == "spiking", rule, code)
    parts = executor.map(_chip_shard, _shards(len(labels), executor), executor.share(config),
                         executor.share(rasters), static)
    pred = np.concatenate([p[0] for p in parts])
    counts = [np.concatenate([p[1][k] for p in parts]) for k in range(len(parts[0][1]))]
    n_t = rasters.shape[1]
    firsts = [np.concatenate([p[2][k] for p in parts]) for k in range(len(parts[0][2]))]
    firsts = [np.where(f < n_t, (f + 1) * config.dt, np.inf) for f in firsts]  # end of the step
    n_classes = net.layer_sizes[-1] if code is None else code.shape[0]
    return (ModelResult("bit-accurate", pred, float(np.mean(pred == labels)), _confusion(labels, pred, n_classes),
                        counts, firsts, time.perf_counter() - start), merge_rails([p[3] for p in parts]), parts[0][4])


RAIL_KEYS = ("Vmem", "Isyn", "Isyn2", "Vmem_out", "Isyn_out")


def rail_counts(rec: Record) -> dict:
    """Per state key: the largest |value|, how many values sit on the int16 rail, and how many there are."""
    out = {}
    for key in RAIL_KEYS:
        a = np.abs(rec[key].astype(np.int64))
        out[key] = (int(a.max(initial=0)), int(np.count_nonzero(a >= 32767)), int(a.size))
    return out


def merge_rails(parts: list[dict]) -> dict:
    """How close the integer states came to the int16 rails over the whole split, from its shards'
    :func:`rail_counts`: ``{key: {"max_abs", "at_rail_fraction"}}``."""
    out = {}
    for key in RAIL_KEYS:
        size = sum(p[key][2] for p in parts)
        out[key] = {"max_abs": max(p[key][0] for p in parts),
                    "at_rail_fraction": sum(p[key][1] for p in parts) / size if size else 0.0}
    return out


def _agreement(grid: ModelResult, chip: ModelResult, dt: float) -> list[dict]:
    rows = []
    for layer, (cg, cc, tg, tc) in enumerate(zip(grid.spike_counts, chip.spike_counts, grid.first_times,
                                                 chip.first_times, strict=True), start=1):
        both = np.isfinite(tg) & np.isfinite(tc)
        # a float crossing in (n dt, (n+1) dt] is recorded by the chip in step n, shown at (n+1) dt
        expected_end = np.ceil(tg[both] / dt - 1e-9) * dt
        diff_steps = np.rint((tc[both] - expected_end) / dt).astype(np.int64)
        rows.append({
            "layer": layer,
            "spikes_per_sample_grid": float(cg.sum(axis=1).mean()),
            "spikes_per_sample_chip": float(cc.sum(axis=1).mean()),
            "count_equal_fraction": float(np.mean(cg == cc)),
            "count_correlation": float(np.corrcoef(cg.ravel(), cc.ravel())[0, 1])
            if cg.std() > 0 and cc.std() > 0 else math.nan,
            "fires_in_both": int(both.sum()),
            "fires_only_grid": int((np.isfinite(tg) & ~np.isfinite(tc)).sum()),
            "fires_only_chip": int((~np.isfinite(tg) & np.isfinite(tc)).sum()),
            "first_spike_step_diff_mean": float(diff_steps.mean()) if diff_steps.size else math.nan,
            "first_spike_same_step": float(np.mean(diff_steps == 0)) if diff_steps.size else math.nan,
            "first_spike_within_1_step": float(np.mean(np.abs(diff_steps) <= 1)) if diff_steps.size else math.nan,
        })
    return rows


def verify(net: Network, config: ChipConfig, task: str | None = None, split: str = "test",
           limit: int | None = None, task_options: dict | None = None,
           compile_options: dict | None = None, executor: Executor | None = None) -> VerifyResult:
    """Run ``split`` of the network's task through the three views and compare them. ``executor``
    (:mod:`toolchain.dist`) shares the samples out among workers; the result is the same on any executor."""

    meta = net.metadata
    task = task or meta.get("task")
    if not task:
        raise InputError("which task? the network's metadata names none; pass task='yinyang' (or digits, fsdd)")
    options = dict(meta.get("task_options") or {}) if task_options is None else dict(task_options)
    t_end = meta.get("t_end")
    rule = RULE_ALIASES.get(str(meta.get("decision", "")).lower())
    if t_end is None or rule is None:
        raise InputError("network.json lacks metadata 't_end' and/or a known 'decision' rule "
                         f"({', '.join(chip_decode.RULES)}); networks from `spikeline train` carry both")
    report = recompile(net, config, compile_options)
    inputs, labels, rasters = network_inputs(net, split, limit, task, options, config.dt)
    code = None if meta.get("output_code") is None else np.asarray(meta["output_code"], np.float64)

    executor = executor or SerialExecutor()
    shared_inputs = executor.share(inputs)
    float_res = _float_model("float", net, inputs, labels, t_end, rule, code, executor, shared_inputs)
    grid_net = chip_grid_network(net, config, report)
    grid_res = _float_model("chip-grid", grid_net, inputs, labels, t_end, rule, code, executor, shared_inputs)
    chip_res, rails, sample_layers = _chip_model(net, config, report, rasters, labels, rule, code, executor)
    return VerifyResult(task, split, config.chip, config.dt, rule, labels,
                        {"float": float_res, "chip-grid": grid_res, "bit-accurate": chip_res},
                        _agreement(grid_res, chip_res, config.dt), rails, sample_layers, forward(net, inputs[0], t_end))
