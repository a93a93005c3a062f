"""Decision rules: which class a network's output votes for, one function per rule.

The rules for the float model's event-driven forward pass (:func:`toolchain.lif.forward.forward`) are
below; each takes the readout of one sample and returns a class index, or :data:`NO_DECISION` (-1)
when the rule cannot decide (no output spike). ``NO_DECISION`` never equals a label, so it counts as a
wrong answer, as in the EventProp and Goeltz et al. evaluations (a missing label spike is an error).

=====================  ====================  =================================================
rule                   loss it goes with     decision
=====================  ====================  =================================================
``first-spike``        FirstSpikeCE          the output that spikes first
``spike-count``        SpikeCountCE,         the output with the most spikes
                       CountMSE
``max-voltage``        MaxVoltageCE          the leaky-integrator output with the largest max V
``integrated-voltage`` IntegratedVoltageCE   the leaky-integrator output with the largest integral of V
=====================  ====================  =================================================

Ties: exact ties are measure-zero events for the float model, but a decision must be defined. Every
rule breaks a tie by the lowest class index (``np.argmax`` semantics); ``spike-count`` first breaks a
count tie by the earlier first spike. With an output code ``C`` (more classes than readouts) ``spike-count``
decides ``argmax_c (C @ counts)_c`` (ties: lowest index; no output spike: no decision).
"""

from __future__ import annotations

import numpy as np

from hw_models.errors import InputError
from toolchain.lif.forward import Forward, LeakyReadout, Spikes

#: returned when a rule cannot decide (no output spike); it never equals a label, so it counts as wrong
NO_DECISION = -1

#: the decision rule that belongs to each loss (toolchain.losses.LOSSES)
RULE_OF_LOSS = {"first-spike": "first-spike", "spike-count": "spike-count", "max-voltage": "max-voltage",
                "integrated-voltage": "integrated-voltage", "count-mse": "spike-count"}


def first_spike_times(out: Spikes, n_out: int) -> np.ndarray:
    """First spike time of each output neuron (``inf`` if silent)."""
    first = np.full(n_out, np.inf)
    np.minimum.at(first, out.neurons, out.times)
    return first


def first_spike(out: Spikes, n_out: int) -> int:
    """The class whose output neuron spikes first: ``argmin_c t_c`` (ties: lowest index; no spike:
    :data:`NO_DECISION`)."""
    first = first_spike_times(out, n_out)
    if not np.isfinite(first).any():
        return NO_DECISION
    return int(np.argmin(first))


def spike_count(out: Spikes, n_out: int) -> int:
    """The class with the most output spikes: ``argmax_c |F_c|`` (ties: earlier first spike, then lowest
    index; no spike: :data:`NO_DECISION`)."""
    counts = out.counts(n_out)
    if counts.max(initial=0) == 0:
        return NO_DECISION
    first = first_spike_times(out, n_out)
    tied = np.flatnonzero(counts == counts.max())
    return int(tied[np.argmin(first[tied])])


def max_voltage(readout: LeakyReadout, code: np.ndarray | None = None) -> int:
    """The class whose leaky-integrator output reaches the largest voltage: ``argmax_c max_t V_c(t)``;
    with an output code ``C`` (classes x outputs, :mod:`toolchain.train.coding`) ``argmax_c (C @ vmax)_c``
    (ties: lowest index)."""
    return int(np.argmax(readout.vmax if code is None else code @ readout.vmax))


def integrated_voltage(readout: LeakyReadout, code: np.ndarray | None = None) -> int:
    """The class whose leaky-integrator output has the largest ``integral_0^t_end V_c dt``; with an output
    code ``C``, ``argmax_c (C @ vint)_c`` (ties: lowest index)."""
    return int(np.argmax(readout.vint if code is None else code @ readout.vint))


RULES = ("first-spike", "spike-count", "max-voltage", "integrated-voltage")


def decide(rule: str, fwd: Forward, n_out: int, code: np.ndarray | None = None) -> int:
    """Apply the decision rule ``rule`` to one float forward pass with ``n_out`` output neurons (and an
    optional output code for the voltage rules)."""
    if rule in ("first-spike", "spike-count"):
        if fwd.readout is not None or not fwd.layers:
            raise InputError(f"rule {rule!r} needs a spiking readout; this forward pass has none")
        out = fwd.layers[-1]
        if code is not None:
            if rule == "first-spike":
                raise InputError("rule 'first-spike' takes no output code (one readout neuron per class)")
            counts = out.counts(n_out)
            return NO_DECISION if counts.max(initial=0) == 0 else int(np.argmax(code @ counts))
        return first_spike(out, n_out) if rule == "first-spike" else spike_count(out, n_out)
    if rule in ("max-voltage", "integrated-voltage"):
        if fwd.readout is None:
            raise InputError(f"rule {rule!r} needs a leaky-integrator readout; this network's readout spikes")
        if rule == "max-voltage":
            return max_voltage(fwd.readout, code)
        return integrated_voltage(fwd.readout, code)
    raise InputError(f"unknown decision rule {rule!r}; valid: {', '.join(RULES)}")
