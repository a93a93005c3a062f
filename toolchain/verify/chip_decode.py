"""Decision rules on bit-accurate records: the chip's side of the rules the trainer uses on the float model.

Every rule returns one class per sample, or -1 when the chip gives no decision (counted as wrong).

* ``first-spike``: the readout that spikes in the earliest step; a tie within one step goes to the readout
  with the larger membrane left after its reset (it crossed its threshold by more, so earlier within the
  step);
* ``spike-count``: the readout with most spikes; ties go to the earliest first spike;
* ``max-voltage``: the readout whose membrane reached the highest value (``V(0) = 0`` counts, as in the
  float model);
* ``integrated-voltage``: the readout with the largest sum of its membrane over the trial.

With an output code ``C`` (classes x readouts, more classes than readouts) the voltage rules decide
``argmax_c (C @ y)_c`` on the readout observables ``y`` (the spike counts for ``spike-count``), exactly as
:func:`toolchain.decode.decide`.
"""

from __future__ import annotations

import numpy as np

from hw_models.errors import InputError
from hw_models.simulator import Record

RULES = ("first-spike", "spike-count", "max-voltage", "integrated-voltage")
#: Decision rule names used in ``network.metadata["decision"]`` -> chip rule.
RULE_ALIASES = {"first-spike": "first-spike", "ttfs": "first-spike", "first_spike": "first-spike",
                "spike-count": "spike-count", "count": "spike-count", "max-voltage": "max-voltage",
                "integrated-voltage": "integrated-voltage"}


def network_rule(metadata: dict) -> tuple[str, np.ndarray | None]:
    """``(rule, output code or None)`` recorded in a network's metadata by ``spikeline train``."""
    rule = RULE_ALIASES.get(str(metadata.get("decision", "")).lower())
    if rule is None:
        raise InputError(f"the network names no known decision rule (metadata 'decision' is "
                         f"{metadata.get('decision')!r}; valid: {', '.join(RULES)})")
    code = metadata.get("output_code")
    return rule, None if code is None else np.asarray(code, np.float64)


def first_step(spikes_out: np.ndarray) -> np.ndarray:
    """(B, N_out) index of each readout's first spike step, ``T`` when it never spikes."""
    n_t = spikes_out.shape[1]
    fired = spikes_out > 0
    return np.where(fired.any(axis=1), np.argmax(fired, axis=1), n_t)


def decide(record: Record, rule: str, code: np.ndarray | None = None) -> np.ndarray:
    if rule not in RULES:
        raise InputError(f"unknown decision rule {rule!r}; use one of {', '.join(RULES)}")
    spikes = record["Spikes_out"].astype(np.int64)
    if spikes.ndim == 2:
        spikes = spikes[None]
    n_b, n_t, _ = spikes.shape
    if rule in ("max-voltage", "integrated-voltage"):
        v = record["Vmem_out"].astype(np.int64).reshape(n_b, n_t, -1)
        score = np.maximum(v.max(axis=1), 0) if rule == "max-voltage" else v.sum(axis=1)
        if code is not None:
            score = score @ np.asarray(code, np.float64).T
        return np.argmax(score, axis=1)
    first = first_step(spikes)
    if rule == "first-spike":
        v = record["Vmem_out"].astype(np.int64).reshape(n_b, n_t, -1)
        earliest = first.min(axis=1)
        out = np.full(n_b, -1)
        for b in np.flatnonzero(earliest < n_t):
            tied = np.flatnonzero(first[b] == earliest[b])
            out[b] = tied[np.argmax(v[b, earliest[b], tied])]
        return out
    counts = spikes.sum(axis=1)
    if code is not None:  # spike-count through the output code, as toolchain.decode.decide
        score = counts @ np.asarray(code, np.float64).T
        return np.where(counts.max(axis=1) > 0, np.argmax(score, axis=1), -1)
    out = np.full(n_b, -1)
    for b in np.flatnonzero(counts.max(axis=1) > 0):
        tied = np.flatnonzero(counts[b] == counts[b].max())
        out[b] = tied[np.argmin(first[b, tied])]
    return out
