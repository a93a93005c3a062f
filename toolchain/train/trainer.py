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

Learned time constants (``learn_tau``, off by default): every neuron gets latent dashes for ``tau_syn`` and
``tau_mem``, initialised at the layer's ``dash_syn``/``dash_mem`` and kept in ``[1, dash_max]``. Grid mode runs
the forward pass at ``tau(round(dash))`` (straight-through: ``dL/ddash := dL/dtau tau'(round(dash))`` with the
continuous ``tau(d) = -dt / ln(1 - 2**-d)``); float mode at ``tau(dash)`` itself. The latent value is the dash
divided by ``tau_lr_scale``, so Adam moves a dash by about ``tau_lr_scale * lr`` per step; ``tau_layers``
limits learning to some layers (0 = first hidden layer; default every layer). The compiler
writes the per-neuron dashes. These runs take the per-sample path (the batched engine has no time-constant
gradients).

Hop delays: input -> first hidden layer costs nothing on the chip. A hidden spike that crosses the
threshold at float time ``t`` is recorded in the step ending at ``ceil(t / dt) dt`` and reaches the next
layer then (toolchain/compile/units.py), i.e. 0 to 1 step later, half a step on average. The delay of
every later hop is therefore ``hop_delay_steps * dt`` with ``hop_delay_steps = 0.5`` by default;
``1.0`` reproduces DESIGN.md's "one dt per hop". It is recorded in the network's metadata.

Parallelism: a minibatch is cut into aligned shards that run on an executor (:mod:`toolchain.dist`: this
process by default, or Dask workers; the training data is sent to the workers once per run and the network once
per step). A shard runs in the batched engine (:mod:`toolchain.grad.batched`: forward pass, loss and gradient of
every sample in compiled code, on threads) when the engine is ``fp`` or ``hm2bp`` and the loss is one it compiles
for that engine, else on the per-sample path. Either way the batch gradient is a fixed pairwise tree sum over the
batch's positions (:mod:`toolchain.dist.reduce`), so the result does not depend on the number of workers or threads.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.atomic import atomic_write_text
from hw_models.chips import get_chip, spec_to_dict, tau_from_dash
from hw_models.errors import InputError, SpikelineError, Violation
from hw_models.files import read_json
from hw_models.lock import folder_lock
from toolchain.data import class_names, load_task, task_names, task_options
from toolchain.data.inputs import clock_period, clock_ticks, task_inputs
from toolchain.data.tasks import Task
from toolchain.decode import RULE_OF_LOSS, decide
from toolchain.dist import Executor, SerialExecutor, default_threads, make_executor
from toolchain.dist.reduce import PairwiseSum, shard_block, tree_sum
from toolchain.grad import batched
from toolchain.grad.api import ENGINES, sample_loss
from toolchain.lif.forward import Spikes, as_sample, forward
from toolchain.lif.kernels import psp, stationary_time
from toolchain.losses import LOSSES, Loss, check_count_penalties
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
from toolchain.train.progress import TrainingProgress

MODES = ("grid", "float")
TRAIN_ENGINES = ("fp", "fp-forward", "eventprop", "hm2bp")
#: losses on output spike counts: what the HM2-BP engine trains (it needs dL/d(count))
COUNT_LOSSES = ("count-mse", "spike-count")
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
    Parameter averaging (Polyak): with ``average = d > 0`` the run keeps ``avg <- d avg + (1 - d) theta`` of the
    latent parameters after every step (``avg = theta`` at the start); validation, the choice of the best epoch
    and the saved network use ``avg``, which smooths the epoch-to-epoch swings of a noisy validation split
    (about ``1 / (1 - d)`` steps of memory). ``0`` (the default) disables it.
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
    average: float = 0.0
    learn_tau: bool = False
    tau_lr_scale: float = 10.0
    tau_layers: list[int] | None = None

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
        elif (self.engine == "hm2bp" and self.loss not in COUNT_LOSSES) or (
                self.loss == "count-mse" and self.engine != "hm2bp"):
            v.append(Violation("engine", f"engine {self.engine!r} cannot train loss {self.loss!r}",
                               hint="HM2-BP trains count losses (count-mse, spike-count); count-mse has no "
                                    "exact spike-time gradient, so train it with --engine hm2bp"))
        else:
            try:
                check_count_penalties(make_loss(self, None), self.engine)
            except (TypeError, SpikelineError) as exc:
                v.append(Violation("loss_options", str(exc), hint="options of the loss class (see losses.py, "
                                   "coding.py)"))
        v.append(number_violation("dt", self.dt, 0, 1, lo_open=True, hint="e.g. 1e-3"))
        v.append(number_violation("threshold", self.threshold, 0, math.inf, lo_open=True, hint="e.g. 1.0"))
        v.append(number_violation("t_end", self.t_end, 0, math.inf, lo_open=True, hint="e.g. 0.06"))
        v.append(number_violation("hop_delay_steps", self.hop_delay_steps, 0, 16, hint="0.5 (default) or 1.0"))
        v.append(number_violation("lr", self.lr, 0, math.inf, lo_open=True, hint="e.g. 5e-3"))
        v.append(number_violation("bump", self.bump, 0, math.inf, hint="e.g. 1e-3, or 0 to disable"))
        v.append(number_violation("average", self.average, 0, 1, hi_open=True,
                                  hint="e.g. 0.99 (about 100 steps of memory), or 0 to disable"))
        if not (isinstance(self.bump_silent, (list, tuple)) and all(_fraction(f) for f in self.bump_silent)):
            v.append(Violation("bump_silent", f"need a list of fractions in [0, 1], got {self.bump_silent!r}",
                               hint="e.g. [0.9, 0.0]"))
        v.append(number_violation("threshold_noise", self.threshold_noise, 0, 0.5,
                                  hint="a relative jitter such as 0.05, or 0 to disable"))
        v.append(number_violation("gamma", self.gamma, 0, 1, lo_open=True, hint="e.g. 0.95"))
        if not isinstance(self.learn_tau, bool):
            v.append(Violation("learn_tau", f"must be true or false, got {self.learn_tau!r}",
                               value=repr(self.learn_tau)))
        elif self.learn_tau and self.engine == "hm2bp":
            v.append(Violation("learn_tau", "the hm2bp engine has no time-constant gradients",
                               hint="use engine fp, fp-forward or eventprop, or learn_tau false"))
        v.append(number_violation("tau_lr_scale", self.tau_lr_scale, 0, math.inf, lo_open=True, hint="e.g. 10"))
        n_tau_layers = len(self.hidden) + 1 if isinstance(self.hidden, (list, tuple)) else 0
        if self.tau_layers is not None and not (
                isinstance(self.tau_layers, (list, tuple)) and self.tau_layers
                and all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < n_tau_layers
                        for k in self.tau_layers) and len(set(self.tau_layers)) == len(self.tau_layers)):
            v.append(Violation("tau_layers", f"need distinct layer indices in 0..{n_tau_layers - 1} (0 = first "
                               f"hidden layer), got {self.tau_layers!r}", hint="e.g. [0], or None for every layer"))
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
    if code is not None and config.loss == "count-mse":
        return LOSSES["count-mse"](**config.loss_options, code=code)
    if code is not None:
        raise_hyperparameter_violations([Violation(
            "loss", f"{config.loss!r} needs one readout neuron per class, but the task has {code.shape[0]} "
            f"classes and {config.chip} {code.shape[1]} readouts", hint="use max-voltage or integrated-voltage")])
    return config.make_loss()


def time_constants(config: TrainConfig) -> tuple[list[float], list[float]]:
    """``tau_syn`` and ``tau_mem`` per non-input layer: ``tau(dash) = -dt / ln(1 - 2**-dash)``."""
    return ([tau_from_dash(int(d), config.dt) for d in config.dash_syn],
            [tau_from_dash(int(d), config.dt) for d in config.dash_mem])


def tau_of_dash(dash: np.ndarray, dt: float) -> np.ndarray:
    """The continuous ``tau(d) = -dt / ln(1 - 2**-d)`` (equal to :func:`tau_from_dash` at whole dashes)."""
    return -dt / np.log1p(-(2.0 ** -np.asarray(dash, np.float64)))


def tau_dash_slope(dash: np.ndarray, dt: float) -> np.ndarray:
    """``dtau/ddash = dt ln2 2**-d / ((1 - 2**-d) ln(1 - 2**-d)**2)`` (> 0)."""
    x = 2.0 ** -np.asarray(dash, np.float64)
    return dt * math.log(2.0) * x / ((1.0 - x) * np.log1p(-x) ** 2)


TAU_LATENTS = (("dsyn", "tau_syn", "dash_syn"), ("dmem", "tau_mem", "dash_mem"))


def tau_layers(config: TrainConfig) -> list[int]:
    """The layers (0 = first hidden, as in ``dash_syn``) whose time constants are learned."""
    if not config.learn_tau:
        return []
    return list(range(len(config.hidden) + 1)) if config.tau_layers is None else [int(k) for k in config.tau_layers]


def learned_dashes(config: TrainConfig, params: dict[str, np.ndarray], layer: int, prefix: str) -> np.ndarray:
    """The dashes the forward pass uses for layer ``layer + 1`` (``prefix`` dsyn or dmem): whole in grid mode;
    the layer's configured dash for every neuron when that layer's time constants are not learned."""
    if f"{prefix}{layer}" not in params:
        fixed = (config.dash_syn if prefix == "dsyn" else config.dash_mem)[layer]
        return np.full(params[f"W{layer}"].shape[1], float(fixed))
    dash = params[f"{prefix}{layer}"] * config.tau_lr_scale
    return np.rint(dash) if config.mode == "grid" else dash


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
    for prefix, _, dashes in TAU_LATENTS:
        for k in tau_layers(config):
            params[f"{prefix}{k}"] = np.full(sizes[k + 1], getattr(config, dashes)[k] / config.tau_lr_scale)
    return params


def threshold_floor(config: TrainConfig, params: dict[str, np.ndarray], layer: int) -> float:
    """The smallest threshold of layer ``layer + 1``: one voltage unit ``u = s dt`` (grid), or a small
    fraction of the initial threshold (float)."""
    if config.mode == "grid":
        _, scale = quantize_weights(params[f"W{layer}"] * weight_units(config)[layer])
        return voltage_unit(scale, config.dt)
    return FLOAT_THRESHOLD_FLOOR * config.threshold


def constrain(config: TrainConfig, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Projected update: thresholds stay at or above :func:`threshold_floor` (never below one chip unit);
    learned dashes stay in ``[1, dash_max]`` of the chip."""
    out = dict(params)
    dash_max = get_chip(config.chip).dash_range[1]
    for name in params:
        if name.startswith("theta"):
            out[name] = np.maximum(params[name], threshold_floor(config, params, int(name[5:])))
        elif name[:4] in ("dsyn", "dmem"):
            out[name] = np.clip(params[name], 1.0 / config.tau_lr_scale, dash_max / config.tau_lr_scale)
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
    if config.learn_tau:
        tau_syn, tau_mem = ([tau_of_dash(learned_dashes(config, params, k, prefix), config.dt) for k in range(n_hops)]
                            for prefix, _, _ in TAU_LATENTS)
    return Network.create(weights, tau_syn, tau_mem, thresholds, delays=hop_delays(config),
                          readout=config.readout, dt=config.dt, metadata=metadata)


def input_metadata(config: TrainConfig, task: Task) -> dict[str, Any]:
    """How the network's inputs are built from the task (``task``, ``task_options``, ``t_end``, ``clock``):
    what :func:`toolchain.data.inputs.metadata_inputs` reads."""
    return {"task": config.task, "task_options": {**config.task_options, "dt": config.dt}, "t_end": config.t_end,
            "clock": ({"first_channel": task.n_inputs, "n_ticks": clock_ticks(config, task),
                       "period": clock_period(config, task)} if config.clock else None)}


def network_metadata(config: TrainConfig, task: Task, params: dict[str, np.ndarray]) -> dict[str, Any]:
    """What ``spikeline verify`` needs to evaluate the test split as the trainer did."""
    meta: dict[str, Any] = {
        "trained_by": "spikeline.train", **input_metadata(config, task), "encoding": task.encoding,
        "duration": task.duration, "loss": {"name": config.loss, **config.loss_options},
        "decision": config.decision_rule,
        "chip": get_chip(config.chip).name, "dt": config.dt, "mode": config.mode, "seed": config.seed,
        "hop_delay_steps": config.hop_delay_steps, "dash_syn": list(config.dash_syn),
        "dash_mem": list(config.dash_mem), "n_classes": task.n_classes,
        "class_names": class_names(config.task, task.n_classes),
        "output_code": None if task_code(config, task) is None else task_code(config, task).tolist(),
    }
    if get_chip(config.chip).custom:
        meta["chip_spec"] = spec_to_dict(get_chip(config.chip))
    if config.learn_tau:
        meta["learn_tau"] = True
        for prefix, _, dashes in TAU_LATENTS:
            meta[f"learned_{dashes}"] = [learned_dashes(config, params, k, prefix).tolist()
                                         for k in range(len(config.hidden) + 1)]
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


def sample_step(net: Network, sample: Spikes, factors, label: int, static: tuple, taus: bool = False
                ) -> tuple[float, dict, list[np.ndarray], int]:
    """Loss, gradient (engine units), spike counts and decision of one training sample on the per-sample path.
    ``factors``: its threshold factors (:func:`threshold_jitter`); the threshold gradient is taken back through
    them (``dL/dtheta = f dL/d(f theta)``). ``static = (loss, t_end, engine, rule, code, ...)``. ``taus``: also
    the time-constant gradients."""
    loss, t_end, engine, rule, code = static[:5]
    run = with_threshold_factors(net, factors)
    fwd = forward(run, sample, t_end)
    value = sample_loss(run, fwd, int(label), loss)
    grads = ENGINES[engine](run, fwd, value, taus=True) if taus else ENGINES[engine](run, fwd, value)
    if factors is not None:
        grads["threshold"] = [g if g is None or f is None else g * f
                              for g, f in zip(grads["threshold"], factors, strict=True)]
    return value.value, grads, fwd.spike_counts(run), decide(rule, fwd, run.layer_sizes[-1], code)


def average_parameters(average: dict[str, np.ndarray], params: dict[str, np.ndarray], decay: float
                       ) -> dict[str, np.ndarray]:
    """One step of the exponential moving average: ``decay * average + (1 - decay) * params``, per array."""
    return {name: decay * average[name] + (1.0 - decay) * params[name] for name in params}


def uses_batched(net: Network, loss: Loss, engine: str = "fp", learn_tau: bool = False) -> bool:
    """Whether the batched engine (:mod:`toolchain.grad.batched`) runs this configuration: reverse-mode FP or
    HM2-BP, a loss it compiles and fixed time constants. Otherwise the per-sample path runs (:func:`sample_step`)."""
    return not learn_tau and batched.supports(net, loss, engine)


def _add_grads_into(a: dict, b: dict) -> dict:
    """``a + b`` written into ``a``, array by array (the same bits as ``x + y``, without new arrays): every
    gradient summed here is its sum's own (a sample's fresh gradient, or a shard's result)."""
    for name in a:
        for x, y in zip(a[name], b[name], strict=True):
            if x is not None:
                x += y
    return a


def _shard_step(item: tuple, net: Network, data: tuple, static: tuple) -> batched.BatchResult:
    """One aligned shard of a minibatch (runs wherever the executor puts it): per-sample losses, decisions and
    spike counts, and the :func:`tree_sum` of the per-sample gradients over the shard's positions.
    ``static = (loss, t_end, engine, rule, code, fast, threads, taus)``: ``fast`` picks the batched engine,
    ``taus`` asks for time-constant gradients (per-sample path only, which sums as it goes: a few gradients
    alive, not one per sample)."""
    indices, factors = item
    inputs, labels = data
    loss, t_end, engine, rule, code, fast, threads, taus = static
    samples, shard_labels = [inputs[i] for i in indices], [labels[i] for i in indices]
    if fast:
        return batched.run_batch(net, samples, shard_labels, loss, t_end, rule, code, threshold_factors=factors,
                                 workers=threads, engine=engine)
    total, rows = PairwiseSum(_add_grads_into), []
    for s, f, y in zip(samples, factors, shard_labels, strict=True):
        value, grads, counts, decision = sample_step(net, s, f, y, static, taus)
        total.push(grads)
        rows.append((value, counts, decision))
    counts = [np.stack([r[1][layer] for r in rows]) for layer in range(len(rows[0][1]))]
    return batched.BatchResult(np.array([r[0] for r in rows]), np.array([r[2] for r in rows]), counts,
                               total.total())


def batch_step(executor: Executor, net: Network, data: Any, batch: np.ndarray, jitter: list, static: Any
               ) -> batched.BatchResult:
    """Per-sample losses, decisions and spike counts of ``batch`` (in sample order) and the sum of its per-sample
    gradients (engine units): a fixed pairwise tree over the batch's positions (:mod:`toolchain.dist.reduce`),
    so it is bit-identical however many workers share the batch."""
    block = shard_block(len(batch), 1 if executor.workers == 1 else 2 * executor.workers)
    items = [(batch[a:a + block], jitter[a:a + block]) for a in range(0, len(batch), block)]
    shards = executor.map(_shard_step, items, executor.share(net), data, static)
    return batched.BatchResult(np.concatenate([r.losses for r in shards]),
                               np.concatenate([r.decisions for r in shards]),
                               [np.concatenate([r.spike_counts[k] for r in shards])
                                for k in range(len(shards[0].spike_counts))],
                               tree_sum([r.grads for r in shards], _add_grads_into))


def _shard_eval(bounds: tuple[int, int], net: Network, data: tuple, static: tuple) -> tuple:
    """Losses, decisions and numbers of spikes of samples ``a:b`` of ``data``, without gradients (the batched
    engine when ``fast``)."""
    inputs, labels = data
    loss, t_end, rule, code, fast, threads = static
    samples, shard_labels = inputs[bounds[0]:bounds[1]], labels[bounds[0]:bounds[1]]
    if fast:
        out = batched.run_batch(net, samples, shard_labels, loss, t_end, rule, code, grad=False, workers=threads)
        spikes = np.sum([c.sum(axis=1) for c in out.spike_counts], axis=0) if out.spike_counts \
            else np.zeros(len(samples))
        return out.losses, out.decisions, spikes
    rows = []
    for sample, label in zip(samples, shard_labels, strict=True):
        fwd = forward(net, sample, t_end)
        rows.append((sample_loss(net, fwd, int(label), loss).value, decide(rule, fwd, net.layer_sizes[-1], code),
                     int(sum(len(s.times) for s in fwd.layers))))
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows])


def evaluation_data(net: Network, inputs: list, labels) -> tuple[list[Spikes], list[int]]:
    """Checked samples and labels for :func:`evaluate` (share them once with ``executor.share``)."""
    if len(inputs) != len(labels) or len(inputs) == 0:
        raise InputError(f"{len(inputs)} samples but {len(labels)} labels; give one label per sample (and at "
                         "least one sample)")
    samples = [s if isinstance(s, Spikes) else as_sample(s, net.layer_sizes[0], i) for i, s in enumerate(inputs)]
    return samples, [int(v) for v in labels]


def evaluate(net: Network, inputs: list, labels: np.ndarray, loss: Loss, t_end: float, rule: str,
             executor: Executor | None = None, code: np.ndarray | None = None, data: Any = None,
             fast: bool | None = None) -> dict[str, float]:
    """Mean loss, accuracy (decision == label; no decision counts as wrong) and spikes per sample.
    ``data``: the executor's handle of :func:`evaluation_data` ``(net, inputs, labels)`` when already shared;
    ``fast``: the batched engine (default: when it compiles the loss)."""
    executor = executor or SerialExecutor()
    if data is None:
        data = executor.share(evaluation_data(net, inputs, labels))
    fast = batched.supports(net, loss) if fast is None else fast
    n = len(labels)
    parts = max(1, min(n, 4 * executor.workers if executor.workers > 1 else 1))
    bounds = np.linspace(0, n, parts + 1).astype(int)
    ranges = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    static = (loss, t_end, rule, code, fast, default_threads(executor))
    results = executor.map(_shard_eval, ranges, executor.share(net), data, static)
    losses = np.concatenate([r[0] for r in results])
    decisions = np.concatenate([r[1] for r in results])
    spikes = np.concatenate([r[2] for r in results])
    return {"loss": float(losses.mean()), "accuracy": float(np.mean(decisions == np.asarray(labels))),
            "spikes": float(np.mean(spikes))}


def _to_latent(grads: dict[str, list], units: list[float], config: TrainConfig | None = None,
               params: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Engine gradients (float units) -> gradients of the latent parameters: ``dL/dw = dL/dW * unit``; with
    time-constant gradients (and ``config``, ``params``), the latent dashes' straight-through
    ``dL/dtau * tau'(dash) * tau_lr_scale`` at the dash the forward pass used."""
    out = {f"W{k}": grads["weights"][k] * unit for k, unit in enumerate(units)}
    out.update({f"theta{k}": g for k, g in enumerate(grads["threshold"]) if g is not None})
    if config is not None and params is not None and "tau_syn" in grads:
        for prefix, group, _ in TAU_LATENTS:
            for k, g in enumerate(grads[group]):
                if f"{prefix}{k}" not in params:
                    continue
                dash = learned_dashes(config, params, k, prefix)
                out[f"{prefix}{k}"] = g * tau_dash_slope(dash, config.dt) * config.tau_lr_scale
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


def _latent_grads(grads: dict[str, list], units: list[float], params: dict[str, np.ndarray],
                  config: TrainConfig | None = None) -> dict:
    """The gradients of the trained parameters only (fixed thresholds are dropped)."""
    return {k: v for k, v in _to_latent(grads, units, config, params).items() if k in params}


# -- the training loop -----------------------------------------------------------------------------------
@dataclass
class TrainResult:
    network: Network
    out_dir: Path
    history: list[dict[str, Any]]
    summary: dict[str, Any]


def train(config: TrainConfig, out_dir: str | os.PathLike, *, resume: bool = False, scheduler: str | None = None,
          stop_after: int | None = None, quiet: bool = True, evaluate_test: bool = True,
          task: Task | None = None, executor: Executor | None = None, batched_engine: bool = True) -> TrainResult:
    """Train (or resume) and write the run's files into ``out_dir``.

    ``scheduler``: where the per-sample work runs (:func:`toolchain.dist.make_executor`: ``None`` = this
    process, ``"local:N"``, a Dask address); or pass a running ``executor``. The network, metrics and
    checkpoints are bit-identical on every scheduler. The batched engine (:func:`uses_batched`) runs each shard
    on threads (every core in this process; one per Dask worker); ``batched_engine=False`` forces the
    per-sample reference path, for comparisons (the same result to round-off). ``stop_after``: stop after
    that many epochs in this call (an interruption; resume later with ``resume=True``). The network
    saved is the one with the best validation accuracy (earliest on ties); the test split is evaluated
    once, at the end, on that network. ``task``: your own :class:`~toolchain.data.Task` (its events on
    the ``config.dt`` grid) instead of the registered task ``config.task``.
    """
    config.validate(registered_task=task is None)
    if task is not None and task.dt != config.dt:
        raise InputError(f"the task's events lie on a {task.dt} s grid but the trainer's dt is {config.dt} s; "
                         "build the task with dt=config.dt")
    with folder_lock(out_dir, "training run"):
        return _train(config, Path(out_dir), resume, scheduler, executor, stop_after, quiet, evaluate_test, task,
                      batched_engine)


def _train(config: TrainConfig, out: Path, resume: bool, scheduler: str | None, executor: Executor | None,
           stop_after: int | None, quiet: bool, evaluate_test: bool, task: Task | None, batched_engine: bool
           ) -> TrainResult:
    """:func:`train`, with the output folder locked."""
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
        average = ckpt.extra.get("average", params)
        start, wall = ckpt.epoch, float(ckpt.extra["wall_seconds"])
        log.restore(ckpt.history)
    else:
        params = constrain(config, initial_parameters(config, sizes, clock_ticks(config, task)))
        opt, rng = Adam(lr=config.lr), np.random.default_rng([config.seed, 2])
        best = {"epoch": -1, "val_accuracy": -1.0, "params": params}
        average = params
        start, wall = 0, 0.0
    end = config.epochs if stop_after is None else min(config.epochs, start + stop_after)
    fast = batched_engine and uses_batched(build_network(config, sizes, params), loss, config.engine, config.learn_tau)
    fast_eval = batched_engine and uses_batched(build_network(config, sizes, params), loss, config.engine)
    with (make_executor(scheduler) if executor is None else nullcontext(executor)) as executor, \
            TrainingProgress(config.epochs, disable=quiet) as bar:
        static = (loss, config.t_end, config.engine, rule, code, fast, default_threads(executor), config.learn_tau)
        train_data = executor.share((train_inputs, [int(v) for v in train_labels]))
        val_data = executor.share(evaluation_data(build_network(config, sizes, params), val_inputs, val_labels))
        for epoch in range(start, end):
            t0 = time.perf_counter()
            batches = minibatches(len(train_inputs), config.batch_size, rng)
            bar.start_epoch(epoch, len(batches))
            norms, correct, total_loss, total_spikes = [], 0, 0.0, 0.0
            for batch in batches:
                net = build_network(config, sizes, params)
                jitter = threshold_jitter(config, net, len(batch), rng)
                step = batch_step(executor, net, train_data, batch, jitter, static)
                grads = {name: g / len(batch) for name, g in _latent_grads(step.grads, units, params, config).items()}
                grads, norm = clip_global_norm(grads, config.max_grad_norm)
                params = opt.step(params, grads, lr=schedule(epoch))
                params = constrain(config, bump_silent_neurons(config, params, step.spike_counts))
                if config.average > 0:
                    average = average_parameters(average, params, config.average)
                losses = step.losses
                hits = int(np.sum(step.decisions == np.asarray(train_labels)[batch]))
                spikes = float(sum(c.sum() for c in step.spike_counts))
                norms.append(norm)
                correct += hits
                total_loss += float(np.sum(losses))
                total_spikes += spikes
                bar.advance(float(np.mean(losses)), hits / len(batch), spikes / len(batch), len(batch))
            n = len(train_inputs)
            chosen = average if config.average > 0 else params  # what validation judges and the run saves
            net = build_network(config, sizes, chosen)
            val = evaluate(net, val_inputs, val_labels, loss, config.t_end, rule, executor, code, val_data, fast_eval)
            if val["accuracy"] > best["val_accuracy"]:
                best = {"epoch": epoch, "val_accuracy": val["accuracy"], "params": chosen}
            record = {"epoch": epoch, "lr": schedule(epoch), "loss": total_loss / n, "accuracy": correct / n,
                      "spikes_per_sample": total_spikes / n, "grad_norm_mean": float(np.mean(norms)),
                      "grad_norm_max": float(np.max(norms)), "val_loss": val["loss"],
                      "val_accuracy": val["accuracy"], "val_spikes_per_sample": val["spikes"]}
            log.append(record)
            bar.end_epoch({"val_acc": f"{100 * val['accuracy']:.1f}%"})
            wall += time.perf_counter() - t0
            save_checkpoint(out / CHECKPOINT_FILE, Checkpoint(
                epoch + 1, params, opt.state_dict(), rng_state(rng), log.read(),
                {"settings": settings, "best": best, "wall_seconds": wall,
                 **({"average": average} if config.average > 0 else {})}))
        final = build_network(config, sizes, best["params"],
                              network_metadata(config, task, best["params"]))
        final.metadata.update({"epoch": best["epoch"], "val_accuracy": best["val_accuracy"]})
        final.save(out / NETWORK_FILE)
        summary = {"task": config.task, "mode": config.mode, "chip": config.chip, "epochs_done": end,
                   "epochs": config.epochs, "best_epoch": best["epoch"], "val_accuracy": best["val_accuracy"],
                   "train_wall_seconds": wall, "scheduler": executor.name, "workers": executor.workers,
                   "parallel": "threads" if fast else "serial", "threads": default_threads(executor),
                   "layer_sizes": sizes}
        if evaluate_test and end == config.epochs:
            test_inputs, test_labels = task_inputs(config, task, "test")
            test = evaluate(final, test_inputs, test_labels, loss, config.t_end, rule, executor, code, fast=fast_eval)
            summary.update({"test_accuracy": test["accuracy"], "test_loss": test["loss"],
                            "test_spikes_per_sample": test["spikes"], "n_test": len(task.test)})
    atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=1))
    return TrainResult(load_network(out / NETWORK_FILE), out, log.read(), summary)


def load_settings(path: str | os.PathLike) -> TrainConfig:
    """A :class:`TrainConfig` from a JSON file of settings (e.g. the ``settings`` of a checkpoint)."""
    doc = read_json(path, "a settings file", "give a JSON object of training settings", expect="")
    if not isinstance(doc, dict):
        raise InputError(f"{path}: the settings file must hold a JSON object")
    return TrainConfig.from_dict(doc)
