"""The float spiking network (SI seconds) and its versioned JSON format ``spikeline.network/1``.

A :class:`Network` is a layered current-based LIF network (reference/gradients.md §1)::

    dI_i/dt = -I_i / tau_syn_i + sum_j W[j, i] sum_g delta(t - g - delay)
    dV_i/dt = -V_i / tau_mem_i + I_i,        V_i = threshold_i  ->  spike, V_i -= threshold_i

Layer 0 is the input (spike sources only). Hop ``l`` connects layer ``l`` to layer ``l + 1`` with
``weights[l]`` of shape ``(n_l, n_{l+1})`` (row = presynaptic, the FP convention ``W_ji: j -> i``) and
a transmission ``delays[l]`` in seconds: a spike of pre at ``g`` reaches post at ``g + delay``.
Hidden layer ``k`` (network layer ``k + 1``) may carry recurrent weights ``recurrent[k]`` of shape
``(n, n)`` with delay ``recurrent_delays[k]``. Time constants and thresholds are per neuron arrays
(``tau_syn[l]``, ``tau_mem[l]``, ``threshold[l]`` for network layer ``l + 1``). The readout is
``"spiking"`` (LIF like the hidden layers) or ``"leaky-integrator"`` (no threshold, no spikes; its
``threshold`` entry is ``None``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hw_models.atomic import atomic_write_text
from hw_models.errors import ConfigError, Violation
from hw_models.files import JSON_KINDS, json_kind, read_json

FORMAT = "spikeline.network/1"
READOUTS = ("spiking", "leaky-integrator")
Readout = Literal["spiking", "leaky-integrator"]
_KNOWN_FIELDS = {"format", "layer_sizes", "readout", "dt", "hops", "layers", "metadata"}


@dataclass(eq=False)
class Network:
    """Parameters of a layered LIF network in float space. Build with :meth:`create` or :meth:`random`."""

    layer_sizes: list[int]
    weights: list[np.ndarray]
    tau_syn: list[np.ndarray]
    tau_mem: list[np.ndarray]
    threshold: list[np.ndarray | None]
    recurrent: list[np.ndarray | None]
    delays: list[float]
    recurrent_delays: list[float]
    readout: Readout = "spiking"
    dt: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def create(cls, weights: list, tau_syn, tau_mem, threshold=1.0, recurrent: list | None = None,
               delays=0.0, recurrent_delays=0.0, readout: Readout = "spiking", dt: float | None = None,
               metadata: dict | None = None) -> Network:
        """Build and validate a network from per-hop weight matrices.

        ``tau_syn``, ``tau_mem``, ``threshold``: a scalar (all layers), or one entry per layer, each a
        scalar or a per-neuron array. ``delays``: a scalar or one per hop. ``recurrent``: ``None`` or one
        entry (matrix or ``None``) per hidden layer. Raises :class:`ConfigError` listing every problem.
        """
        weights = [np.array(w, dtype=np.float64) for w in weights]
        if not weights or any(w.ndim != 2 for w in weights):
            raise ConfigError([Violation("weights", "need a list of 2-D matrices W[pre, post], one per hop",
                                         hint="e.g. [np.ones((5, 8)), np.ones((8, 3))]")], "network")
        sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
        n_layers = len(weights)
        n_hidden = n_layers - 1

        def per_layer(name: str, value, allow_none_last: bool = False) -> list:
            if value is not None and not isinstance(value, (list, tuple)) and np.ndim(value) == 0:
                items = [value] * n_layers
            else:
                items = list(value)
            if len(items) != n_layers:
                raise ConfigError([Violation(name, f"need one entry per layer ({n_layers}), got {len(items)}",
                                             value=len(items), limit=n_layers)], "network")
            out = []
            for layer, item in enumerate(items):
                if item is None:
                    out.append(None)
                else:
                    out.append(np.array(np.broadcast_to(np.asarray(item, dtype=np.float64),
                                                        (sizes[layer + 1],))))
            return out

        thr = per_layer("threshold", threshold)
        if readout == "leaky-integrator":
            thr[-1] = None
        rec = [None] * n_hidden if recurrent is None else [None if r is None else np.array(r, np.float64)
                                                            for r in recurrent]
        hop_delays = [float(delays)] * n_layers if np.ndim(delays) == 0 else [float(d) for d in delays]
        rec_delays = ([float(recurrent_delays)] * n_hidden if np.ndim(recurrent_delays) == 0
                      else [float(d) for d in recurrent_delays])
        net = cls(layer_sizes=sizes, weights=weights, tau_syn=per_layer("tau_syn", tau_syn),
                  tau_mem=per_layer("tau_mem", tau_mem), threshold=thr, recurrent=rec, delays=hop_delays,
                  recurrent_delays=rec_delays, readout=readout, dt=dt, metadata=dict(metadata or {}))
        net.validate()
        return net

    @classmethod
    def random(cls, layer_sizes: list[int], seed: int, tau_syn: float = 5e-3, tau_mem: float = 10e-3,
               threshold: float = 1.0, weight_mean: float | list[float] = 0.0,
               weight_std: float | list[float] = 1.0, recurrent_std: float | None = None,
               readout: Readout = "spiking", delays=0.0, recurrent_delays=0.0,
               dt: float | None = None) -> Network:
        """A network with Gaussian weights (scaled by ``1 / tau_syn`` so a unit weight is a unit charge).

        ``weight_mean``/``weight_std`` may be given per hop. With ``recurrent_std`` every hidden layer
        gets recurrent weights of that spread.
        """
        rng = np.random.default_rng(seed)
        n_hops = len(layer_sizes) - 1
        means = np.broadcast_to(weight_mean, (n_hops,))
        stds = np.broadcast_to(weight_std, (n_hops,))
        weights = [rng.normal(means[k], stds[k], (layer_sizes[k], layer_sizes[k + 1])) / tau_syn
                   for k in range(n_hops)]
        rec = None
        if recurrent_std is not None:
            rec = [rng.normal(0.0, recurrent_std, (n, n)) / tau_syn for n in layer_sizes[1:-1]]
        return cls.create(weights, tau_syn, tau_mem, threshold, rec, delays, recurrent_delays, readout, dt)

    # -- shape helpers ----------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """Number of non-input layers (= number of hops)."""
        return len(self.weights)

    def copy(self) -> Network:
        return from_dict(self.to_dict())

    # -- validation -------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` with every problem found (shapes, finiteness, signs)."""
        problems: list[Violation] = []
        sizes = self.layer_sizes
        L = len(self.weights)
        if len(sizes) != L + 1 or any(int(n) < 1 for n in sizes):
            problems.append(Violation("layer_sizes", f"need {L + 1} positive sizes (input + one per hop)",
                                      value=list(sizes)))
            raise ConfigError(problems, "network")
        if self.readout not in READOUTS:
            problems.append(Violation("readout", f"unknown readout {self.readout!r}", value=self.readout,
                                      hint=f"use one of {list(READOUTS)}"))
        for k, w in enumerate(self.weights):
            want = (sizes[k], sizes[k + 1])
            if w.shape != want:
                problems.append(Violation("weights", f"hop {k} has shape {w.shape}, expected {want}",
                                          index=(k,), value=list(w.shape), limit=list(want)))
            elif not np.all(np.isfinite(w)):
                problems.append(Violation("weights", f"hop {k} holds NaN or inf", index=(k,)))
        for name in ("tau_syn", "tau_mem"):
            arrays = getattr(self, name)
            if len(arrays) != L:
                problems.append(Violation(name, f"need {L} entries (one per layer)", value=len(arrays)))
                continue
            for k, a in enumerate(arrays):
                if a is None or a.shape != (sizes[k + 1],) or not np.all(np.isfinite(a)) or np.any(a <= 0):
                    problems.append(Violation(name, f"layer {k + 1}: need {sizes[k + 1]} finite values > 0 "
                                              "(seconds)", index=(k,), hint="e.g. 5e-3"))
        if len(self.threshold) != L:
            problems.append(Violation("threshold", f"need {L} entries", value=len(self.threshold)))
        else:
            for k, th in enumerate(self.threshold):
                li = k == L - 1 and self.readout == "leaky-integrator"
                if li:
                    if th is not None:
                        problems.append(Violation("threshold", "a leaky-integrator readout has no threshold",
                                                  index=(k,), hint="set it to None"))
                elif th is None or th.shape != (sizes[k + 1],) or not np.all(np.isfinite(th)) \
                        or np.any(th <= 0):
                    problems.append(Violation("threshold", f"layer {k + 1}: need {sizes[k + 1]} finite "
                                              "values > 0", index=(k,), hint="e.g. 1.0"))
        if len(self.recurrent) != L - 1:
            problems.append(Violation("recurrent", f"need {L - 1} entries (one per hidden layer, or None)",
                                      value=len(self.recurrent)))
        else:
            for k, r in enumerate(self.recurrent):
                if r is None:
                    continue
                n = sizes[k + 1]
                if r.shape != (n, n) or not np.all(np.isfinite(r)):
                    problems.append(Violation("recurrent", f"hidden layer {k + 1}: need a finite ({n}, {n}) "
                                              "matrix", index=(k,), value=list(r.shape)))
        for name, values, count in (("delays", self.delays, L), ("recurrent_delays", self.recurrent_delays,
                                                                   L - 1)):
            if len(values) != count:
                problems.append(Violation(name, f"need {count} entries", value=len(values), limit=count))
            for k, d in enumerate(values):
                if not (math.isfinite(d) and d >= 0):
                    problems.append(Violation(name, "delays must be finite and >= 0 (seconds)", index=(k,),
                                              value=d))
        if self.dt is not None and not (math.isfinite(self.dt) and self.dt > 0):
            problems.append(Violation("dt", "must be None or a positive number of seconds", value=self.dt))
        if problems:
            raise ConfigError(problems, "network")

    # -- JSON codec -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def vec(a):
            return None if a is None else [float(x) for x in a]

        def mat(a):
            return None if a is None else [[float(x) for x in row] for row in a]

        L = self.n_layers
        return {
            "format": FORMAT,
            "layer_sizes": [int(n) for n in self.layer_sizes],
            "readout": self.readout,
            "dt": self.dt,
            "hops": [{"weights": mat(self.weights[k]), "delay": self.delays[k]} for k in range(L)],
            "layers": [{"tau_syn": vec(self.tau_syn[k]), "tau_mem": vec(self.tau_mem[k]),
                        "threshold": vec(self.threshold[k]),
                        "recurrent": mat(self.recurrent[k]) if k < L - 1 else None,
                        "recurrent_delay": self.recurrent_delays[k] if k < L - 1 else None}
                       for k in range(L)],
            "metadata": self.metadata,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    def sha256(self) -> str:
        """SHA-256 (hex) of the network's canonical JSON: :meth:`to_dict` with sorted keys and no whitespace.

        Saving and loading keep it (floats round-trip exactly), so the hash a configuration's provenance
        records at compile time identifies the ``network.json`` it came from.
        """
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False,
                          default=_json_scalar)
        return hashlib.sha256(text.encode()).hexdigest()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the network as JSON, atomically."""
        return atomic_write_text(path, self.to_json())

    def parameters(self, taus: bool = False) -> dict[str, list[np.ndarray | None]]:
        """The trainable arrays, keyed like the gradients: weights, recurrent, threshold (and the per-neuron
        time constants tau_syn, tau_mem with ``taus``)."""
        out = {"weights": self.weights, "recurrent": self.recurrent, "threshold": self.threshold}
        if taus:
            out.update({"tau_syn": self.tau_syn, "tau_mem": self.tau_mem})
        return out


def _json_scalar(value: Any) -> Any:
    """numpy scalars and arrays in metadata, as JSON would hold them after a save."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"metadata value {value!r} is not JSON serialisable")


def from_dict(doc: Any, source: str = "network") -> Network:
    """Decode a ``spikeline.network/1`` document; every problem is reported at once."""
    if not isinstance(doc, dict):
        raise ConfigError([Violation("format", "the document must be a JSON object")], source)
    kind = json_kind(doc)
    if kind is not None and kind != JSON_KINDS["spikeline.network/"]:
        raise ConfigError([Violation("format", f"this is {kind}, not a network", hint=NETWORK_FIX)], source)
    problems: list[Violation] = []
    if doc.get("format") != FORMAT:
        problems.append(Violation("format", f"expected {FORMAT!r}", value=doc.get("format"),
                                  hint="was this file written by Network.save?"))
    unknown = sorted(set(doc) - _KNOWN_FIELDS)
    if unknown:
        problems.append(Violation("format", f"unknown fields {unknown}", hint="remove them"))
    for key in ("layer_sizes", "hops", "layers"):
        if not isinstance(doc.get(key), list):
            problems.append(Violation(key, "missing or not a list"))
    if problems:
        raise ConfigError(problems, source)
    hops, layers = doc["hops"], doc["layers"]
    if len(hops) != len(layers) or not hops:
        raise ConfigError([Violation("layers", "need one 'layers' entry per 'hops' entry",
                                     value=len(layers), limit=len(hops))], source)
    problems = _type_problems(doc)
    if problems:
        raise ConfigError(problems, source)
    try:
        L = len(hops)
        net = Network(
            layer_sizes=[int(n) for n in doc["layer_sizes"]],
            weights=[np.array(h["weights"], dtype=np.float64) for h in hops],
            tau_syn=[np.array(lay["tau_syn"], dtype=np.float64) for lay in layers],
            tau_mem=[np.array(lay["tau_mem"], dtype=np.float64) for lay in layers],
            threshold=[None if lay.get("threshold") is None else np.array(lay["threshold"], dtype=np.float64)
                       for lay in layers],
            recurrent=[None if layers[k].get("recurrent") is None
                       else np.array(layers[k]["recurrent"], dtype=np.float64) for k in range(L - 1)],
            delays=[float(h.get("delay", 0.0)) for h in hops],
            recurrent_delays=[float(layers[k].get("recurrent_delay") or 0.0) for k in range(L - 1)],
            readout=doc.get("readout", "spiking"),
            dt=None if doc.get("dt") is None else float(doc["dt"]),
            metadata=dict(doc.get("metadata") or {}),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError([Violation("format", f"malformed network document ({exc})",
                                     hint="hops need 'weights', layers need 'tau_syn' and 'tau_mem'")],
                          source) from None
    net.validate()
    return net


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _all_numbers(value: Any) -> bool:
    """``value`` is a JSON number or (nested) lists of JSON numbers; booleans and strings are not."""
    if isinstance(value, list):
        return all(_all_numbers(v) for v in value)
    return _is_number(value)


def _type_problems(doc: dict[str, Any]) -> list[Violation]:
    """Every value of the wrong JSON type (a string, boolean or object where numbers are stored)."""
    problems: list[Violation] = []
    if not (isinstance(doc["layer_sizes"], list)
            and all(isinstance(n, int) and not isinstance(n, bool) for n in doc["layer_sizes"])):
        problems.append(Violation("layer_sizes", "must be a list of whole numbers", value=str(doc["layer_sizes"])))
    for key, optional in (("dt", True), ("readout", True), ("metadata", True)):
        value = doc.get(key)
        if value is None and optional:
            continue
        want = {"dt": _is_number, "readout": lambda v: isinstance(v, str),
                "metadata": lambda v: isinstance(v, dict)}[key]
        if not want(value):
            problems.append(Violation(key, f"has the wrong type ({type(value).__name__})", value=str(value)))
    fields = (("hops", ("weights",), ("delay",)),
              ("layers", ("tau_syn", "tau_mem"), ("threshold", "recurrent", "recurrent_delay")))
    for group, required, optional in fields:
        for k, entry in enumerate(doc[group]):
            if not isinstance(entry, dict):
                problems.append(Violation(group, "each entry must be a JSON object", index=(k,)))
                continue
            for name in (*required, *optional):
                value = entry.get(name)
                if value is None and name in optional:
                    continue
                if not _all_numbers(value):
                    problems.append(Violation(f"{group}.{name}", "must hold JSON numbers only (no strings, "
                                              "booleans, objects or nulls)", index=(k,)))
    return problems


NETWORK_FIX = "give the network.json written by `spikeline train` (or Network.save)"


def load_network(path: str | os.PathLike) -> Network:
    """Read a network JSON file written by :meth:`Network.save`."""
    return from_dict(read_json(path, "a network", NETWORK_FIX, expect="spikeline.network/"), source=str(path))
