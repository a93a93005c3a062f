"""The three views of one network that ``verify`` compares.

* **float**: the trained :class:`~toolchain.network.Network` as saved;
* **chip grid**: the continuous model the integer configuration realises, i.e. every weight, threshold and
  time constant read back from the :class:`~hw_models.config.ChipConfig` through the unit mapping
  (:mod:`toolchain.compile.units`), with the network's own delays. For a network trained on the chip
  grid it equals the float model up to round-off;
* **bit-accurate**: the configuration run by :func:`hw_models.simulator.simulate`.
"""

from __future__ import annotations

import numpy as np

from hw_models.config import ChipConfig
from hw_models.errors import SpikelineError
from toolchain.compile import CompileReport, compile_fixed
from toolchain.compile.report import report_from_dict
from toolchain.compile.units import kernel_gain, taus_of, threshold_to_float, weights_to_float
from toolchain.network import Network


class ForeignConfigError(SpikelineError):
    """The configuration was not compiled from the network ``verify`` was given."""


def recompile(net: Network, config: ChipConfig, options: dict | None = None) -> CompileReport:
    """The compile report under which ``config`` was produced from ``net`` (checks it really was).

    In order: the configuration's ``provenance`` (the network's SHA-256 and the exact settings: a foreign
    configuration is refused at once, a matching one rebuilt once); ``options``, the compile report
    (``NAME.report.json``) when it lies beside the configuration; otherwise (a version 1 file without
    provenance) the settings are read back from the configuration itself (:func:`infer_settings`).
    """
    recorded = config.provenance.get("network_sha256") if config.provenance else None
    if recorded is not None:
        actual = net.sha256()
        if recorded != actual:
            raise ForeignConfigError(
                f"the configuration was not compiled from this network: its provenance names network SHA-256 "
                f"{recorded[:12]}..., the network given has {actual[:12]}...; verify needs the network.json the "
                "configuration came from")
        options = config.provenance.get("compile") or options
    settings = report_from_dict(options) if options and "shifts" in options else infer_settings(net, config)
    if settings is not None:
        candidate, report = compile_fixed(net, config.chip, dt=config.dt, reuse=settings)
        if candidate == config:
            return report
    raise ForeignConfigError("the configuration was not compiled from this network (recompiling it for "
                             f"{config.chip} with dt = {config.dt} and its own shifts gives another configuration); "
                             "verify needs the network.json the configuration came from")


def infer_settings(net: Network, config: ChipConfig) -> CompileReport | None:
    """The compile settings of a configuration without provenance, read back from it: its shifts, the readout
    attenuation whose weights match (1, 2, 4, ...), the kernel gain correction (off or on) and each layer's
    threshold factor (the middle of the interval that rounds to the configuration's integer thresholds).
    ``None`` when no setting reproduces the weights: the configuration is not from this network. A few
    builds, no simulation.
    """
    from toolchain.compile.compiler import CompileError, prepare

    try:
        plan = prepare(net, config.chip, config.dt)
    except CompileError:
        return None
    shifts = {"in": config.weight_shift_in, "rec": config.weight_shift_rec, "out": config.weight_shift_out}
    for attenuation in (2**k for k in range(8)):
        build = plan.build(shifts, False, None, attenuation)
        if not _same_weights(build.config, config):
            continue
        for gain in (False, True):
            scales, ok = {}, True
            for layer in range(1, net.n_layers + 1):
                if net.threshold[layer - 1] is None:  # leaky readout
                    continue
                ids = build.layout.block(layer).ids if layer < net.n_layers else None
                target = np.asarray(config.threshold_out if ids is None else config.threshold[ids], np.int64)
                factor = _factor_interval(net, plan, build, gain, layer, target)
                if factor is None:
                    ok = False
                    break
                if factor != 1.0:
                    scales[layer] = factor
            if ok:
                report = CompileReport(chip=config.chip, dt=config.dt, layer_sizes=list(net.layer_sizes), layout={},
                                       shifts=shifts, layers=[], resources=[], gain_correction=gain,
                                       calibrated=bool(scales) or attenuation > 1,
                                       threshold_scales={str(k): v for k, v in scales.items()},
                                       readout_attenuation=attenuation)
                return report
    return None


def _same_weights(a: ChipConfig, b: ChipConfig) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in
               ("weights_in", "weights_rec", "weights_out", "dash_syn", "dash_mem", "dash_syn_out",
                "dash_mem_out")) and a.aliases == b.aliases


def _factor_interval(net: Network, plan, build, gain: bool, layer: int, target: np.ndarray) -> float | None:
    """A factor ``f`` with ``round(x f) == target`` for the layer's unrounded thresholds ``x``, or ``None``."""
    from toolchain.compile.compiler import layer_thresholds

    if np.array_equal(layer_thresholds(net, plan.dashes, plan.dt, build.units, gain, layer, 1.0), target):
        return 1.0
    theta = net.threshold[layer - 1]
    x = np.asarray(theta, np.float64) / (kernel_gain(plan.dashes[("tau_syn", layer)], plan.dashes[("tau_mem", layer)],
                                                     plan.dt) if gain else 1.0) / (build.units[layer - 1] * plan.dt)
    if np.any(x <= 0):
        return None
    lo = float(np.max((target - 0.5) / x))
    hi = float(np.min((target + 0.5) / x))
    if lo >= hi:
        return None
    for f in (0.5 * (lo + hi), lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo)):
        if np.array_equal(layer_thresholds(net, plan.dashes, plan.dt, build.units, gain, layer, f), target):
            return f
    return None


def layer_ids(report: CompileReport, layer: int) -> np.ndarray:
    """Chip hidden ids of hidden layer ``layer`` (1-based)."""
    entry = report.layout["layers"][layer - 1]
    return np.arange(entry["first_id"], entry["first_id"] + entry["size"])


def chip_grid_network(net: Network, config: ChipConfig, report: CompileReport) -> Network:
    """The continuous network whose parameters are exactly those the integer configuration realises."""
    L = net.n_layers
    shift = {"in": config.weight_shift_in, "rec": config.weight_shift_rec, "out": config.weight_shift_out}
    weights, recurrent, tau_s, tau_m, theta = [], [], [], [], []
    for post in range(1, L + 1):
        lr = report.layers[post - 1]
        c = lr.current_unit
        if post == 1:
            q, d_syn, d_mem, th = (config.weights_in[:, layer_ids(report, 1), 0], *_neuron_fields(config, report, 1))
        elif post < L:
            pre, ids = layer_ids(report, post - 1), layer_ids(report, post)
            q = _recurrent_block(config, report, pre, ids)
            d_syn, d_mem, th = _neuron_fields(config, report, post)
        else:
            q = config.weights_out[layer_ids(report, L - 1)]
            d_syn, d_mem = config.dash_syn_out, config.dash_mem_out
            th = None if net.readout == "leaky-integrator" else config.threshold_out
        restore = report.readout_attenuation if (post == L and net.readout == "leaky-integrator") else 1
        weights.append(weights_to_float(q, c / restore, shift[lr.matrix]))
        if post < L:
            ids = layer_ids(report, post)
            recurrent.append(None if net.recurrent[post - 1] is None else
                             weights_to_float(_recurrent_block(config, report, ids, ids), c, shift["rec"]))
        tau_s.append(taus_of(d_syn, config.dt))
        tau_m.append(taus_of(d_mem, config.dt))
        gain = kernel_gain(d_syn, d_mem, config.dt) if report.gain_correction else 1.0
        gain = gain / report.threshold_scales.get(str(post), 1.0)
        theta.append(None if th is None else threshold_to_float(th, c, config.dt) * gain)
    return Network.create(weights, tau_s, tau_m, theta, recurrent, net.delays, net.recurrent_delays,
                          net.readout, config.dt, dict(net.metadata, view="chip-grid"))


def _neuron_fields(config: ChipConfig, report: CompileReport, layer: int):
    ids = layer_ids(report, layer)
    return config.dash_syn[ids], config.dash_mem[ids], config.threshold[ids]


def _recurrent_block(config: ChipConfig, report: CompileReport, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    """Recurrent weights ``pre -> post``, folding each neuron's relay chain back onto it."""
    relay_of = {}
    for src, targets in enumerate(config.aliases):
        for t in targets:
            relay_of[t] = src
    w = config.weights_rec[:, :, 0]
    block = w[np.ix_(pre, post)].copy()
    for relay, src in relay_of.items():
        root = src
        while root in relay_of:
            root = relay_of[root]
        hit = np.flatnonzero(pre == root)
        if hit.size:
            block[hit[0]] += w[relay, post]
    return block
