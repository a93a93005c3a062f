"""Design rules: does a :class:`ChipConfig` fit a chip? Every violation is collected, none is fixed.

Each rule reports the field, the index of the offending entry, its value, the limit and a hint.
:func:`resources` summarises what a configuration uses against what the chip offers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw_models.chips import ChipSpec, get_chip
from hw_models.config import ChipConfig
from hw_models.errors import ConfigError, SpikelineError, Violation

#: At most this many offending entries are listed per field (the count of all of them is given).
MAX_LISTED = 5


def _out_of_range(field: str, values: np.ndarray, lo: int, hi: int, what: str, hint: str,
                  out: list[Violation]) -> None:
    bad = np.argwhere((values < lo) | (values > hi))
    for k, idx in enumerate(bad[:MAX_LISTED]):
        idx_t = tuple(int(i) for i in idx)
        v = int(values[idx_t])
        more = f" ({len(bad)} entries out of range in total)" if k == 0 and len(bad) > 1 else ""
        out.append(Violation(field, f"{what} {v} is outside [{lo}, {hi}]{more}", index=idx_t,
                             value=v, limit=[lo, hi], hint=hint))


def _fanout(config: ChipConfig) -> np.ndarray:
    """Recurrent targets per hidden neuron (a target counts once even if both synapses are used)."""
    return np.count_nonzero(np.any(config.weights_rec != 0, axis=2), axis=1)


def check(config: ChipConfig, chip: str | ChipSpec | None = None) -> list[Violation]:
    """All design-rule violations of ``config`` on ``chip`` (default: the chip the config names)."""
    try:
        spec = get_chip(chip if chip is not None else config.chip)
    except SpikelineError as exc:
        return [Violation("chip", str(exc), value=str(chip or config.chip))]
    v: list[Violation] = []
    name = spec.name

    # -- sizes ------------------------------------------------------------------------------------
    for field, used, avail, what in (
        ("weights_in", config.n_inputs, spec.n_inputs, "input channels"),
        ("weights_in", config.n_hidden, spec.n_hidden, "hidden neurons"),
        ("weights_out", config.n_outputs, spec.n_outputs, "readout neurons"),
    ):
        if used > avail:
            v.append(Violation(field, f"the network has {used:,} {what}; {name} has {avail:,}",
                               value=used, limit=avail,
                               hint="shrink the layer or target a larger chip "
                                    "(custom_chip for research sizes)"))
    if config.n_synapses > spec.n_synapses:
        used2 = bool(np.any(config.weights_in[..., 1]) or np.any(config.weights_rec[..., 1]))
        if used2:
            v.append(Violation("weights_in", f"the network uses {config.n_synapses} synapses per "
                               f"hidden neuron; {name} has {spec.n_synapses}",
                               value=config.n_synapses, limit=spec.n_synapses,
                               hint="train with a single synaptic time constant for this chip"))

    # -- value ranges -----------------------------------------------------------------------------
    wlo, whi = spec.weight_range
    for field in ("weights_in", "weights_rec", "weights_out"):
        _out_of_range(field, getattr(config, field), wlo, whi, "weight",
                      f"weights are {spec.weight_bits}-bit; lower the scale or use a weight shift", v)
    slo, shi = spec.shift_range
    for field, w in (("weight_shift_in", config.weights_in), ("weight_shift_rec", config.weights_rec),
                     ("weight_shift_out", config.weights_out)):
        s = getattr(config, field)
        if not slo <= s <= shi:
            v.append(Violation(field, f"shift {s} is outside [{slo}, {shi}]", value=s,
                               limit=[slo, shi], hint="the shift register has "
                                                      f"{spec.shift_bits} bits"))
            continue
        if w.size:
            lo16, hi16 = spec.state_range
            wide = w.astype(np.int64) << s
            bad = np.argwhere((wide < lo16) | (wide > hi16))
            if len(bad):
                idx = tuple(int(i) for i in bad[0])
                v.append(Violation(field, f"weight {int(w[idx])} << {s} = {int(wide[idx])} "
                                   f"does not fit {spec.state_bits} bits and would wrap on the chip "
                                   f"({len(bad)} weights affected)", index=idx, value=s,
                                   limit=f"|w << shift| <= {hi16}",
                                   hint="use a smaller shift"))
    dlo, dhi = spec.dash_range
    for field in ("dash_mem", "dash_syn", "dash_syn_2", "dash_mem_out", "dash_syn_out"):
        _out_of_range(field, getattr(config, field), dlo, dhi, "dash",
                      f"dashes are {spec.dash_bits}-bit; tau(dash) = -dt/ln(1-2^-dash)", v)
    tlo, thi = spec.threshold_range
    for field in ("threshold", "threshold_out"):
        _out_of_range(field, getattr(config, field), tlo, thi, "threshold",
                      f"thresholds are {spec.state_bits}-bit; lower the scale", v)
    if spec.has_bias:
        blo, bhi = spec.bias_range
        for field in ("bias", "bias_out"):
            _out_of_range(field, getattr(config, field), blo, bhi, "bias",
                          f"biases are {spec.bias_bits}-bit", v)
    elif config.has_bias:
        v.append(Violation("bias", f"{name} has no bias; the configuration sets one",
                           hint="train without bias for this chip"))

    # -- input / output windows -------------------------------------------------------------------
    if spec.input_window is not None and config.n_hidden > spec.input_window:
        cols = np.flatnonzero(np.any(config.weights_in[:, spec.input_window:] != 0, axis=(0, 2)))
        if len(cols):
            j = int(cols[0]) + spec.input_window
            v.append(Violation("weights_in", f"hidden neuron {j} receives input, but on {name} only "
                               f"hidden neurons 0..{spec.input_window - 1} can "
                               f"({len(cols)} neurons outside the input window)",
                               index=(j,), value=j,
                               limit=spec.input_window,
                               hint="place input-receiving neurons at the lowest ids"))
    if spec.output_window is not None and config.n_hidden > spec.output_window:
        first = config.n_hidden - spec.output_window
        rows = np.flatnonzero(np.any(config.weights_out[:first] != 0, axis=1))
        if len(rows):
            j = int(rows[0])
            v.append(Violation("weights_out", f"hidden neuron {j} drives a readout, but on {name} "
                               f"only the last {spec.output_window} hidden neurons "
                               f"({first}..{config.n_hidden - 1}) can ({len(rows)} neurons outside "
                               "the output window)", index=(j,), value=j,
                               limit=spec.output_window,
                               hint="place readout-driving neurons at the highest ids"))

    # -- fan-out and recurrent memory ---------------------------------------------------------------
    fan = _fanout(config)
    over = np.flatnonzero(fan > spec.max_fanout)
    for k, i in enumerate(over[:MAX_LISTED]):
        more = f" ({len(over)} neurons over the limit)" if k == 0 and len(over) > 1 else ""
        v.append(Violation("weights_rec", f"hidden neuron {int(i)} has fan-out {int(fan[i])}; "
                           f"{name} allows {spec.max_fanout}{more}", index=(int(i),),
                           value=int(fan[i]), limit=spec.max_fanout,
                           hint="prune recurrent weights or split the neuron with aliases"))
    total = int(fan.sum())
    if total > spec.max_recurrent_weights:
        v.append(Violation("weights_rec", f"{total:,} recurrent connections; {name} stores "
                           f"{spec.max_recurrent_weights:,}", value=total,
                           limit=spec.max_recurrent_weights, hint="prune recurrent weights"))

    # -- aliases ----------------------------------------------------------------------------------
    for i, targets in enumerate(config.aliases):
        if len(targets) > spec.max_alias_targets:
            v.append(Violation("aliases", f"hidden neuron {i} has {len(targets)} alias targets; "
                               f"{name} allows {spec.max_alias_targets}", index=(i,),
                               value=len(targets), limit=spec.max_alias_targets))
        for t in targets:
            if not 0 <= t < config.n_hidden:
                v.append(Violation("aliases", f"hidden neuron {i} aliases to {t}, which is not a "
                                   f"hidden neuron (0..{config.n_hidden - 1})", index=(i,),
                                   value=t, limit=[0, config.n_hidden - 1]))
    return v


def raise_if_invalid(config: ChipConfig, chip: str | ChipSpec | None = None,
                     source: str | None = None) -> None:
    """Raise :class:`ConfigError` with every violation, if there is any."""
    problems = check(config, chip)
    if problems:
        raise ConfigError(problems, source)


def warnings(config: ChipConfig) -> list[str]:
    """Legal but suspicious settings (the chip runs them, the result is rarely what was meant)."""
    out = []
    if np.any(config.threshold <= 0):
        n = int(np.sum(config.threshold <= 0))
        out.append(f"{n} hidden thresholds <= 0: those neurons fire the 31-spike cap every step")
    if np.any(config.threshold_out <= 0):
        out.append("readout thresholds <= 0: those readouts spike every step")
    recv = np.any(config.weights_in != 0, axis=0) | np.any(config.weights_rec != 0, axis=0)
    dead = recv & (config.dash_syns == 0)
    if np.any(dead):
        out.append(f"{int(dead.sum())} synapses with dash 0 receive weights: dash 0 erases the "
                   "current before it reaches the membrane")
    return out


@dataclass(frozen=True)
class ResourceRow:
    resource: str
    used: int
    available: int

    @property
    def fits(self) -> bool:
        return self.used <= self.available


def resources(config: ChipConfig, chip: str | ChipSpec | None = None) -> list[ResourceRow]:
    """Used vs available for every chip resource."""
    spec = get_chip(chip if chip is not None else config.chip)
    fan = _fanout(config)
    active_ien = np.flatnonzero(np.any(config.weights_in != 0, axis=(0, 2)))
    active_oen = np.flatnonzero(np.any(config.weights_out != 0, axis=1))
    rows = [
        ResourceRow("input channels", config.n_inputs, spec.n_inputs),
        ResourceRow("hidden neurons", config.n_hidden, spec.n_hidden),
        ResourceRow("readout neurons", config.n_outputs, spec.n_outputs),
        ResourceRow("synapses per hidden neuron", config.n_synapses
                    if np.any(config.weights_in[..., -1]) or np.any(config.weights_rec[..., -1])
                    else 1, spec.n_synapses),
        ResourceRow("input synapses", int(np.count_nonzero(config.weights_in)),
                    config.n_inputs * min(config.n_hidden, spec.input_window or spec.n_hidden)
                    * spec.n_synapses),
        ResourceRow("recurrent connections", int(fan.sum()), spec.max_recurrent_weights),
        ResourceRow("max fan-out of a hidden neuron", int(fan.max(initial=0)), spec.max_fanout),
        ResourceRow("readout synapses", int(np.count_nonzero(config.weights_out)),
                    min(config.n_hidden, spec.output_window or spec.n_hidden) * config.n_outputs),
        ResourceRow("aliases", sum(1 for a in config.aliases if a), config.n_hidden),
    ]
    if spec.input_window is not None:
        rows.append(ResourceRow("input window (highest id receiving input + 1)",
                                int(active_ien.max(initial=-1)) + 1, spec.input_window))
    if spec.output_window is not None:
        span = config.n_hidden - int(active_oen.min(initial=config.n_hidden))
        rows.append(ResourceRow("output window (hidden ids driving readouts, from the top)", span,
                                spec.output_window))
    return rows
