"""The trainer: minibatch Adam on exact gradients, in chip-grid (quantization-aware) or float mode.

``train(config, out_dir)`` trains a layered feed-forward LIF network on a task of
:mod:`toolchain.data` and writes ``out_dir/network.json`` (``spikeline.network/1``, the compiler's
input), ``metrics.jsonl`` (one line per epoch), ``last.ckpt`` (an atomic checkpoint after every epoch)
and ``summary.json`` (test accuracy and wall time). ``train(config, out_dir, resume=True)`` continues
from ``last.ckpt`` and reaches bit for bit the result of an uninterrupted run.

Chip-grid mode (``mode="grid"``) keeps float *latent* parameters and runs every forward pass on their
projection onto what the chip realises (:mod:`toolchain.train.grid`): one scale per weight matrix with
int8 values (straight-through: ``dL/dW := dL/dW_q``), thresholds on the integer grid of their layer's
voltage unit ``u = s dt`` (at least one unit), time constants ``tau(dash)``, inputs on the ``dt`` grid,
the chip's size limits. Float mode skips the weight and threshold projection and the size check and
keeps everything else (time constants, delays, input grid), so the two modes differ by quantization
only.

Hop delays: input -> first hidden layer costs nothing on the chip. A hidden spike that crosses the
threshold at float time ``t`` is recorded in the step ending at ``ceil(t / dt) dt`` and reaches the next
layer then (toolchain/compile/units.py), i.e. 0 to 1 step later, half a step on average. The delay of
every later hop is therefore ``hop_delay_steps * dt`` with ``hop_delay_steps = 0.5`` by default;
``1.0`` reproduces DESIGN.md's "one dt per hop". It is recorded in the network's metadata.

Parallelism: a minibatch runs in the batched engine (:mod:`toolchain.grad.batched`: forward pass, loss and
gradient of every sample in compiled code, on threads) when the engine is ``fp`` and the loss is one it
compiles; otherwise the per-sample path runs, in ``workers`` processes
(:class:`~toolchain.train.parallel.SampleMap`) if asked. Either way the batch gradient is summed in sample
order, so the result does not depend on the number of workers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.atomic import atomic_write_text
from hw_models.chips import get_chip, tau_from_dash
from hw_models.errors import InputError, SpikelineError, Violation
from toolchain.data import load_task, task_names, task_options
from toolchain.data.tasks import Task
from toolchain.decode import RULE_OF_LOSS, decide
from toolchain.grad import batched
from toolchain.grad.api import ENGINES, sample_loss
from toolchain.grad.params import add_into, zeros_like_params
from toolchain.lif.forward import Spikes, as_sample, forward
from toolchain.lif.kernels import psp, stationary_time
from toolchain.losses import LOSSES, Loss
from toolchain.network import Network, load_network
from toolchain.train.batching import minibatches
from toolchain.train.checkpoint import (
    Checkpoint,
    load_checkpoint,
    require_same_settings,
    rng_from_state,
    rng_state,
    save_checkpoint,
)
from toolchain.train.coding import CodedVoltageCE, output_code
from toolchain.train.errors import number_violation, raise_hyperparameter_violations
from toolchain.train.grid import check_layer_plan, quantize_weights, threshold_on_grid, voltage_unit
from toolchain.train.metrics import MetricsLog
from toolchain.train.optim import Adam, LRSchedule, clip_global_norm
from toolchain.train.parallel import SampleMap, default_workers
from toolchain.train.progress import TrainingProgress

MODES = ("grid", "float")
TRAIN_ENGINES = ("fp", "fp-forward", "eventprop")
NETWORK_FILE, METRICS_FILE, CHECKPOINT_FILE, SUMMARY_FILE = ("network.json", "metrics.jsonl", "last.ckpt",
                                                              "summary.json")
#: float mode keeps thresholds above this fraction of their initial value (they must stay > 0)
FLOAT_THRESHOLD_FLOOR = 1e-3


@dataclass
class TrainConfig:
    """Everything that determines a training run (all of it is recorded in the checkpoint; a resume
    with different values is refused). Times in seconds.

    Network: ``hidden`` sizes, ``dash_syn``/``dash_mem`` per non-input layer (``tau = tau(dash)`` at
    ``dt``), ``threshold``; initial weights are Gaussian with mean/std given as the peak of one input's
    post-synaptic potential in units of the threshold (``init_psp[k] = (mean, std)`` for hop ``k``).
    Loss: a name of :data:`toolchain.losses.LOSSES` and its options; the decision rule follows from it.
    Weight bumping (Goeltz et al., gradients.md §7.1): after each step, a spiking neuron that was silent
    in more than ``bump_silent[layer]`` of the batch's samples gets ``bump`` added to every incoming
    latent weight (silent neurons receive no exact gradient); ``bump = 0`` disables it.
    Threshold noise: in each training step every spiking neuron's threshold is multiplied, per sample,
    by ``exp(threshold_noise * z)``, ``z ~ N(0, 1)`` (:func:`threshold_jitter`), so the network learns
    to keep its decisions when a neuron fires a little earlier, later or not at all, as on the chip's
    step grid; validation, test and the saved network use the exact thresholds. ``0`` disables it.
    """

    task: str
    chip: str = "xylo-audio2"
    mode: str = "grid"
    dt: float = 1e-3
    task_options: dict[str, Any] = field(default_factory=dict)
    hidden: list[int] = field(default_factory=lambda: [120])
    dash_syn: list[int] = field(default_factory=lambda: [2, 2])
    dash_mem: list[int] = field(default_factory=lambda: [4, 4])
    threshold: float = 1.0
    train_thresholds: bool = False
    init_psp: list[list[float]] = field(default_factory=lambda: [[0.25, 0.12], [0.15, 0.02]])
    loss: str = "first-spike"
    loss_options: dict[str, Any] = field(default_factory=dict)
    t_end: float = 0.06
    hop_delay_steps: float = 0.5
    epochs: int = 20
    batch_size: int = 32
    lr: float = 5e-3
    schedule: str = "exponential"
    gamma: float = 0.95
    step_size: int = 1
    max_grad_norm: float | None = None
    engine: str = "fp"
    seed: int = 0
    train_subset: int | None = None
    val_subset: int | None = None
    clock: bool = False
    clock_psp: float = 0.0
    clock_next_psp: float = 0.0
    lr_scale: list[float] | None = None
    bump: float = 0.0
    bump_silent: list[float] = field(default_factory=lambda: [0.9, 0.0])
    threshold_noise: float = 0.0

    def settings(self) -> dict[str, Any]:
        """The JSON-ready settings (what a checkpoint records)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise_hyperparameter_violations([Violation(k, "unknown setting", hint=f"valid: {sorted(known)}")
                                             for k in unknown])
        return cls(**doc)

    def validate(self, registered_task: bool = True) -> None:
        """Raise :class:`HyperparameterError` listing every invalid setting (``registered_task=False``:
        the task is supplied as a :class:`~toolchain.data.Task`, not looked up by name)."""
        v: list[Violation | None] = []

        def whole(name: str, value: Any, lo: int, allow_none: bool = False) -> None:
            if value is None and allow_none:
                return
            if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= lo):
                v.append(Violation(name, f"must be a whole number >= {lo}, got {value!r}", value=repr(value),
                                   limit=lo))

        if not registered_task:
            pass
        elif self.task not in task_names():
            v.append(Violation("task", f"unknown task {self.task!r}", value=repr(self.task),
                               hint=f"one of {', '.join(task_names())}"))
        else:
            valid = task_options(self.task)
            for k in sorted(set(self.task_options) - set(valid)):
                v.append(Violation("task_options", f"task {self.task!r} has no option {k!r}",
                                   hint=f"valid: {', '.join(valid)}"))
            if "dt" in self.task_options:
                v.append(Violation("task_options", "set the time step with the trainer's dt, not a task option",
                                   hint="remove dt from task_options"))
        try:
            get_chip(self.chip)
        except SpikelineError as exc:
            v.append(Violation("chip", str(exc), value=repr(self.chip)))
        if self.mode not in MODES:
            v.append(Violation("mode", f"unknown mode {self.mode!r}", hint=f"one of {', '.join(MODES)}"))
        if self.engine not in TRAIN_ENGINES:
            v.append(Violation("engine", f"unknown training engine {self.engine!r}",
                               hint=f"one of {', '.join(TRAIN_ENGINES)}"))
        if self.loss not in LOSSES:
            v.append(Violation("loss", f"unknown loss {self.loss!r}", hint=f"one of {', '.join(LOSSES)}"))
        else:
            try:
                make_loss(self, None)
            except (TypeError, SpikelineError) as exc:
                v.append(Violation("loss_options", str(exc), hint="options of the loss class (see losses.py, "
                                   "coding.py)"))
        v.append(number_violation("dt", self.dt, 0, 1, lo_open=True, hint="e.g. 1e-3"))
        v.append(number_violation("threshold", self.threshold, 0, math.inf, lo_open=True, hint="e.g. 1.0"))
        v.append(number_violation("t_end", self.t_end, 0, math.inf, lo_open=True, hint="e.g. 0.06"))
        v.append(number_violation("hop_delay_steps", self.hop_delay_steps, 0, 16, hint="0.5 (default) or 1.0"))
        v.append(number_violation("lr", self.lr, 0, math.inf, lo_open=True, hint="e.g. 5e-3"))
        v.append(number_violation("bump", self.bump, 0, math.inf, hint="e.g. 1e-3, or 0 to disable"))
        if not (isinstance(self.bump_silent, (list, tuple)) and all(_fraction(f) for f in self.bump_silent)):
            v.append(Violation("bump_silent", f"need a list of fractions in [0, 1], got {self.bump_silent!r}",
                               hint="e.g. [0.9, 0.0]"))
        v.append(number_violation("threshold_noise", self.threshold_noise, 0, 0.5,
                                  hint="a relative jitter such as 0.05, or 0 to disable"))
        v.append(number_violation("gamma", self.gamma, 0, 1, lo_open=True, hint="e.g. 0.95"))
        if self.max_grad_norm is not None:
            v.append(number_violation("max_grad_norm", self.max_grad_norm, 0, math.inf, lo_open=True,
                                      hint="e.g. 1.0, or None"))
        if self.lr_scale is not None and not (
                isinstance(self.lr_scale, (list, tuple)) and len(self.lr_scale) == len(self.dash_syn)
                and all(_positive(f) for f in self.lr_scale)):
            v.append(Violation("lr_scale", f"need one positive factor per hop, got {self.lr_scale!r}",
                               hint="e.g. [0.1, 1.0], or None"))
        whole("epochs", self.epochs, 1)
        whole("batch_size", self.batch_size, 1)
        whole("step_size", self.step_size, 1)
        whole("seed", self.seed, 0)
        whole("train_subset", self.train_subset, 1, allow_none=True)
        whole("val_subset", self.val_subset, 1, allow_none=True)
        if not (isinstance(self.hidden, (list, tuple)) and self.hidden):
            v.append(Violation("hidden", f"need a list of hidden layer sizes, got {self.hidden!r}", hint="[120]"))
        else:
            for k, n in enumerate(self.hidden):
                whole(f"hidden[{k}]", n, 1)
            n_layers = len(self.hidden) + 1
            for name in ("dash_syn", "dash_mem"):
                dashes = getattr(self, name)
                if not (isinstance(dashes, (list, tuple)) and len(dashes) == n_layers):
                    v.append(Violation(name, f"need one dash per non-input layer ({n_layers}), got {dashes!r}",
                                       hint="e.g. [2, 2]"))
                else:
                    for k, d in enumerate(dashes):
                        if not (isinstance(d, (int, np.integer)) and 1 <= d <= 15):
                            v.append(Violation(f"{name}[{k}]", f"must be a whole number in 1..15, got {d!r}",
                                               value=repr(d)))
            if not (isinstance(self.init_psp, (list, tuple)) and len(self.init_psp) == n_layers
                    and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in self.init_psp)):
                v.append(Violation("init_psp", f"need one (mean, std) pair per hop ({n_layers}), got "
                                   f"{self.init_psp!r}", hint="e.g. [[0.25, 0.12], [0.15, 0.02]]"))
            else:
                for k, (mean, std) in enumerate(self.init_psp):
                    v.append(number_violation(f"init_psp[{k}] mean", mean, -math.inf, math.inf))
                    v.append(number_violation(f"init_psp[{k}] std", std, 0, math.inf))
        try:
            LRSchedule(self.schedule, self.lr if _positive(self.lr) else 1.0,
                       self.gamma if _positive(self.gamma) and self.gamma <= 1 else 1.0,
                       self.step_size if isinstance(self.step_size, int) and self.step_size >= 1 else 1)
        except SpikelineError as exc:
            v.extend(getattr(exc, "violations", []))
        raise_hyperparameter_violations(v)

    def make_loss(self) -> Loss:
        """The loss of one readout neuron per class (see :func:`make_loss` for the trainer's choice)."""
        return LOSSES[self.loss](**self.loss_options)

    @property
    def decision_rule(self) -> str:
        return RULE_OF_LOSS[self.loss]

    @property
    def readout(self) -> str:
        return LOSSES[self.loss].readout


def _fraction(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1


def _positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


# -- the network and its chip-grid projection ---------------------------------------------------------
def load_config_task(config: TrainConfig) -> Task:
    """The task with the trainer's ``dt`` (events on the chip's grid)."""
    return load_task(config.task, **config.task_options, dt=config.dt)


def n_readouts(config: TrainConfig, task: Task) -> int:
    """One readout per class, or the chip's readout count when there are more classes (output code)."""
    return min(task.n_classes, get_chip(config.chip).n_outputs)


def clock_ticks(config: TrainConfig, task: Task) -> int:
    """Number of clock channels (0 without ``config.clock``): one per frame of the input window (the
    task's ``frame``; one per step for tasks without frames)."""
    if not config.clock:
        return 0
    n_ticks = int(round(task.duration / clock_period(config, task)))
    limit = get_chip(config.chip).n_inputs
    if task.n_inputs + n_ticks > limit:
        raise_hyperparameter_violations([Violation(
            "clock", f"{task.n_inputs} data channels + {n_ticks} clock channels exceed {config.chip}'s {limit} "
            "inputs", value=task.n_inputs + n_ticks, limit=limit, hint="train without the clock")])
    return n_ticks


def clock_period(config: TrainConfig, task: Task) -> float:
    """Seconds between clock ticks: the task's frame, else one step."""
    return task.frame if task.frame is not None else config.dt


def with_clock(sample, first_channel: int, n_ticks: int, period: float) -> tuple[np.ndarray, np.ndarray]:
    """``sample`` plus one spike on channel ``first_channel + k`` at ``k * period`` for every tick ``k``: a
    clock that tells hidden neurons *when* (which row, which frame) an input event arrives."""
    times, channels = sample
    times = np.concatenate([np.asarray(times, np.float64), np.arange(n_ticks) * period])
    channels = np.concatenate([np.asarray(channels, np.int64), first_channel + np.arange(n_ticks)])
    order = np.lexsort((channels, times))
    return times[order], channels[order]


def task_inputs(config: TrainConfig, task: Task, split: str, limit: int | None = None) -> tuple[list, np.ndarray]:
    """Validated samples (with the clock, if configured) and labels of a split (first ``limit`` only)."""
    data = task.split(split)
    n = len(data) if limit is None else min(len(data), limit)
    n_clock = clock_ticks(config, task)
    samples = []
    for i in range(n):
        sample = data.inputs[i]
        if n_clock:
            sample = with_clock(sample, task.n_inputs, n_clock, clock_period(config, task))
        samples.append(as_sample(sample, task.n_inputs + n_clock, i))
    return samples, np.asarray(data.labels[:n])


def layer_sizes(config: TrainConfig, task: Task) -> list[int]:
    return [task.n_inputs + clock_ticks(config, task), *[int(n) for n in config.hidden], n_readouts(config, task)]


def task_code(config: TrainConfig, task: Task) -> np.ndarray | None:
    """The output code (classes x readouts) if the classes outnumber the readouts, else ``None``."""
    n_out = n_readouts(config, task)
    return None if task.n_classes <= n_out else output_code(task.n_classes, n_out)


VOLTAGE_LOSSES = {"max-voltage": "max", "integrated-voltage": "integrated"}


def make_loss(config: TrainConfig, code: np.ndarray | None, n_classes: int | None = None) -> Loss:
    """The configured loss. Voltage losses are :class:`~toolchain.train.coding.CodedVoltageCE` (with the
    output code, or one readout per class), which adds the ``normalize`` option."""
    if config.loss in VOLTAGE_LOSSES:
        if code is None:
            code = np.eye(n_classes if n_classes is not None else 2)
        return CodedVoltageCE(code, VOLTAGE_LOSSES[config.loss], **config.loss_options)
    if code is not None:
        raise_hyperparameter_violations([Violation(
            "loss", f"{config.loss!r} needs one readout neuron per class, but the task has {code.shape[0]} "
            f"classes and {config.chip} {code.shape[1]} readouts", hint="use max-voltage or integrated-voltage")])
    return config.make_loss()


def time_constants(config: TrainConfig) -> tuple[list[float], list[float]]:
    """``tau_syn`` and ``tau_mem`` per non-input layer: ``tau(dash) = -dt / ln(1 - 2**-dash)``."""
    return ([tau_from_dash(int(d), config.dt) for d in config.dash_syn],
            [tau_from_dash(int(d), config.dt) for d in config.dash_mem])


def hop_delays(config: TrainConfig) -> list[float]:
    """0 for input -> first hidden layer, ``hop_delay_steps * dt`` for every later hop."""
    return [0.0] + [config.hop_delay_steps * config.dt] * len(config.hidden)


def psp_peak(tau_syn: float, tau_mem: float) -> float:
    """``max_s h(s)``: the membrane peak of one unit input charge."""
    a, b = 1.0 / tau_syn, 1.0 / tau_mem
    return float(psp(stationary_time(0.0, 1.0, a, b), a, b))


def weight_units(config: TrainConfig) -> list[float]:
    """Float weight of one latent weight unit per hop: ``threshold / h_peak`` (a latent weight of 1 raises
    the membrane peak by one threshold). Latent weights live in these units so that one learning rate
    fits every time constant. ``lr_scale[k]`` multiplies hop ``k``'s unit: Adam moves every latent
    parameter by about ``lr`` per step, so hop ``k`` then learns ``lr_scale[k]`` times as fast."""
    tau_syn, tau_mem = time_constants(config)
    scale = config.lr_scale or [1.0] * len(tau_syn)
    return [config.threshold / psp_peak(ts, tm) * f for ts, tm, f in zip(tau_syn, tau_mem, scale, strict=True)]


def initial_parameters(config: TrainConfig, sizes: list[int], n_clock: int = 0) -> dict[str, np.ndarray]:
    """Latent parameters ``W{k}`` (hop k, in :func:`weight_units`) and ``theta{k}`` (spiking layer
    k + 1), seeded by ``config.seed``: ``W{k} ~ N(mean, std)``, so one input spike of weight ``mean``
    raises the membrane peak by ``mean * threshold`` (gradients.md §7.1: start with most hidden neurons
    firing). With ``n_clock`` clock channels (the last inputs) and ``clock_psp``, hidden neuron ``i``
    gets weight ``clock_psp`` from clock tick ``k = i mod n_clock``, ``clock_next_psp`` from tick ``k + 1``
    and 0 from the other clock channels."""
    rng = np.random.default_rng([config.seed, 1])
    scale = config.lr_scale or [1.0] * (len(sizes) - 1)
    params: dict[str, np.ndarray] = {}
    for k in range(len(sizes) - 1):
        mean, std = config.init_psp[k]
        params[f"W{k}"] = rng.normal(mean, std, (sizes[k], sizes[k + 1])) / scale[k]
    if n_clock and config.clock_psp:
        # hidden neuron i listens to clock tick i mod n_clock only: it starts as a detector of that tick
        first = sizes[0] - n_clock
        params["W0"][first:, :] = 0.0
        ticks, neurons = np.arange(sizes[1]) % n_clock, np.arange(sizes[1])
        params["W0"][first + ticks, neurons] = config.clock_psp / scale[0]
        nxt = ticks + 1 < n_clock      # the next tick closes the window (clock_next_psp < 0)
        params["W0"][first + ticks[nxt] + 1, neurons[nxt]] = config.clock_next_psp / scale[0]
    if config.train_thresholds:
        n_spiking = len(sizes) - 1 - (1 if config.readout == "leaky-integrator" else 0)
        for k in range(n_spiking):
            params[f"theta{k}"] = np.full(sizes[k + 1], float(config.threshold))
    return params


def threshold_floor(config: TrainConfig, params: dict[str, np.ndarray], layer: int) -> float:
    """The smallest threshold of layer ``layer + 1``: one voltage unit ``u = s dt`` (grid), or a small
    fraction of the initial threshold (float)."""
    if config.mode == "grid":
        _, scale = quantize_weights(params[f"W{layer}"] * weight_units(config)[layer])
        return voltage_unit(scale, config.dt)
    return FLOAT_THRESHOLD_FLOOR * config.threshold


def constrain(config: TrainConfig, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Projected update: thresholds stay at or above :func:`threshold_floor` (never below one chip unit)."""
    out = dict(params)
    for name in params:
        if name.startswith("theta"):
            out[name] = np.maximum(params[name], threshold_floor(config, params, int(name[5:])))
    return out


def build_network(config: TrainConfig, sizes: list[int], params: dict[str, np.ndarray],
                  metadata: dict[str, Any] | None = None) -> Network:
    """The network the forward pass runs: in grid mode the on-grid projection of ``params``."""
    n_hops = len(sizes) - 1
    units = weight_units(config)
    weights, thresholds = [], []
    for k in range(n_hops):
        W = params[f"W{k}"] * units[k]
        spiking = k < n_hops - 1 or config.readout == "spiking"
        theta = params.get(f"theta{k}", np.full(sizes[k + 1], float(config.threshold)) if spiking else None)
        if config.mode == "grid":
            q, scale = quantize_weights(W)
            W = q * scale
            if theta is not None:
                _, theta = threshold_on_grid(theta, voltage_unit(scale, config.dt))
        weights.append(W)
        thresholds.append(theta)
    tau_syn, tau_mem = time_constants(config)
    return Network.create(weights, tau_syn, tau_mem, thresholds, delays=hop_delays(config),
                          readout=config.readout, dt=config.dt, metadata=metadata)


def network_metadata(config: TrainConfig, task: Task, params: dict[str, np.ndarray]) -> dict[str, Any]:
    """What ``spikeline verify`` needs to evaluate the test split as the trainer did."""
    meta: dict[str, Any] = {
        "trained_by": "spikeline.train", "task": config.task, "task_options": {**config.task_options,
                                                                              "dt": config.dt},
        "encoding": task.encoding, "t_end": config.t_end, "duration": task.duration,
        "loss": {"name": config.loss, **config.loss_options}, "decision": config.decision_rule,
        "chip": config.chip, "dt": config.dt, "mode": config.mode, "seed": config.seed,
        "hop_delay_steps": config.hop_delay_steps, "dash_syn": list(config.dash_syn),
        "dash_mem": list(config.dash_mem), "n_classes": task.n_classes,
        "output_code": None if task_code(config, task) is None else task_code(config, task).tolist(),
        "clock": ({"first_channel": task.n_inputs, "n_ticks": clock_ticks(config, task),
                   "period": clock_period(config, task)} if config.clock
                  else None),
    }
    if config.mode == "grid":
        units = weight_units(config)
        scales = [quantize_weights(params[f"W{k}"] * units[k])[1] for k in range(len(config.hidden) + 1)]
        meta["weight_scales"] = scales
        meta["voltage_units"] = [voltage_unit(s, config.dt) for s in scales]
    return meta


# -- per-sample work (runs in worker processes) --------------------------------------------------------
def threshold_jitter(config: TrainConfig, net: Network, n_samples: int, rng: np.random.Generator
                     ) -> list[list[np.ndarray | None] | None]:
    """Per sample, one factor ``exp(threshold_noise * z)`` per spiking neuron (``None`` for a layer
    without thresholds, and for every sample when ``threshold_noise`` is 0: the rng is then not used)."""
    if config.threshold_noise == 0:
        return [None] * n_samples
    return [[None if th is None else np.exp(config.threshold_noise * rng.standard_normal(th.shape))
             for th in net.threshold] for _ in range(n_samples)]


def with_threshold_factors(net: Network, factors: list[np.ndarray | None] | None) -> Network:
    """``net`` with every threshold multiplied by its factor (a shallow copy; ``None``: ``net`` itself)."""
    if factors is None:
        return net
    return dataclasses.replace(net, threshold=[th if f is None else th * f
                                               for th, f in zip(net.threshold, factors, strict=True)])


def _chunk_step(item: tuple) -> list[tuple[float, dict, list[np.ndarray], int]]:
    """Loss, gradient, spike counts and decision for each sample of a chunk (module level: picklable).
    Each sample comes with its threshold factors (:func:`threshold_jitter`); the threshold gradient is
    taken back through them (``dL/dtheta = f dL/d(f theta)``)."""
    net, samples, labels, loss, t_end, engine, rule, code = item
    out = []
    for (sample, factors), label in zip(samples, labels, strict=True):
        run = with_threshold_factors(net, factors)
        fwd = forward(run, sample, t_end)
        value = sample_loss(run, fwd, int(label), loss)
        grads = ENGINES[engine](run, fwd, value)
        if factors is not None:
            grads["threshold"] = [g if g is None or f is None else g * f
                                  for g, f in zip(grads["threshold"], factors, strict=True)]
        out.append((value.value, grads, fwd.spike_counts(run), decide(rule, fwd, run.layer_sizes[-1], code)))
    return out


def _chunk_eval(item: tuple) -> list[tuple[float, int, int]]:
    """Loss, decision and number of spikes for each sample of a chunk, without gradients."""
    net, samples, labels, loss, t_end, rule, code = item
    out = []
    for sample, label in zip(samples, labels, strict=True):
        fwd = forward(net, sample, t_end)
        value = sample_loss(net, fwd, int(label), loss)
        spikes = int(sum(len(s.times) for s in fwd.layers))
        out.append((value.value, decide(rule, fwd, net.layer_sizes[-1], code), spikes))
    return out


def map_chunks(pmap: SampleMap, fn, shared_head: tuple, samples: list, labels, shared_tail: tuple) -> list:
    """Run ``fn`` over contiguous chunks of the samples (one network pickle per chunk, not per sample) and
    return the per-sample results in sample order (so sums do not depend on the number of workers)."""
    n_chunks = min(len(samples), 4 * pmap.workers if pmap.workers > 1 else 1)
    bounds = np.linspace(0, len(samples), n_chunks + 1).astype(int)
    items = [(*shared_head, samples[a:b], labels[a:b], *shared_tail)
             for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    return [r for chunk in pmap(fn, items) for r in chunk]


def uses_batched(net: Network, loss: Loss, engine: str = "fp") -> bool:
    """Whether the batched engine (:mod:`toolchain.grad.batched`) runs this configuration: reverse-mode FP and a
    loss it compiles. Otherwise the per-sample path runs (:func:`_chunk_step` over the worker processes)."""
    return engine == "fp" and batched.supports(net, loss)


def minibatch_step(pmap: SampleMap, net: Network, samples: list, jitter: list, labels: list, loss: Loss,
                   t_end: float, engine: str, rule: str, code: np.ndarray | None, threads: int = 1,
                   fast: bool = True) -> batched.BatchResult:
    """Per-sample loss, decision and spike counts, and the gradient summed over the minibatch in sample order:
    the batched engine on ``threads`` threads when :func:`uses_batched` (and ``fast``), else :func:`_chunk_step`
    over ``pmap``. ``jitter``: per sample the threshold factors of :func:`threshold_jitter` (or ``None``)."""
    if fast and uses_batched(net, loss, engine):
        return batched.run_batch(net, samples, labels, loss, t_end, rule, code, threshold_factors=jitter,
                                 workers=threads)
    results = map_chunks(pmap, _chunk_step, (net,), list(zip(samples, jitter, strict=True)), labels,
                         (loss, t_end, engine, rule, code))
    total = zeros_like_params(net)
    for _, grads, _, _ in results:
        add_into(total, grads)
    counts = [np.stack([r[2][layer] for r in results]) for layer in range(len(results[0][2]))]
    return batched.BatchResult(np.array([r[0] for r in results]), np.array([r[3] for r in results]), counts, total)


def evaluate(net: Network, inputs: list, labels: np.ndarray, loss: Loss, t_end: float, rule: str,
             pmap: SampleMap | None = None, code: np.ndarray | None = None, threads: int = 1,
             fast: bool = True) -> dict[str, float]:
    """Mean loss, accuracy (decision == label; no decision counts as wrong) and spikes per sample (the batched
    engine on ``threads`` threads when it compiles the loss and ``fast``, else the per-sample path over
    ``pmap``)."""
    if len(inputs) != len(labels) or len(inputs) == 0:
        raise InputError(f"{len(inputs)} samples but {len(labels)} labels; give one label per sample (and at "
                         "least one sample)")
    samples = [s if isinstance(s, Spikes) else as_sample(s, net.layer_sizes[0], i) for i, s in enumerate(inputs)]
    if fast and batched.supports(net, loss):
        out = batched.run_batch(net, samples, list(labels), loss, t_end, rule, code, grad=False, workers=threads)
        losses, decisions = out.losses, out.decisions
        spikes = np.sum([c.sum(axis=1) for c in out.spike_counts], axis=0) if out.spike_counts else np.zeros(1)
    else:
        results = map_chunks(pmap or SampleMap(1), _chunk_eval, (net,), samples, list(labels),
                             (loss, t_end, rule, code))
        losses = np.array([r[0] for r in results])
        decisions = np.array([r[1] for r in results])
        spikes = np.array([r[2] for r in results])
    return {"loss": float(losses.mean()), "accuracy": float(np.mean(decisions == np.asarray(labels))),
            "spikes": float(np.mean(spikes))}


def _to_latent(grads: dict[str, list], units: list[float]) -> dict[str, np.ndarray]:
    """Engine gradients (float units) -> gradients of the latent parameters: ``dL/dw = dL/dW * unit``."""
    out = {f"W{k}": grads["weights"][k] * unit for k, unit in enumerate(units)}
    out.update({f"theta{k}": g for k, g in enumerate(grads["threshold"]) if g is not None})
    return out


def bump_silent_neurons(config: TrainConfig, params: dict[str, np.ndarray], counts: list[np.ndarray]
                        ) -> dict[str, np.ndarray]:
    """Weight bumping: add ``config.bump`` to the incoming latent weights of every spiking neuron that
    was silent in more than ``config.bump_silent[layer]`` of the samples. ``counts[layer]`` holds the
    spike counts (samples, neurons) of spiking layer ``layer``."""
    if config.bump == 0:
        return params
    out = dict(params)
    for layer in range(len(counts)):
        silent = np.mean(counts[layer] == 0, axis=0)
        allowed = config.bump_silent[min(layer, len(config.bump_silent) - 1)]
        dead = silent > allowed
        if np.any(dead):
            out[f"W{layer}"] = params[f"W{layer}"] + config.bump * dead[None, :]
    return out


def _latent_grads(grads: dict[str, list], units: list[float], params: dict[str, np.ndarray]) -> dict:
    """The gradients of the trained parameters only (fixed thresholds are dropped)."""
    return {k: v for k, v in _to_latent(grads, units).items() if k in params}


# -- the training loop -----------------------------------------------------------------------------------
@dataclass
class TrainResult:
    network: Network
    out_dir: Path
    history: list[dict[str, Any]]
    summary: dict[str, Any]


def train(config: TrainConfig, out_dir: str | os.PathLike, *, resume: bool = False, workers: int | None = 1,
          stop_after: int | None = None, quiet: bool = True, evaluate_test: bool = True,
          task: Task | None = None, batched_engine: bool = True) -> TrainResult:
    """Train (or resume) and write the run's files into ``out_dir``.

    ``workers``: cores for the per-sample work (``None``: every core). The batched engine
    (:func:`uses_batched`) runs them as threads in this process; the per-sample path runs ``workers``
    processes when it is given explicitly and serially by default (worker processes cost more than they
    save on small networks). The result is the same either way (to round-off; ``batched_engine=False``
    forces the per-sample reference path, for comparisons). ``stop_after``: stop after
    that many epochs in this call (an interruption; resume later with ``resume=True``). The network
    saved is the one with the best validation accuracy (earliest on ties); the test split is evaluated
    once, at the end, on that network. ``task``: your own :class:`~toolchain.data.Task` (its events on
    the ``config.dt`` grid) instead of the registered task ``config.task``.
    """
    config.validate(registered_task=task is None)
    if task is not None and task.dt != config.dt:
        raise InputError(f"the task's events lie on a {task.dt} s grid but the trainer's dt is {config.dt} s; "
                         "build the task with dt=config.dt")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = task if task is not None else load_config_task(config)
    sizes = layer_sizes(config, task)
    if config.mode == "grid":
        check_layer_plan(sizes, config.chip)
    code = task_code(config, task)
    loss, rule, units = make_loss(config, code, task.n_classes), config.decision_rule, weight_units(config)
    if config.t_end <= task.duration - 1e-12:
        raise_hyperparameter_violations([Violation("t_end", f"the trial ({config.t_end} s) must not end before "
                                                   f"the task's input window ({task.duration} s)",
                                                   value=config.t_end, limit=task.duration)])
    train_inputs, train_labels = task_inputs(config, task, "train", config.train_subset)
    val_inputs, val_labels = task_inputs(config, task, "val", config.val_subset)
    schedule = LRSchedule(config.schedule, config.lr, config.gamma, config.step_size)
    log = MetricsLog(out / METRICS_FILE)
    settings = config.settings()
    if resume:
        ckpt = load_checkpoint(out / CHECKPOINT_FILE)
        require_same_settings(ckpt.extra["settings"], settings)
        params, opt, rng = ckpt.params, Adam.from_state_dict(ckpt.optimizer), rng_from_state(ckpt.rng_state)
        best = ckpt.extra["best"]
        start, wall = ckpt.epoch, float(ckpt.extra["wall_seconds"])
        log.restore(ckpt.history)
    else:
        params = constrain(config, initial_parameters(config, sizes, clock_ticks(config, task)))
        opt, rng = Adam(lr=config.lr), np.random.default_rng([config.seed, 2])
        best = {"epoch": -1, "val_accuracy": -1.0, "params": params}
        start, wall = 0, 0.0
    end = config.epochs if stop_after is None else min(config.epochs, start + stop_after)
    threads = default_workers() if workers is None else workers
    probe = build_network(config, sizes, params)
    fast = batched_engine and uses_batched(probe, loss, config.engine)
    processes = 1 if fast or workers is None else workers
    with SampleMap(processes) as pmap, TrainingProgress(config.epochs, disable=quiet) as bar:
        for epoch in range(start, end):
            t0 = time.perf_counter()
            batches = minibatches(len(train_inputs), config.batch_size, rng)
            bar.start_epoch(epoch, len(batches))
            norms, correct, total_loss, total_spikes = [], 0, 0.0, 0.0
            for batch in batches:
                net = build_network(config, sizes, params)
                jitter = threshold_jitter(config, net, len(batch), rng)
                step = minibatch_step(pmap, net, [train_inputs[i] for i in batch], jitter,
                                      [train_labels[i] for i in batch], loss, config.t_end, config.engine, rule, code,
                                      threads, fast)
                grads = {name: g / len(batch) for name, g in _latent_grads(step.grads, units, params).items()}
                grads, norm = clip_global_norm(grads, config.max_grad_norm)
                params = opt.step(params, grads, lr=schedule(epoch))
                params = constrain(config, bump_silent_neurons(config, params, step.spike_counts))
                losses = step.losses
                hits = int(np.sum(step.decisions == train_labels[batch]))
                spikes = float(sum(c.sum() for c in step.spike_counts))
                norms.append(norm)
                correct += hits
                total_loss += float(np.sum(losses))
                total_spikes += spikes
                bar.advance(float(np.mean(losses)), hits / len(batch), spikes / len(batch), len(batch))
            n = len(train_inputs)
            net = build_network(config, sizes, params)
            val = evaluate(net, val_inputs, val_labels, loss, config.t_end, rule, pmap, code, threads, fast)
            if val["accuracy"] > best["val_accuracy"]:
                best = {"epoch": epoch, "val_accuracy": val["accuracy"], "params": params}
            record = {"epoch": epoch, "lr": schedule(epoch), "loss": total_loss / n, "accuracy": correct / n,
                      "spikes_per_sample": total_spikes / n, "grad_norm_mean": float(np.mean(norms)),
                      "grad_norm_max": float(np.max(norms)), "val_loss": val["loss"],
                      "val_accuracy": val["accuracy"], "val_spikes_per_sample": val["spikes"]}
            log.append(record)
            bar.end_epoch({"val_acc": f"{100 * val['accuracy']:.1f}%"})
            wall += time.perf_counter() - t0
            save_checkpoint(out / CHECKPOINT_FILE, Checkpoint(
                epoch + 1, params, opt.state_dict(), rng_state(rng), log.read(),
                {"settings": settings, "best": best, "wall_seconds": wall}))
        final = build_network(config, sizes, best["params"],
                              network_metadata(config, task, best["params"]))
        final.metadata.update({"epoch": best["epoch"], "val_accuracy": best["val_accuracy"]})
        final.save(out / NETWORK_FILE)
        summary = {"task": config.task, "mode": config.mode, "chip": config.chip, "epochs_done": end,
                   "epochs": config.epochs, "best_epoch": best["epoch"], "val_accuracy": best["val_accuracy"],
                   "train_wall_seconds": wall, "workers": threads if fast else pmap.workers,
                   "parallel": "threads" if fast else ("processes" if pmap.workers > 1 else "serial"),
                   "layer_sizes": sizes}
        if evaluate_test and end == config.epochs:
            test_inputs, test_labels = task_inputs(config, task, "test")
            test = evaluate(final, test_inputs, test_labels, loss, config.t_end, rule, pmap, code, threads, fast)
            summary.update({"test_accuracy": test["accuracy"], "test_loss": test["loss"],
                            "test_spikes_per_sample": test["spikes"], "n_test": len(task.test)})
    atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=1))
    return TrainResult(load_network(out / NETWORK_FILE), out, log.read(), summary)


def load_settings(path: str | os.PathLike) -> TrainConfig:
    """A :class:`TrainConfig` from a JSON file of settings (e.g. the ``settings`` of a checkpoint)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the settings file ({exc})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: the settings file must hold a JSON object")
    return TrainConfig.from_dict(doc)
