"""The health check after every compile: a short bit-accurate run on calibration data, layer by layer.

Per spiking layer ``l`` with ``n`` neurons, ``B`` samples of ``T`` steps: the firing rate
``r = spikes / (n B T)`` (spikes per neuron per step) in the float model and on the chip, dead neurons (no
spike in any sample), saturated neurons (``>= SATURATED_RATE`` spikes per step on average) and neurons whose
integer state reached an int16 rail (``|state| >= RAIL``, the last 256 LSB). The readout's states are checked
for the rails too. These are errors (the compile fails, with the numbers and a hint, unless the check is switched off):

* a readout state on the rail: the decision is read from a clipped value. A spiking readout decided by its first
  spike (``network.metadata["decision"] == "first-spike"``) is checked only where a clip can change the decision,
  up to the sample's decision step ``t*`` (the earliest readout spike; the whole trial when none fires): every
  touch of a readout that fires at ``t*`` (the decided one, or one tied with it), and the touches of the
  *positive* rail by the others. A clip at the *negative* rail only raises a losing readout's state, and the
  chip's update (``x - (x >> dash) + input``, saturated; threshold test ``v >= theta``) is monotone in every
  state, so without the clip that readout would be lower still and fire no earlier: the decision is the same.
  A readout also fires at most once per step and keeps its excess above threshold, so one driven harder than
  that climbs to the rail after it has fired. Touches that cannot change the decision are counted apart
  (``rail_outside_decision``) and reported, not refused;
* a layer that goes silent on the chip (``r_chip < SILENT_RATIO * r_float``) while the float model fires;
* a layer that saturates on the chip (more than half its neurons saturated) where the float model does not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from hw_models.arith import membrane_before_reset
from hw_models.config import ChipConfig
from hw_models.errors import Violation
from hw_models.simulator import Record
from toolchain.compile.report import CompileReport
from toolchain.network import Network

#: A state at or beyond this magnitude counts as on the int16 rail: a state that saturated at 32,767 decays by a
#: few LSB before it is recorded (measured: 32,766), so the band is the last 256 LSB of the range.
RAIL = 2**15 - 2**8
#: A layer is silent on the chip when it fires less than this fraction of the float model's rate.
SILENT_RATIO = 0.1
#: A neuron is saturated when it fires this many spikes per step or more, averaged over the trial.
SATURATED_RATE = 0.9
#: Switch the check off with this (the error's hint names it).
OPT_OUT = "compile_network(..., check_health=False) / spikeline compile --no-health-check"


@dataclass
class LayerHealth:
    layer: int
    kind: str  # hidden | readout
    neurons: int
    rate_float: float | None  # spikes per neuron per step; None for a leaky readout
    rate_chip: float | None
    dead_float: int | None
    dead_chip: int | None
    saturated_float: int | None
    saturated_chip: int | None
    on_rail: int  # neurons with an integer state at +-32767 in some sample (first-spike readouts: where it decides)
    peak_state: int  # largest |state| of the layer (the same span)
    rail_outside_decision: int = 0  # first-spike readouts: neurons on the rail only where it cannot change the decision


@dataclass
class Health:
    samples: int
    steps: int
    layers: list[LayerHealth]
    problems: list[Violation]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: each layer's rate float -> chip, dead and saturated neurons, rail touches."""
        parts = []
        for x in self.layers:
            if x.rate_chip is None:
                parts.append(f"layer {x.layer} ({x.kind}): peak |V| {x.peak_state:,}"
                             + (f", {x.on_rail} on the rail" if x.on_rail else ""))
                continue
            parts.append(f"layer {x.layer} ({x.kind}): {x.rate_float:.3f} -> {x.rate_chip:.3f} spikes/neuron/step, "
                         f"{x.dead_chip} dead, {x.saturated_chip} saturated"
                         + (f", {x.on_rail} on the rail" if x.on_rail else "")
                         + (f", {x.rail_outside_decision} on the rail where it cannot change the decision"
                            if x.rail_outside_decision else ""))
        return (f"health ({self.samples} calibration samples): " + "; ".join(parts)
                + ("" if self.ok else f"; {len(self.problems)} problem(s)"))

    def to_dict(self) -> dict:
        return {"samples": self.samples, "steps": self.steps, "ok": self.ok, "summary": self.summary(),
                "layers": [asdict(x) for x in self.layers], "problems": [v.to_dict() for v in self.problems]}


def check_health(net: Network, config: ChipConfig, report: CompileReport, rec: Record, float_runs: list) -> Health:
    """The health of ``config`` from its summary record ``rec`` (``simulate(..., record="summary")``) and the
    float model's forward passes ``float_runs`` on the same samples."""
    n_b, n_t = len(float_runs), rec["Vmem_out"].shape[-2]
    L = net.n_layers
    layers, problems = [], []
    for k, entry in enumerate(report.layout["layers"]):
        ids = np.arange(entry["first_id"], entry["first_id"] + entry["size"])
        chip_counts = rec["Spikes_count"][:, ids]
        peaks = np.max([rec[key][:, ids] for key in ("Vmem_peak", "Vmem_peak_before_reset", "Isyn_peak",
                                                     "Isyn2_peak")], axis=0)
        float_counts = np.stack([r.layers[k].counts(entry["size"]) for r in float_runs])
        layers.append(_layer(k + 1, "hidden", float_counts, chip_counts, peaks, n_t))
    vmem, isyn = readout_vmem_before_reset(config, rec), rec["Isyn_out"].astype(np.int64)
    out_peaks = np.maximum(np.abs(vmem), np.abs(isyn)).max(axis=1)  # (samples, readouts)
    if net.readout == "spiking":
        float_counts = np.stack([r.layers[L - 1].counts(net.layer_sizes[-1]) for r in float_runs])
        first_spike = net.metadata.get("decision") == "first-spike"
        decided = _first_spike_decision_states(vmem, isyn, rec["Spikes_out"]) if first_spike else out_peaks
        x = _layer(L, "readout", float_counts, rec["Spikes_out"].sum(axis=1, dtype=np.int64), decided, n_t)
        x.rail_outside_decision = int((out_peaks >= RAIL).any(axis=0).sum()) - x.on_rail
        layers.append(x)
    else:
        layers.append(LayerHealth(L, "readout", net.layer_sizes[-1], None, None, None, None, None, None,
                                  int((out_peaks >= RAIL).any(axis=0).sum()), int(out_peaks.max(initial=0))))
    for x in layers:
        problems += _problems(x, n_b)
    return Health(n_b, n_t, layers, problems)


def readout_vmem_before_reset(config: ChipConfig, rec: Record) -> np.ndarray:
    """The readout membranes before the step's threshold subtraction (int64,
    :func:`hw_models.arith.membrane_before_reset`: ``Vmem_out + spikes * threshold_out`` modulo 2**16): the
    recorded value is after it, so a readout that saturated at 32,767 and fired shows ``32,767 - threshold``
    and would pass a rail test on the record."""
    return membrane_before_reset(rec["Vmem_out"].astype(np.int64), rec["Spikes_out"].astype(np.int64),
                                 np.asarray(config.threshold_out, np.int64))


def _first_spike_decision_states(vmem: np.ndarray, isyn: np.ndarray, spikes: np.ndarray) -> np.ndarray:
    """Per sample and readout, the largest state magnitude that can change a first-spike decision (arrays
    ``(samples, steps, readouts)``): up to the sample's decision step ``t*`` (its earliest readout spike, the last
    step when none fires), every state of a readout that fires at ``t*`` and the positive states of the others
    (a negative clip only raises a losing readout, which then still loses: the module docstring)."""
    n_steps = spikes.shape[1]
    fired = spikes > 0
    first = np.where(fired.any(axis=1), fired.argmax(axis=1), n_steps)  # (samples, readouts); n_steps: silent
    decision_step = np.minimum(first.min(axis=1), n_steps - 1)  # (samples,)
    decides = first == decision_step[:, None]  # the decided readout and any tied with it
    positive = np.maximum(np.maximum(vmem, isyn), 0)
    magnitude = np.maximum(np.abs(vmem), np.abs(isyn))
    states = np.where(decides[:, None, :], magnitude, positive)
    window = np.arange(n_steps)[None, :, None] <= decision_step[:, None, None]
    return np.where(window, states, 0).max(axis=1)


def _layer(layer: int, kind: str, float_counts: np.ndarray, chip_counts: np.ndarray, peaks: np.ndarray,
           n_t: int) -> LayerHealth:
    """Rates, dead and saturated neurons of one spiking layer (counts ``(samples, neurons)``)."""
    n_b, n = chip_counts.shape
    per_step_f, per_step_c = float_counts.mean(axis=0) / n_t, chip_counts.mean(axis=0) / n_t
    return LayerHealth(layer, kind, n, float(per_step_f.mean()), float(per_step_c.mean()),
                       int((float_counts.sum(axis=0) == 0).sum()), int((chip_counts.sum(axis=0) == 0).sum()),
                       int((per_step_f >= SATURATED_RATE).sum()), int((per_step_c >= SATURATED_RATE).sum()),
                       int((peaks >= RAIL).any(axis=0).sum()), int(peaks.max(initial=0)))


def _problems(x: LayerHealth, n_samples: int) -> list[Violation]:
    where = f"layer {x.layer} ({x.kind})"
    out = []
    if x.kind == "readout" and x.on_rail:
        out.append(Violation(where, f"{x.on_rail} of {x.neurons} readout neurons reach the int16 rail "
                             f"(|state| {x.peak_state:,} >= {RAIL:,} of 32,767) on {n_samples} calibration "
                             "samples: the decision is read from clipped values", value=x.peak_state, limit=RAIL - 1,
                             hint=f"compile with calibration (the default; it lowers the readout shift); "
                                  f"to keep this configuration anyway: {OPT_OUT}"))
    if x.rate_chip is None or x.rate_float is None:
        return out
    if x.rate_float > 0 and x.rate_chip < SILENT_RATIO * x.rate_float:
        out.append(Violation(where, f"goes silent on the chip: {x.rate_chip:.4f} spikes per neuron per step against "
                             f"{x.rate_float:.4f} in the float model ({x.dead_chip} of {x.neurons} neurons dead on "
                             f"the chip, {x.dead_float} in the float model)", value=round(x.rate_chip, 6),
                             limit=round(SILENT_RATIO * x.rate_float, 6),
                             hint=f"compile with calibration (rate matching); check the thresholds; {OPT_OUT}"))
    if x.saturated_chip > x.neurons / 2 and x.saturated_float <= x.neurons / 2:
        out.append(Violation(where, f"saturates on the chip: {x.saturated_chip} of {x.neurons} neurons fire "
                             f">= {SATURATED_RATE} spikes per step ({x.rate_chip:.3f} per neuron per step) against "
                             f"{x.saturated_float} ({x.rate_float:.3f}) in the float model",
                             value=x.saturated_chip, limit=x.neurons // 2,
                             hint=f"compile with calibration (rate matching); check the thresholds; {OPT_OUT}"))
    return out


def health_markdown(doc: dict) -> list[str]:
    """The health section of the compile report (from :meth:`Health.to_dict`)."""
    lines = ["## Health", "", f"Bit-accurate run on {doc['samples']} calibration samples ({doc['steps']} steps): "
             f"**{'ok' if doc['ok'] else 'problems'}**.", "",
             "| layer | neurons | spikes/neuron/step float -> chip | dead float / chip | saturated float / chip |"
             " on the rail | peak state |", "|---|---|---|---|---|---|---|"]
    for x in doc["layers"]:
        rate = "-" if x["rate_chip"] is None else f"{x['rate_float']:.4f} -> {x['rate_chip']:.4f}"
        dead = "-" if x["dead_chip"] is None else f"{x['dead_float']} / {x['dead_chip']}"
        sat = "-" if x["saturated_chip"] is None else f"{x['saturated_float']} / {x['saturated_chip']}"
        lines.append(f"| {x['layer']} ({x['kind']}) | {x['neurons']} | {rate} | {dead} | {sat} | {x['on_rail']} | "
                     f"{x['peak_state']:,} |")
    lines += [f"- **{p['field']}**: {p['message']}" for p in doc["problems"]]
    return lines
