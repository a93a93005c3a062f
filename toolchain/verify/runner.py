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
from toolchain.data import class_names
from toolchain.data.inputs import network_inputs
from toolchain.decode import decide
from toolchain.dist import Executor, SerialExecutor
from toolchain.dist.shards import map_shards
from toolchain.lif.forward import Forward, forward, voltage_trace
from toolchain.network import Network
from toolchain.verify import chip_decode
from toolchain.verify.chip_decode import RULE_ALIASES
from toolchain.verify.models import chip_grid_network, layer_ids, recompile


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
    class_names: list[str] = field(default_factory=list)
    n_steps: int = 0
    n_hidden_layers: int = 1
    readout: str = "spiking"
    sample: dict = field(default_factory=dict)  # sample 0: raster, readout voltages float vs chip (float units)
    xylosim: dict | None = None  # the simulator vs xylosim on the first samples (toolchain.verify.xylosim), if run

    def accuracy(self, name: str) -> float:
        return self.models[name].accuracy


def _confusion(labels: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n + 1), np.int64)  # last column: no decision
    np.add.at(m, (labels, np.where(pred < 0, n, pred)), 1)
    return m


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
                 shared_inputs, progress: bool = False) -> ModelResult:
    start = time.perf_counter()
    parts = map_shards(executor, _forward_shard, len(labels), executor.share(net), shared_inputs, (t_end, rule, code),
                       label=f"{name} model", progress=progress)
    pred = np.array([p for part in parts for p in part[0]])
    counts = [np.concatenate([part[1][k] for part in parts]) for k in range(len(parts[0][1]))]
    firsts = [np.concatenate([part[2][k] for part in parts]) for k in range(len(parts[0][2]))]
    n_classes = net.layer_sizes[-1] if code is None else code.shape[0]
    return ModelResult(name, pred, float(np.mean(pred == labels)), _confusion(labels, pred, n_classes), counts,
                       firsts, time.perf_counter() - start)


def _chip_shard(bounds: tuple[int, int], config: ChipConfig, rasters: np.ndarray, static: tuple) -> tuple:
    """Decisions, spike counts, first spike steps (per spiking layer) and rail counts of samples ``a:b`` on the
    bit-accurate simulator; for the shard that holds sample 0 also its spike trains and readout voltage."""
    layer_columns, spiking_readout, rule, code = static
    rec = simulate(config, rasters[bounds[0]:bounds[1]])
    spikes = rec["Spikes"].astype(np.int64)
    layers = [spikes[..., cols] for cols in layer_columns]
    if spiking_readout:
        layers.append(rec["Spikes_out"].astype(np.int64))
    sample0 = ([s[0] for s in layers], rec["Vmem_out"][0]) if bounds[0] == 0 else None
    return (chip_decode.decide(rec, rule, code), [s.sum(axis=1) for s in layers],
            [chip_decode.first_step(s) for s in layers], rail_counts(rec), sample0)


def _chip_model(net: Network, config: ChipConfig, report, rasters: np.ndarray, labels: np.ndarray, rule: str, code,
                executor: Executor, progress: bool = False) -> tuple[ModelResult, dict, tuple]:
    start = time.perf_counter()
    static = ([layer_ids(report, layer) for layer in range(1, net.n_layers)], net.readout == "spiking", rule, code)
    parts = map_shards(executor, _chip_shard, len(labels), executor.share(config), executor.share(rasters), static,
                       label="bit-accurate simulation", progress=progress)
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
           compile_options: dict | None = None, progress: bool = False, executor: Executor | None = None,
           xylosim: int = 0) -> VerifyResult:
    """Run ``split`` of the network's task through the three views and compare them (``progress``: bars on
    stderr). ``executor`` (:mod:`toolchain.dist`) shares the samples out among workers; the result is the same on
    any executor. ``xylosim``: the first that many samples also run on SynSense's xylosim and are compared with
    the simulator bit for bit (:func:`toolchain.verify.xylosim.xylosim_check`; skipped with a note without
    xylosim; 0: not checked)."""
    if xylosim < 0:
        raise InputError(f"xylosim must be a number of samples >= 0, got {xylosim}")

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
    float_res = _float_model("float", net, inputs, labels, t_end, rule, code, executor, shared_inputs, progress)
    grid_net = chip_grid_network(net, config, report)
    grid_res = _float_model("chip-grid", grid_net, inputs, labels, t_end, rule, code, executor, shared_inputs,
                            progress)
    chip_res, rails, (sample_layers, sample_vmem_out) = _chip_model(net, config, report, rasters, labels, rule,
                                                                    code, executor, progress)
    sample_forward = forward(net, inputs[0], t_end)
    oracle = None
    if xylosim:
        from toolchain.verify.xylosim import xylosim_check

        oracle = xylosim_check(config, rasters[:xylosim], split)
    n_classes = net.layer_sizes[-1] if code is None else code.shape[0]
    names = meta.get("class_names") or class_names(task, n_classes)
    return VerifyResult(task, split, config.chip, config.dt, rule, labels,
                        {"float": float_res, "chip-grid": grid_res, "bit-accurate": chip_res},
                        _agreement(grid_res, chip_res, config.dt), rails, sample_layers, sample_forward,
                        list(names), rasters.shape[1], net.n_layers - 1, net.readout,
                        _sample_readout(net, report, sample_forward, rasters[0], sample_vmem_out, config.dt), oracle)


def _sample_readout(net: Network, report, fwd: Forward, raster: np.ndarray, vmem_out: np.ndarray, dt: float
                    ) -> dict:
    """Sample 0's input raster and readout voltages at the end of each step: the float model's (exact) and the
    chip's ``Vmem_out`` in float units (``V_int * u``, the readout's voltage unit ``u = c dt``; ``c`` includes any
    readout attenuation)."""
    n_t = raster.shape[0]
    times = (np.arange(n_t) + 1) * dt
    unit = report.layers[-1].voltage_unit
    return {"raster": raster, "times": times, "float_v": voltage_trace(net, fwd, net.n_layers - 1, times),
            "chip_v": vmem_out.astype(np.float64) * unit,
            "threshold": None if net.readout == "leaky-integrator" else np.asarray(net.threshold[-1], float)}
