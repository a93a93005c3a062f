"""Float :class:`~toolchain.network.Network` -> integer :class:`~hw_models.config.ChipConfig` + report.

Steps: check the layer plan against the chip (every problem collected), choose the weight shifts and a
current unit per layer (:mod:`toolchain.compile.units`), quantize weights and thresholds, take each time
constant's dash, place the layers (:mod:`toolchain.compile.mapping`), build the configuration and run the
chip's design rules on it. Nothing is clipped: a value that does not fit is a violation.

Shift choice. For each post layer the current unit ``c`` makes its largest incoming weight 127 after the
shift. Larger shifts make ``c`` smaller and every integer state larger, so the floor/min-1 decay rounding
matters less; they are limited by (a) thresholds: ``theta_int <= 2**(15 - headroom_bits)`` leaves room
for the membrane to overshoot, and (b) one event from every presynaptic source in one step must not
saturate a synaptic state. The shifts (``shift_in``, ``shift_rec`` shared by every hidden->hidden hop,
``shift_out``) maximising the smallest integer threshold under (a) and (b) are taken.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from hw_models.chips import ChipSpec, get_chip, spec_to_dict
from hw_models.config import ChipConfig
from hw_models.errors import ConfigError, InputError, Violation
from hw_models.rules import check, resources
from hw_models.rules import warnings as rule_warnings
from toolchain.compile.mapping import RELAY_THRESHOLD, Layout, plan
from toolchain.compile.report import CompileReport, LayerReport
from toolchain.compile.units import kernel_gain, taus_of, threshold_to_int, weights_to_int
from toolchain.network import Network
from toolchain.train.grid import dash_for_tau

W_MAX = 127
MAX_SHIFT = 8  # 127 << 8 still fits int16


class CompileError(ConfigError):
    """The network does not fit the chip; carries every violation and the (partial) report."""

    def __init__(self, violations: list[Violation], report: CompileReport | None, source: str | None = None):
        self.report = report
        super().__init__(violations, source)


def _incoming(net: Network) -> list[list[tuple[str, np.ndarray]]]:
    """Per post layer (1..L): the float matrices feeding it and the chip matrix each goes through."""
    out = []
    for k, W in enumerate(net.weights):
        post = k + 1
        via = "in" if post == 1 else ("out" if post == net.n_layers else "rec")
        items = [(via, W)]
        if post < net.n_layers and net.recurrent[k] is not None:
            items.append(("rec", net.recurrent[k]))
        out.append(items)
    return out


def _current_unit(items: list[tuple[str, np.ndarray]], shifts: dict[str, int]) -> float:
    """Smallest ``c`` with every incoming weight within +-127 after its matrix's shift."""
    need = [float(np.max(np.abs(M), initial=0.0)) / (W_MAX * 2.0 ** shifts[via]) for via, M in items]
    c = max(need)
    return c if c > 0 else 1.0


def _kernel_peak(dash_syn: int, dash_mem: int, steps: int = 4096) -> float:
    """Peak of the chip's response ``v[n]`` to one unit event (exact decay factors, no rounding)."""
    a_s, a_m = 1 - 2.0**-dash_syn, 1 - 2.0**-dash_mem
    i, v, peak = 1.0, 0.0, 0.0
    for _ in range(steps):
        i *= a_s
        v = v * a_m + i
        peak = max(peak, v)
        if i < 1e-6 and v < peak * 0.5:
            break
    return peak


def _layer_fit(items, shifts: dict[str, int], theta, dt: float, limit: int, leaky_gain: float | None
               ) -> tuple[bool, bool, float]:
    """(thresholds fit, no one-step saturation, smallest integer threshold) of one post layer."""
    c = _current_unit(items, shifts)
    quiet, peak = True, 0.0
    for via, M in items:
        q_eff = weights_to_int(M, c, shifts[via]) * 2 ** shifts[via]
        pos = np.max(np.sum(np.maximum(q_eff, 0), axis=0), initial=0)
        neg = np.min(np.sum(np.minimum(q_eff, 0), axis=0), initial=0)
        quiet &= pos <= 32767 and neg >= -32768
        if leaky_gain is not None:  # a leaky readout's membrane must stay below the (never reached) threshold
            peak = max(peak, pos * leaky_gain)
            quiet &= peak <= 2**14
    if theta is None:  # leaky readout: its resolution is the size of its membrane peak
        return True, bool(quiet), float(peak)
    th = threshold_to_int(theta, c, dt)
    return bool(th.max() <= limit and th.min() >= 1), bool(quiet), float(th.min())


def _choose_shifts(net: Network, dt: float, limit: int, leaky_gain: float | None) -> dict[str, int]:
    """Shifts maximising the smallest integer threshold; saturation-free ones preferred (module doc)."""
    incoming = _incoming(net)
    L = net.n_layers
    candidates = []
    fitted: dict[tuple, tuple[bool, bool, float]] = {}  # a layer's fit depends only on its own matrices' shifts
    for sh_in, sh_rec, sh_out in itertools.product(range(MAX_SHIFT + 1), repeat=3):
        shifts = {"in": sh_in, "rec": sh_rec, "out": sh_out}
        fits, quiet, score, leaky_peak = True, True, math.inf, 0.0
        for post in range(1, L + 1):
            theta = net.threshold[post - 1]
            gain = leaky_gain if (post == L and theta is None) else None
            key = (post, *(shifts[via] for via, _ in incoming[post - 1]))
            if key not in fitted:
                fitted[key] = _layer_fit(incoming[post - 1], shifts, theta, dt, limit, gain)
            f, qt, resolution = fitted[key]
            fits, quiet = fits and f, quiet and qt
            if theta is None:
                leaky_peak = resolution
            else:
                score = min(score, resolution)
        if fits:  # rank: saturation-free first, then resolution, then smaller shifts
            candidates.append(((quiet, score, leaky_peak, -(sh_in + sh_rec + sh_out)), shifts))
    if not candidates:  # thresholds cannot fit: smallest shifts, the design rules then name the thresholds
        return {"in": 0, "rec": 0, "out": 0}
    return max(candidates, key=lambda c: c[0])[1]


def _plan_violations(net: Network, spec: ChipSpec, layout: Layout) -> list[Violation]:
    v: list[Violation] = []
    sizes = net.layer_sizes
    L = net.n_layers
    if sizes[0] > spec.n_inputs:
        v.append(Violation("layer 0 (input)", f"layer 0 has {sizes[0]:,} input channels; {spec.name} has "
                           f"{spec.n_inputs}", value=sizes[0], limit=spec.n_inputs,
                           hint="encode the data into fewer channels"))
    if sizes[-1] > spec.n_outputs:
        v.append(Violation(f"layer {L} (readout)", f"layer {L} has {sizes[-1]:,} neurons; {spec.name} has "
                           f"{spec.n_outputs} readout neurons", value=sizes[-1], limit=spec.n_outputs,
                           hint="use fewer outputs"))
    for b in layout.blocks:
        if b.size > spec.n_hidden:
            v.append(Violation(f"layer {b.layer}", f"layer {b.layer} has {b.size:,} neurons; {spec.name} has "
                               f"{spec.n_hidden:,} hidden neurons", value=b.size, limit=spec.n_hidden,
                               hint="make the layer smaller or target a larger chip"))
    n_rel = sum(b.n_relays for b in layout.blocks)
    if layout.n_hidden > spec.n_hidden and all(b.size <= spec.n_hidden for b in layout.blocks):
        v.append(Violation("hidden layers", f"the hidden layers need {layout.n_hidden:,} neurons "
                           f"({sum(sizes[1:-1]):,} + {n_rel:,} fan-out relays); {spec.name} has "
                           f"{spec.n_hidden:,}", value=layout.n_hidden, limit=spec.n_hidden,
                           hint="make the hidden layers smaller"))
    first, last = layout.blocks[0], layout.blocks[-1]
    if spec.input_window is not None and first.size > spec.input_window:
        v.append(Violation("layer 1", f"layer 1 receives the input and has {first.size:,} neurons; "
                           f"{spec.name} feeds input to {spec.input_window} hidden neurons",
                           value=first.size, limit=spec.input_window, hint="make layer 1 smaller"))
    if spec.output_window is not None and layout.n_hidden - last.start > spec.output_window:
        v.append(Violation(f"layer {last.layer}", f"layer {last.layer} drives the readout and spans "
                           f"{layout.n_hidden - last.start:,} neurons (with relays); {spec.name} reads out "
                           f"from the last {spec.output_window}", value=layout.n_hidden - last.start,
                           limit=spec.output_window, hint=f"make layer {last.layer} smaller"))
    return v


def _sizes_unlimited(spec: ChipSpec) -> ChipSpec:
    """The chip's arithmetic limits with unlimited sizes: range checks only."""
    big = 10**9
    return dataclasses.replace(spec, n_inputs=big, n_hidden=big, n_outputs=big, max_fanout=big,
                               max_recurrent_weights=big, input_window=None, output_window=None)


@dataclasses.dataclass
class _Build:
    shifts: dict[str, int]
    units: list[float]
    q: list[np.ndarray]
    thresholds: list[np.ndarray | None]
    layout: Layout
    config: ChipConfig
    threshold_scales: dict[int, float]
    attenuation: int = 1
    gain_correction: bool = False


def layer_thresholds(net: Network, dashes: dict, dt: float, units: list[float], gain_correction: bool, layer: int,
                     factor: float = 1.0) -> np.ndarray | None:
    """Integer thresholds of ``layer`` (1..L): ``round(theta / kappa * factor / (c dt))``, ``kappa`` the kernel
    gain with ``gain_correction`` (else 1), ``factor`` the rate-matching factor; ``None`` for a leaky readout."""
    theta = net.threshold[layer - 1]
    if theta is None:
        return None
    gain = kernel_gain(dashes[("tau_syn", layer)], dashes[("tau_mem", layer)], dt) if gain_correction else 1.0
    return threshold_to_int(theta / gain * factor, units[layer - 1], dt)


def _build(net: Network, spec: ChipSpec, dt: float, dashes: dict, shifts: dict[str, int], gain_correction: bool,
           threshold_scales: dict[int, float] | None = None, attenuation: int = 1) -> _Build:
    """Quantize ``net`` with the given shifts (and per-layer threshold factors) and lay it out (no checks).

    ``attenuation`` (a power of two) coarsens a leaky-integrator readout's weights: its current unit is
    multiplied by it, so its membrane range shrinks by it; argmax decisions do not change with that scale.
    """
    L = net.n_layers
    incoming = _incoming(net)
    units = [_current_unit(incoming[post - 1], shifts) for post in range(1, L + 1)]
    units[L - 1] *= attenuation
    leaky = net.readout == "leaky-integrator"
    # -- quantize ----------------------------------------------------------------------------------
    q = [weights_to_int(W, units[k], shifts[incoming[k][0][0]]) for k, W in enumerate(net.weights)]
    q_rec = [None if net.recurrent[k] is None else weights_to_int(net.recurrent[k], units[k], shifts["rec"])
             for k in range(L - 1)]
    factors = threshold_scales or {}
    thresholds = [layer_thresholds(net, dashes, dt, units, gain_correction, k + 1, factors.get(k + 1, 1.0))
                  for k in range(L)]

    # -- layout ------------------------------------------------------------------------------------
    targets = []
    for k in range(L - 1):  # hidden layer k + 1
        n = np.zeros(net.layer_sizes[k + 1], np.int64)
        if k + 1 < L - 1:
            n += np.count_nonzero(q[k + 1], axis=1)
        if q_rec[k] is not None:
            n += np.count_nonzero(q_rec[k], axis=1)
        targets.append(n)
    layout = plan(net.layer_sizes, targets, spec)

    # -- build the configuration ---------------------------------------------------------------------
    n_in, n_h, n_o = net.layer_sizes[0], layout.n_hidden, net.layer_sizes[-1]
    w_in = np.zeros((n_in, n_h), np.int64)
    w_rec = np.zeros((n_h, n_h), np.int64)
    w_out = np.zeros((n_h, n_o), np.int64)
    th = np.full(n_h, RELAY_THRESHOLD, np.int64)
    dash_syn = np.ones(n_h, np.int64)
    dash_mem = np.ones(n_h, np.int64)
    aliases: list[list[int]] = [[] for _ in range(n_h)]
    w_in[:, layout.block(1).ids] = q[0]
    for k, block in enumerate(layout.blocks):
        post = k + 1
        th[block.ids] = thresholds[k]
        dash_syn[block.ids] = dashes[("tau_syn", post)]
        dash_mem[block.ids] = dashes[("tau_mem", post)]
        rows = np.zeros((block.size, n_h), np.int64)  # this layer's recurrent-matrix rows, by target id
        if post < L - 1:
            rows[:, layout.block(post + 1).ids] = q[post]
        if q_rec[k] is not None:
            rows[:, block.ids] += q_rec[k]
        for i, src in enumerate(block.ids):
            chain = [int(src)] + block.relays.get(i, [])
            tgt = np.flatnonzero(rows[i])
            for j, neuron in enumerate(chain):
                part = tgt[j * spec.max_fanout:(j + 1) * spec.max_fanout]
                w_rec[neuron, part] = rows[i, part]
                if j + 1 < len(chain):
                    aliases[neuron] = [chain[j + 1]]
    w_out[layout.block(L - 1).ids] = q[L - 1]
    th_out = thresholds[L - 1] if not leaky else np.full(n_o, 32767, np.int64)
    config = ChipConfig.create(
        spec.name, dt, weights_in=w_in, weights_rec=w_rec, weights_out=w_out, threshold=th,
        threshold_out=th_out, dash_syn=dash_syn, dash_mem=dash_mem, dash_syn_out=dashes[("tau_syn", L)],
        dash_mem_out=dashes[("tau_mem", L)], aliases=aliases, weight_shift_in=shifts["in"],
        weight_shift_rec=shifts["rec"], weight_shift_out=shifts["out"],
        chip_spec=spec_to_dict(spec) if spec.custom else None)

    return _Build(dict(shifts), units, q, thresholds, layout, config, dict(factors), attenuation, gain_correction)


@dataclasses.dataclass
class CompilePlan:
    """What every candidate build of one compile shares: the network, the chip, ``dt``, each layer's dashes
    and the problems found before quantizing (layer plan, time constants)."""

    net: Network
    spec: ChipSpec
    dt: float
    dashes: dict[tuple[str, int], np.ndarray]
    problems: list[Violation]
    leaky_gain: float | None

    def build(self, shifts: dict[str, int], gain_correction: bool, threshold_scales: dict[int, float] | None = None,
              attenuation: int = 1) -> _Build:
        return _build(self.net, self.spec, self.dt, self.dashes, shifts, gain_correction, threshold_scales,
                      attenuation)

    def first_build(self, headroom_bits: int, gain_correction: bool) -> _Build:
        """The build with the shifts :func:`_choose_shifts` takes for ``headroom_bits`` (no calibration)."""
        limit = 2 ** (15 - headroom_bits) - 1
        return self.build(_choose_shifts(self.net, self.dt, limit, self.leaky_gain), gain_correction)

    def fits(self, build: _Build) -> bool:
        """No problem so far and the configuration passes the chip's design rules."""
        return not self.problems and not _plan_violations(self.net, self.spec, build.layout) and \
            not check(build.config, self.spec)


def check_dt(net: Network, dt: float | None, source: str | None = None) -> float:
    """The chip step to compile for (``dt``, else the network's own); refused when missing, not a positive finite
    number, or so small that the trial or the time constants are not finite multiples of it."""
    given = dt is not None
    dt = dt if given else net.dt
    if dt is None:
        raise CompileError([Violation("dt", "the network has no time step; pass dt (seconds per chip step)",
                                      hint="spikeline compile ... --dt 1e-3")], None, source)
    times = [np.asarray(t, np.float64) for t in (*net.tau_syn, *net.tau_mem)] + [np.float64(net.metadata.get(
        "t_end") or 0.0)]
    if not (math.isfinite(dt) and dt > 0) or not all(np.all(np.isfinite(t / dt)) for t in times):
        raise CompileError([Violation("dt", f"{'--dt' if given else 'the network dt'} {dt!r} s is not a usable chip "
                                      "step (it must be a positive number of seconds of which the trial and the "
                                      "time constants are finite multiples)", value=str(dt),
                                      hint="give the chip's step in seconds, e.g. --dt 1e-3")], None, source)
    return float(dt)


def prepare(net: Network, chip: str | ChipSpec, dt: float | None = None, source: str | None = None) -> CompilePlan:
    """Check the network against the chip (``dt``, layer count) and take each time constant's dash."""
    spec = get_chip(chip)
    dt = check_dt(net, dt, source)
    if net.n_layers < 2:
        raise CompileError([Violation("layers", "Xylo readouts integrate hidden spikes only; the network needs "
                                      "at least one hidden layer", value=net.n_layers)], None, source)
    L = net.n_layers
    problems: list[Violation] = []
    dashes: dict[tuple[str, int], np.ndarray] = {}
    for post in range(1, L + 1):
        for name in ("tau_syn", "tau_mem"):
            try:
                dashes[(name, post)] = np.atleast_1d(dash_for_tau(getattr(net, name)[post - 1], dt, spec))
            except InputError as exc:
                problems.append(Violation(f"layer {post} {name}", str(exc), hint="choose a realisable tau or "
                                          "another dt; see docs/chips.md for tau(dash)"))
                dashes[(name, post)] = np.ones(net.layer_sizes[post], np.int64)
    leaky_gain = (max(_kernel_peak(int(ds), int(dm)) for ds, dm in zip(dashes[("tau_syn", L)],
                                                                        dashes[("tau_mem", L)], strict=True))
                  if net.readout == "leaky-integrator" else None)
    return CompilePlan(net, spec, dt, dashes, problems, leaky_gain)


def finish(plan: CompilePlan, build: _Build, headroom_bits: int, calibrated: bool, notes: list[str] | None = None,
           source: str | None = None) -> tuple[ChipConfig, CompileReport]:
    """Run the design rules on a build and write its report; raise :class:`CompileError` on any problem."""
    net, spec, dt, dashes = plan.net, plan.spec, plan.dt, plan.dashes
    L = net.n_layers
    shifts, units, q, thresholds, layout, config = (build.shifts, build.units, build.q, build.thresholds,
                                                    build.layout, build.config)
    problems = plan.problems + _plan_violations(net, spec, layout)
    problems += check(config, _sizes_unlimited(spec)) if problems else check(config, spec)
    incoming = _incoming(net)
    n_o = net.layer_sizes[-1]
    layers = []
    for post in range(1, L + 1):
        k = post - 1
        float_w = net.weights[k]
        err = float(np.max(np.abs(q[k] * units[k] * 2.0 ** shifts[incoming[k][0][0]] - float_w), initial=0.0))
        req_s, req_m = net.tau_syn[k], net.tau_mem[k]
        real_s, real_m = taus_of(dashes[("tau_syn", post)], dt), taus_of(dashes[("tau_mem", post)], dt)
        layers.append(LayerReport(
            layer=post, kind="readout" if post == L else "hidden", size=net.layer_sizes[post],
            ids=(f"readout 0..{n_o - 1}" if post == L else
                 f"hidden {layout.block(post).start}..{layout.block(post).start + net.layer_sizes[post] - 1}"),
            relays=0 if post == L else layout.block(post).n_relays, matrix=incoming[k][0][0],
            shift=shifts[incoming[k][0][0]], current_unit=units[k], voltage_unit=units[k] * dt,
            threshold_float=None if net.threshold[k] is None else (float(net.threshold[k].min()),
                                                                   float(net.threshold[k].max())),
            threshold_int=None if thresholds[k] is None else (int(thresholds[k].min()), int(thresholds[k].max())),
            max_weight_error=err, max_weight=float(np.max(np.abs(float_w), initial=0.0)),
            tau_syn_requested=(float(req_s.min()), float(req_s.max())),
            tau_syn_realised=(float(real_s.min()), float(real_s.max())),
            dash_syn=sorted({int(d) for d in dashes[("tau_syn", post)]}),
            tau_mem_requested=(float(req_m.min()), float(req_m.max())),
            tau_mem_realised=(float(real_m.min()), float(real_m.max())),
            dash_mem=sorted({int(d) for d in dashes[("tau_mem", post)]})))
    # a float crossing in (n dt, (n+1) dt] reaches the next layer in step n + 1: 0 to 1 step later (units.py)
    warnings, info = [], list(notes or [])
    if abs(net.delays[0]) > 1e-12 or any(not -1e-12 <= d <= dt + 1e-12 for d in net.delays[1:]):
        warnings.append(f"the network's hop delays {net.delays} s are not what the chip realises (0 into the first "
                        f"hidden layer, 0 to {dt:g} s per later hop); expect spike-time shifts after deployment")
    elif any(abs(d - dt) > 1e-12 for d in net.delays[1:]):
        info.append(f"hop delays {net.delays[1:]} s model the chip's 0 to 1 step per hidden hop")
    if net.readout == "leaky-integrator":
        info.append("leaky-integrator readout: threshold_out = 32767 so readouts never spike; read Vmem_out")
    report = CompileReport(chip=spec.name, dt=dt, layer_sizes=list(net.layer_sizes), layout=layout.to_dict(),
                           shifts=dict(shifts), layers=layers, gain_correction=build.gain_correction,
                           headroom_bits=headroom_bits, calibrated=calibrated,
                           threshold_scales={str(k): v for k, v in build.threshold_scales.items()},
                           readout_attenuation=build.attenuation,
                           resources=[(r.resource, r.used, r.available) for r in resources(config, spec)],
                           violations=problems, warnings=rule_warnings(config) + warnings, notes=info)
    if problems:
        raise CompileError(problems, report, source)
    return config, report


def compile_fixed(net: Network, chip: str | ChipSpec, dt: float | None = None, headroom_bits: int = 2,
                  gain_correction: bool = False, reuse: CompileReport | None = None, source: str | None = None
                  ) -> tuple[ChipConfig, CompileReport]:
    """Map, quantize and check ``net`` for ``chip`` with fixed settings: no calibration, no health check.

    ``reuse``: the report of an earlier compile of the same architecture; its shifts, threshold factors,
    gain correction and readout attenuation are kept (no new choice), as fine-tuning does between minibatches
    and ``verify`` does to rebuild a configuration. Otherwise the shifts are chosen for ``headroom_bits``
    (module doc). Most users want :func:`toolchain.compile.compile_network`, which calibrates.
    """
    if not 0 <= headroom_bits <= 8:
        raise InputError(f"headroom_bits must be in 0..8, got {headroom_bits}")
    plan = prepare(net, chip, dt, source)
    if reuse is None:
        return finish(plan, plan.first_build(headroom_bits, gain_correction), headroom_bits, False, source=source)
    build = plan.build(dict(reuse.shifts), reuse.gain_correction,
                       {int(k): v for k, v in reuse.threshold_scales.items()}, reuse.readout_attenuation)
    return finish(plan, build, reuse.headroom_bits, reuse.calibrated, source=source)
