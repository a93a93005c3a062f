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
from toolchain.compile import CompileReport, compile_network
from toolchain.compile.compiler import CALIBRATION_LIMIT, RELAXED_LIMIT
from toolchain.compile.report import report_from_dict
from toolchain.compile.units import kernel_gain, taus_of, threshold_to_float, weights_to_float
from toolchain.network import Network

#: Training samples the compiler's calibration runs (the first of the train split; never the test split).
CALIBRATION_SAMPLES = 200
#: Training samples on which the calibrated candidates' decisions are compared with the float model's (200 gave
#: ties: 98.0 % both on the demo network, where 1000 separate 95.7 % from 96.9 %).
AGREEMENT_SAMPLES = 1000


def calibration_data(net: Network, dt: float | None = None):
    """(spike trains, rasters) of the first :data:`CALIBRATION_SAMPLES` training samples, or ``(None, None)``
    when the network names no task."""
    from toolchain.data.inputs import network_inputs

    if not net.metadata.get("task") or net.metadata.get("t_end") is None:
        return None, None
    samples, _, rasters = network_inputs(net, "train", CALIBRATION_SAMPLES, dt=dt)
    return samples, rasters


#: Threshold headroom bits the calibrated compile tries, most conservative first (ties keep the first).
HEADROOM_CANDIDATES = (2, 1, 0)


def compile_for(net: Network, chip: str, dt: float | None = None, headroom_bits: int | None = None,
                gain_correction: bool | None = None, calibrate: bool = True, source: str | None = None):
    """:func:`compile_network` calibrated on the network's own training data when it names its task.

    Shifts are always calibrated off the rails. Three choices trade integer resolution and excitability against
    risk, and each helps some networks and hurts others (measured in docs/compiler.md): the threshold headroom
    (2, 1 or 0 bits, unless ``headroom_bits`` fixes it; fewer bits: larger integer states, less rounding), the
    state limit of the calibration (half or 7/8 of the int16 range), and how the thresholds meet the chip's
    weaker discrete kernel: as they are, rate matched, or divided by the kernel gain (unless
    ``gain_correction`` fixes it). Every combination is compiled and the one whose decisions agree most often
    with the float model's on :data:`AGREEMENT_SAMPLES` training samples is kept (no labels are used; ties keep
    the more conservative candidate: more headroom, half range, thresholds as they are). Without calibration
    data: ``headroom_bits`` (default 2) and ``gain_correction`` (default off), nothing else.
    """
    samples, rasters = calibration_data(net, dt) if calibrate else (None, None)
    headrooms = HEADROOM_CANDIDATES if headroom_bits is None else (headroom_bits,)
    # (rate matching, gain correction): the thresholds as they are first, then the two ways to correct them
    modes = ([(False, False), (True, False), (False, True)] if gain_correction is None
             else [(False, gain_correction), (True, gain_correction)])

    def build(headroom: int, state_limit: int, match: bool, gain: bool):
        return compile_network(net, chip, dt=dt, headroom_bits=headroom, gain_correction=gain,
                               calibration=rasters, match_rates=samples if match else None, source=source,
                               state_limit=state_limit)

    first = build(headrooms[0], CALIBRATION_LIMIT, *modes[0])
    if samples is None or net.metadata.get("decision") is None:
        return first
    candidates = {_candidate_name(headrooms[0], CALIBRATION_LIMIT, *modes[0]): first}
    for headroom in headrooms:
        for limit in (CALIBRATION_LIMIT, RELAXED_LIMIT):
            for match, gain in modes:
                name = _candidate_name(headroom, limit, match, gain)
                if name in candidates:
                    continue
                try:
                    candidate = build(headroom, limit, match, gain)
                except SpikelineError:
                    continue
                if not any(candidate[0] == other[0] for other in candidates.values()):  # e.g. no state near a limit
                    candidates[name] = candidate
    from toolchain.data.inputs import network_inputs

    check_samples, _, check_rasters = network_inputs(net, "train", AGREEMENT_SAMPLES, dt=dt)
    agreement = dict(zip(candidates, decision_agreement(net, [c[0] for c in candidates.values()], check_samples,
                                                        check_rasters), strict=True))
    best = max(agreement, key=lambda name: (agreement[name], -list(candidates).index(name)))
    keep = candidates[best]
    scores = "; ".join(f"{name}: {100 * a:.1f} %" for name, a in agreement.items())
    keep[1].warnings.append(f"kept the candidate '{best}': its decisions agree with the float model's on "
                            f"{100 * agreement[best]:.1f} % of {len(check_samples)} training samples (all candidates: "
                            f"{scores})")
    return keep


def _candidate_name(headroom: int, state_limit: int, match: bool, gain: bool = False) -> str:
    return (f"headroom {headroom}, states below {'7/8' if state_limit != CALIBRATION_LIMIT else '1/2'}"
            + (", rate matching" if match else "") + (", kernel gain correction" if gain else ""))


def decision_agreement(net: Network, configs: list[ChipConfig], samples, rasters) -> list[float]:
    """Fraction of samples on which each configuration's bit-accurate decision equals the float model's."""
    from hw_models.simulator import simulate
    from toolchain.decode import decide
    from toolchain.lif.forward import forward
    from toolchain.verify import chip_decode

    meta = net.metadata
    rule = meta["decision"]
    code = None if meta.get("output_code") is None else np.asarray(meta["output_code"], np.float64)
    n_out = net.layer_sizes[-1]
    reference = np.array([decide(rule, forward(net, s, meta["t_end"]), n_out, code) for s in samples])
    return [float(np.mean(chip_decode.decide(simulate(c, rasters), rule, code) == reference)) for c in configs]


def recompile(net: Network, config: ChipConfig, options: dict | None = None) -> CompileReport:
    """The compile report under which ``config`` was produced from ``net`` (checks it really was).

    ``options``: the compile report's ``headroom_bits``, ``gain_correction`` and ``calibrated`` when known
    (``NAME.report.json``); otherwise every combination is tried.
    """
    if options and "shifts" in options:  # the exact settings: rebuild with them, no search, no calibration
        settings = report_from_dict(options)
        candidate, report = compile_network(net, config.chip, dt=config.dt, reuse=settings)
        if candidate == config:
            return report
        tries = []
    elif options:
        tries = [(bool(options.get("calibrated")), bool(options.get("gain_correction")),
                  int(options.get("headroom_bits", 2)))]
    else:
        tries = [(cal, gain, head) for cal in (False, True) for gain in (False, True) for head in range(9)]
    for calibrate, gain_correction, headroom in tries:
        try:
            candidate, report = compile_for(net, config.chip, config.dt, headroom, gain_correction, calibrate)
        except SpikelineError:
            continue
        if candidate == config:
            return report
    raise SpikelineError("the configuration was not compiled from this network (recompiling it for "
                         f"{config.chip} with dt = {config.dt} gives another configuration); verify needs "
                         "the network.json the configuration came from")


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
