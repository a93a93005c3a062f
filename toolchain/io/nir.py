"""NIR (neuromorphs/NIR, ``.nir`` HDF5 files) in and out of a float :class:`~toolchain.network.Network`.

NIR's neuron equations (``nir.CubaLIF``; spikes ``S = sum_k delta(t - t_k)``, Dirac pulses of unit area,
as NIR's maintainers settled in ``paper/01_lif/debug_spike_representation``)::

    tau_syn dI/dt = -I + w_in S            tau_mem dV/dt = (v_leak - V) + r I

with ``S`` the output of the ``Linear`` node in front (``weight`` of shape ``(post, pre)``). Ours
(toolchain.network): ``dI/dt = -I/tau_syn + sum W[pre, post] delta``, ``dV/dt = -V/tau_mem + I``.
Rescaling ``I_ours = (r / tau_mem) I_nir`` makes them one model, so for every post neuron ``i``::

    W[j, i] = weight[i, j] * g_i,          g_i = r_i w_in_i / (tau_mem_i tau_syn_i)

for any values of ``r`` and ``w_in``. **Export** writes ``r = tau_mem`` and ``w_in = tau_syn`` (``g = 1``,
so the ``Linear`` weights are ``W.T`` exactly), ``v_leak = 0``, ``v_reset = 0`` and the metadata ``dt``,
``time_unit="s"``, ``reset="subtract"``, ``spikes="dirac"`` and the exporter. Reset to 0 at the exact
crossing (``V = v_threshold``) equals our subtractive reset, so the two readings agree in continuous time.

**Import** reads ``Input -> (Delay) -> Linear|Affine -> CubaLIF|LIF -> ... -> CubaLIF|CubaLI|LIF|LI ->
Output``, with recurrent layers as sub-graphs (or loops) ``neuron -> (Delay) -> Linear -> neuron``. A
``LIF``/``LI`` node has no synaptic current: it is approximated by a synaptic time constant
``tau_syn = LIF_TAU_SYN_FRACTION * tau_mem`` with the weight scaled so the membrane jump after
``tau_syn`` is the same (relative error of the PSP ~ ``LIF_TAU_SYN_FRACTION``). Everything else is refused
with one line naming the node (see :class:`NIRImportError`).

**Profiles** (``profile=``) correct exporters that write values which break NIR's equations (each one
checked against the exporter's source and its own simulation, tests/toolchain/interop/test_nir_libraries.py):

- ``snntorch`` (``snntorch.export_nir``): ``tau = dt / (1 - alpha)`` with ``dt = 1e-4`` hard-coded,
  ``r = tau_mem/dt``, ``w_in = tau_syn/dt``, and a spike is a per-step value 1 (``S = dt * delta``), not a
  unit pulse. The profile multiplies ``g`` by ``dt``; the Euler time constants are kept (they match
  snntorch's per-step decays to O(dt/tau), and keep the PSP areas equal).
- ``norse`` (``norse.torch.utils.export_nir.to_nir``): writes ``tau = dt * tau`` (``dt / tau_inv``;
  norse's own importer reads ``1 / tau``), ``r = 1``, ``w_in = 1`` while a spike adds its weight to ``I``.
  The profile reads ``tau = tau_written / dt`` (``dt`` = ``to_nir``'s argument, default 1e-3) and takes
  ``w_in = tau_syn``.
- ``rockpool`` (``rockpool.nn.modules.torch.nir.to_nir``): ``r = tau_mem exp(-dt/tau_mem) / dt``,
  ``w_in = 1``, while ``LIFTorch`` adds a spike's weight to ``I`` and ``I`` to ``V`` each step. The profile
  takes ``g = 1/dt``, with ``dt`` solved from ``r`` (or given). rockpool drops biases (``v_leak = 0``).

These three simulate in steps and feed a recurrent layer's spikes back in the next step, while their graphs
carry no ``Delay`` in the loop: under a profile a recurrent loop gets one ``dt`` of delay.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.atomic import atomic_write_bytes
from toolchain.io import FormatError, refuse_options
from toolchain.network import FORMAT as NETWORK_FORMAT
from toolchain.network import Network

PROFILES = ("snntorch", "norse", "rockpool")
#: dt the exporters assume when none is given: snntorch hard-codes 1e-4, norse's ``to_nir`` defaults to 1e-3
PROFILE_DEFAULT_DT = {"snntorch": 1e-4, "norse": 1e-3}
#: a LIF/LI node (no synaptic current) gets ``tau_syn = LIF_TAU_SYN_FRACTION * tau_mem``
LIF_TAU_SYN_FRACTION = 1e-3
NEURONS = ("CubaLIF", "CubaLI", "LIF", "LI")
WEIGHTS = ("Linear", "Affine")
_REFUSED = {
    "Conv1d": "convolutions are not supported: Spikeline layers are fully connected (unroll the "
              "convolution into an Affine/Linear weight matrix)",
    "Conv2d": "convolutions are not supported: Spikeline layers are fully connected (unroll the "
              "convolution into an Affine/Linear weight matrix)",
    "SumPool2d": "pooling is not supported: Spikeline layers are fully connected",
    "AvgPool2d": "pooling is not supported: Spikeline layers are fully connected",
    "IF": "integrate-and-fire neurons without leak (IF) are not supported: Spikeline neurons leak "
          "(use LIF/CubaLIF with a long tau)",
    "I": "leak-free integrators (I) are not supported: use LI/CubaLI with a long tau",
    "Scale": "Scale nodes are not supported (fold the scale into the Linear weights)",
    "Threshold": "stand-alone Threshold nodes are not supported (use a LIF/CubaLIF neuron)",
}


class NIRImportError(FormatError):
    """A NIR graph holds something a Spikeline network cannot represent; the message names the node."""


def _nir():
    try:
        import nir
    except ImportError as exc:
        raise FormatError(f"the NIR format needs the `nir` package: pip install 'spikeline[nir]' ({exc})") \
            from None
    return nir


# -- export -----------------------------------------------------------------------------------------
def to_graph(net: Network):
    """The NIR graph of ``net`` (see the module docstring for the parameter choice)."""
    nir = _nir()
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([net.layer_sizes[0]])})}
    edges: list[tuple[str, str]] = []
    last = "input"
    for k in range(net.n_layers):
        n_pre, n = net.layer_sizes[k], net.layer_sizes[k + 1]
        if net.delays[k] > 0:
            nodes[f"delay{k}"] = nir.Delay(delay=np.full(n_pre, net.delays[k]))
            edges.append((last, f"delay{k}"))
            last = f"delay{k}"
        nodes[f"linear{k}"] = nir.Linear(weight=np.array(net.weights[k].T))
        edges.append((last, f"linear{k}"))
        neuron = _neuron_node(net, k)
        rec = net.recurrent[k] if k < net.n_layers - 1 else None
        name = f"layer{k + 1}"
        if rec is None:
            nodes[name] = neuron
        else:
            sub = {"input": nir.Input(input_type={"input": np.array([n])}), "lif": neuron,
                   "w_rec": nir.Linear(weight=np.array(rec.T)),
                   "output": nir.Output(output_type={"output": np.array([n])})}
            sub_edges = [("input", "lif"), ("lif", "output"), ("w_rec", "lif")]
            if net.recurrent_delays[k] > 0:
                sub["delay"] = nir.Delay(delay=np.full(n, net.recurrent_delays[k]))
                sub_edges += [("lif", "delay"), ("delay", "w_rec")]
            else:
                sub_edges.append(("lif", "w_rec"))
            nodes[name] = nir.NIRGraph(nodes=sub, edges=sub_edges)
        edges.append((f"linear{k}", name))
        last = name
    nodes["output"] = nir.Output(output_type={"output": np.array([net.layer_sizes[-1]])})
    edges.append((last, "output"))
    metadata = {"exporter": "spikeline", "format": NETWORK_FORMAT, "time_unit": "s", "reset": "subtract",
                "spikes": "dirac", "readout": net.readout, "spikeline_metadata": json.dumps(net.metadata)}
    if net.dt is not None:
        metadata["dt"] = float(net.dt)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _neuron_node(net: Network, k: int):
    nir = _nir()
    ts, tm = np.array(net.tau_syn[k]), np.array(net.tau_mem[k])
    common = dict(tau_syn=ts, tau_mem=tm, r=tm.copy(), v_leak=np.zeros_like(tm), w_in=ts.copy())
    if net.threshold[k] is None:
        return nir.CubaLI(**common)
    return nir.CubaLIF(**common, v_threshold=np.array(net.threshold[k]), v_reset=np.zeros_like(tm))


def export(source, out: Path, **options) -> Path:
    """Write ``source`` (a :class:`Network`) as a NIR file, atomically; ``nir.read`` reads it back."""
    refuse_options(options, (), "NIR export")
    if not isinstance(source, Network):
        raise FormatError("NIR export takes a float network (network.json), not a chip configuration; "
                          "export a configuration with --format rockpool")
    nir = _nir()
    buf = io.BytesIO()
    nir.write(buf, to_graph(source))
    return atomic_write_bytes(out, buf.getvalue())


# -- import -----------------------------------------------------------------------------------------
@dataclass
class _Layer:
    """One imported neuron layer: parameters in NIR's terms and the weights feeding it."""

    name: str
    kind: str
    weight: np.ndarray  # (post, pre), the product of the hop's Linear nodes
    delay: float
    rec_weight: np.ndarray | None
    rec_delay: float
    node: Any


def _kind(node) -> str:
    return type(node).__name__


def _flatten(graph, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inline nested sub-graphs: their Input/Output nodes become pass-throughs named ``<sub>.input`` /
    ``<sub>.output``, then every pass-through is removed by joining its sources to its targets."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if _kind(node) == "NIRGraph":
            sub_nodes, sub_edges = _flatten(node, full + ".")
            ins = [n for n, v in node.nodes.items() if _kind(v) == "Input"]
            outs = [n for n, v in node.nodes.items() if _kind(v) == "Output"]
            if len(ins) != 1 or len(outs) != 1:
                raise NIRImportError(f"node {full!r} (NIRGraph): a sub-graph needs exactly one Input and one "
                                     f"Output, it has {len(ins)} and {len(outs)}")
            for n, v in sub_nodes.items():
                nodes[n] = v
            for a, b in sub_edges:
                edges.append((a, b))
            entry[full] = f"{full}.{ins[0]}"
            exit_[full] = f"{full}.{outs[0]}"
            for n in (ins[0], outs[0]):
                nodes[f"{full}.{n}"] = "pass"
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        a = exit_.get(a, a)
        b = entry.get(b, b)
        edges.append((a, b))
    return nodes, edges


def _without_passes(nodes, edges, keep: set[str]):
    nodes = dict(nodes)
    edges = list(dict.fromkeys(edges))
    for name in [n for n, v in nodes.items() if (v == "pass") and n not in keep]:
        srcs = [a for a, b in edges if b == name]
        dsts = [b for a, b in edges if a == name]
        edges = [(a, b) for a, b in edges if name not in (a, b)] + [(s, d) for s in srcs for d in dsts]
        del nodes[name]
    return nodes, list(dict.fromkeys(edges))


def _uniform_delay(name: str, node) -> float:
    d = np.asarray(node.delay, np.float64).ravel()
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise NIRImportError(f"node {name!r} (Delay): delays must be finite and >= 0 seconds")
    if np.ptp(d) > 1e-12 * max(1.0, float(np.max(np.abs(d)))):
        raise NIRImportError(f"node {name!r} (Delay): per-neuron delays differ ({d.min():g}..{d.max():g} s); "
                             "a Spikeline hop has one transmission delay")
    return float(d[0])


def _affine_weight(name: str, node) -> np.ndarray:
    w = np.asarray(node.weight, np.float64)
    if w.ndim != 2:
        raise NIRImportError(f"node {name!r} ({_kind(node)}): weight must be a 2-D (out, in) matrix, got shape "
                             f"{w.shape}")
    if _kind(node) == "Affine" and np.any(np.asarray(node.bias) != 0):
        raise NIRImportError(f"node {name!r} (Affine): non-zero biases are not supported (a Spikeline "
                             "network has no constant input current); remove the bias or fold it away")
    return w


def _structure(graph) -> list[_Layer]:
    """Walk the (flattened) graph from Input to Output into a chain of neuron layers."""
    nodes, edges = _flatten(graph)
    ins = [n for n, v in nodes.items() if v != "pass" and _kind(v) == "Input"]
    outs = [n for n, v in nodes.items() if v != "pass" and _kind(v) == "Output"]
    if len(ins) != 1 or len(outs) != 1:
        raise NIRImportError(f"the graph needs exactly one Input and one Output node, it has {len(ins)} and "
                             f"{len(outs)}")
    nodes, edges = _without_passes(nodes, edges, keep=set())
    for name, node in nodes.items():
        kind = _kind(node)
        if kind in _REFUSED:
            raise NIRImportError(f"node {name!r} ({kind}): {_REFUSED[kind]}")
        if kind == "Flatten":
            shape = np.asarray(node.input_type.get("input", [])).ravel()
            if shape.size > 1 and np.count_nonzero(shape > 1) > 1:
                raise NIRImportError(f"node {name!r} (Flatten): multi-dimensional inputs are not supported; "
                                     "Spikeline layers are 1-D")
        elif kind not in (*NEURONS, *WEIGHTS, "Delay", "Input", "Output"):
            raise NIRImportError(f"node {name!r} ({kind}): this node type is not supported (supported: Input, "
                                 "Output, Linear, Affine, Delay, CubaLIF, CubaLI, LIF, LI, recurrent sub-graphs)")
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise NIRImportError(f"edge {a!r} -> {b!r} names a node that is not in the graph")
        succ[a].append(b)
        pred[b].append(a)

    def loop_back(neuron: str) -> list[str] | None:
        """A path neuron -> (Delay|Linear)* -> neuron, if there is one (the recurrent weights)."""
        for first in succ[neuron]:
            path, cur = [first], first
            while _kind(nodes[cur]) in (*WEIGHTS, "Delay", "Flatten") and len(succ[cur]) == 1:
                cur = succ[cur][0]
                if cur == neuron:
                    return path
                path.append(cur)
        return None

    layers: list[_Layer] = []
    cur, visited = ins[0], {ins[0]}
    while cur != outs[0]:
        loop = loop_back(cur) if _kind(nodes[cur]) in NEURONS else None
        forward_succ = [s for s in succ[cur] if not (loop and s == loop[0])]
        if len(forward_succ) != 1:
            raise NIRImportError(f"node {cur!r} ({_kind(nodes[cur])}) feeds {len(forward_succ)} nodes "
                                 f"{forward_succ}; only chains of layers are supported (no branches or skip "
                                 "connections)" if forward_succ else
                                 f"node {cur!r} ({_kind(nodes[cur])}) leads nowhere: the graph never reaches "
                                 "its Output")
        weight, delay, hop = None, 0.0, []
        nxt = forward_succ[0]
        while _kind(nodes[nxt]) in (*WEIGHTS, "Delay", "Flatten"):
            if nxt in visited:
                raise NIRImportError(f"node {nxt!r}: a cycle outside a recurrent layer is not supported")
            visited.add(nxt)
            hop.append(nxt)
            node = nodes[nxt]
            if _kind(node) == "Delay":
                delay += _uniform_delay(nxt, node)
            elif _kind(node) in WEIGHTS:
                w = _affine_weight(nxt, node)
                if weight is not None and w.shape[1] != weight.shape[0]:
                    raise NIRImportError(f"node {nxt!r} ({_kind(node)}): takes {w.shape[1]} inputs but receives "
                                         f"{weight.shape[0]}")
                weight = w if weight is None else w @ weight
            if len(succ[nxt]) != 1 or len(pred[nxt]) != 1:
                raise NIRImportError(f"node {nxt!r} ({_kind(node)}): weights and delays must sit on a chain "
                                     "(one source, one target)")
            nxt = succ[nxt][0]
        if nxt == outs[0]:
            if hop:
                raise NIRImportError(f"node {hop[-1]!r} ({_kind(nodes[hop[-1]])}) feeds the Output directly; the "
                                     "last layer must be neurons (CubaLIF, LIF, CubaLI or LI)")
            break
        if weight is None:
            raise NIRImportError(f"node {nxt!r} ({_kind(nodes[nxt])}): neurons must be fed through a Linear or "
                                 f"Affine node, but {cur!r} connects to it directly")
        if nxt in visited:
            raise NIRImportError(f"node {nxt!r}: a cycle outside a recurrent layer is not supported")
        visited.add(nxt)
        rec = loop_back(nxt)
        rec_w, rec_d = None, 0.0
        if rec is not None:
            for name in rec:
                visited.add(name)
                if _kind(nodes[name]) == "Delay":
                    rec_d += _uniform_delay(name, nodes[name])
                elif _kind(nodes[name]) in WEIGHTS:
                    w = _affine_weight(name, nodes[name])
                    rec_w = w if rec_w is None else w @ rec_w
        extra = [p for p in pred[nxt] if p != hop[-1] and not (rec and p == rec[-1])]
        if extra:
            raise NIRImportError(f"node {nxt!r} ({_kind(nodes[nxt])}) has inputs from {extra} besides its layer "
                                 "input and its recurrent loop; only chains of layers are supported")
        layers.append(_Layer(nxt, _kind(nodes[nxt]), weight, delay, rec_w, rec_d, nodes[nxt]))
        cur = nxt
    if not layers:
        raise NIRImportError("the graph holds no neuron layer (CubaLIF, LIF, CubaLI or LI)")
    return layers


def _arr(name: str, node, field: str, n: int) -> np.ndarray:
    a = np.asarray(getattr(node, field), np.float64)
    try:
        a = np.broadcast_to(a.reshape(-1) if a.size == n else a, (n,)).astype(np.float64)
    except ValueError:
        raise NIRImportError(f"node {name!r} ({_kind(node)}): {field} has shape {a.shape}, expected ({n},)") \
            from None
    if not np.all(np.isfinite(a)):
        raise NIRImportError(f"node {name!r} ({_kind(node)}): {field} holds NaN or inf")
    return a


def _rockpool_dt(r: np.ndarray, tau_mem: np.ndarray, name: str) -> float:
    """Solve rockpool's ``r = tau_mem exp(-dt/tau_mem) / dt`` for dt (Newton; float32 exports agree to ~1e-7)."""
    dt = tau_mem / (1.0 + r)  # rockpool's own guess; the root is close
    for _ in range(50):
        f = r * dt - tau_mem * np.exp(-dt / tau_mem)
        dt = dt - f / (r + np.exp(-dt / tau_mem))
    if not np.all(np.isfinite(dt)) or np.any(dt <= 0) or np.ptp(dt) > 1e-5 * np.max(dt):
        raise NIRImportError(f"node {name!r}: its r values do not correspond to one rockpool time step; "
                             "pass --dt")
    return float(np.mean(dt))


def _layer_params(layer: _Layer, profile: str | None, dt: float | None, last: bool) -> dict[str, Any]:
    """(tau_syn, tau_mem, threshold, gain g) for one layer: ``W[j, i] = weight[i, j] * g[i]``."""
    node, name, kind = layer.node, layer.name, layer.kind
    n = layer.weight.shape[0]
    has_syn = kind in ("CubaLIF", "CubaLI")
    spiking = kind in ("CubaLIF", "LIF")
    if kind in ("CubaLI", "LI") and not last:
        raise NIRImportError(f"node {name!r} ({kind}): a leaky integrator without spikes can only be the last "
                             "layer (the readout)")
    tau_m = _arr(name, node, "tau_mem" if has_syn else "tau", n)
    tau_s = _arr(name, node, "tau_syn", n) if has_syn else None
    r = _arr(name, node, "r", n)
    w_in = _arr(name, node, "w_in", n) if has_syn else np.ones(n)
    v_leak = _arr(name, node, "v_leak", n)
    if np.any(v_leak != 0):
        raise NIRImportError(f"node {name!r} ({kind}): v_leak != 0 (a constant drive) is not supported; "
                             "Spikeline neurons rest at 0")
    for label, tau in (("tau_mem", tau_m), ("tau_syn", tau_s)):
        if tau is not None and np.any(tau <= 0):
            raise NIRImportError(f"node {name!r} ({kind}): {label} must be > 0 seconds")
    threshold = None
    if spiking:
        threshold = _arr(name, node, "v_threshold", n)
        if np.any(threshold <= 0):
            raise NIRImportError(f"node {name!r} ({kind}): v_threshold <= 0 is not supported (a Spikeline neuron "
                                 "fires when V rises to a positive threshold; no negative or two-sided "
                                 "thresholds)")
        v_reset = _arr(name, node, "v_reset", n)
        if np.any(v_reset != 0):
            raise NIRImportError(f"node {name!r} ({kind}): v_reset != 0 is not supported (Spikeline resets by "
                                 "subtracting the threshold, which equals a reset to 0 at the crossing, not to "
                                 "another value)")
    # -- the profile's reading of the written values: g_v = jump of V per unit of synaptic input
    if profile == "rockpool" and not has_syn:
        raise NIRImportError(f"node {name!r} ({kind}): the rockpool profile reads LIFTorch layers (CubaLIF) only")
    if profile == "snntorch":  # per-step spikes (S = dt delta); Euler taus of the per-step decays
        g = dt * r * (w_in / tau_s if has_syn else 1.0) / tau_m
    elif profile == "norse":  # tau written as dt * tau; a spike adds its weight to I (or dt/tau_m of it to V)
        tau_m = tau_m / dt
        tau_s = tau_s / dt if has_syn else None
        g = r / tau_m if has_syn else dt * r / tau_m
    elif profile == "rockpool":  # a spike adds its weight to I, I is added to V every step
        g = np.full(n, 1.0 / dt)
    else:  # NIR's equations, Dirac spikes
        g = r * (w_in / tau_s if has_syn else 1.0) / tau_m
    if not has_syn:
        # V jumps by g * weight per spike; a short synaptic current with weight g * weight * (tm - ts) /
        # (tm ts) gives the same membrane once it has decayed (PSP error ~ LIF_TAU_SYN_FRACTION)
        tau_s = LIF_TAU_SYN_FRACTION * tau_m
        g = g * (tau_m - tau_s) / (tau_m * tau_s)
    if np.any(g == 0):
        raise NIRImportError(f"node {name!r} ({kind}): r * w_in is 0, so no input reaches the neurons")
    return {"tau_syn": tau_s, "tau_mem": tau_m, "threshold": threshold, "gain": g}


def from_graph(graph, dt: float | None = None, profile: str | None = None) -> Network:
    """A :class:`Network` from a NIR graph (module docstring: the mapping, profiles and refusals)."""
    if profile is not None and profile not in PROFILES:
        raise FormatError(f"unknown NIR profile {profile!r}; choose one of {', '.join(PROFILES)} (or none)")
    meta = _metadata(graph)
    if dt is None and meta.get("dt") is not None:
        dt = float(meta["dt"])
    if dt is None and profile in PROFILE_DEFAULT_DT:
        dt = PROFILE_DEFAULT_DT[profile]
    layers = _structure(graph)
    if profile == "rockpool" and dt is None:
        first = layers[0]
        n = first.weight.shape[0]
        field = "tau_mem" if hasattr(first.node, "tau_mem") else "tau"
        dt = _rockpool_dt(_arr(first.name, first.node, "r", n), _arr(first.name, first.node, field, n), first.name)
    if profile in PROFILES and dt is None:
        raise FormatError(f"the {profile} profile needs the exporter's time step: pass --dt")
    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise FormatError(f"dt must be a positive number of seconds, got {dt!r}")
    params = [_layer_params(lay, profile, dt, k == len(layers) - 1) for k, lay in enumerate(layers)]
    sizes = [layers[0].weight.shape[1]] + [lay.weight.shape[0] for lay in layers]
    for k, lay in enumerate(layers[1:], start=1):
        if lay.weight.shape[1] != sizes[k]:
            raise NIRImportError(f"node {lay.name!r}: its weights take {lay.weight.shape[1]} inputs but the layer "
                                 f"before has {sizes[k]} neurons")
    weights = [(lay.weight * p["gain"][:, None]).T for lay, p in zip(layers, params, strict=True)]
    recurrent = []
    for lay, p in zip(layers[:-1], params[:-1], strict=True):
        recurrent.append(None if lay.rec_weight is None else (lay.rec_weight * p["gain"][:, None]).T)
    if layers[-1].rec_weight is not None:
        raise NIRImportError(f"node {layers[-1].name!r}: a recurrent readout layer is not supported")
    readout = "leaky-integrator" if layers[-1].kind in ("CubaLI", "LI") else "spiking"
    metadata = {}
    if meta.get("exporter") == "spikeline" and meta.get("spikeline_metadata"):
        metadata = json.loads(meta["spikeline_metadata"])
    else:
        metadata = {"imported_from": "nir", "nir_profile": profile}
    return Network.create(weights, [p["tau_syn"] for p in params], [p["tau_mem"] for p in params],
                          [p["threshold"] for p in params], recurrent, [lay.delay for lay in layers],
                          [lay.rec_delay + (dt if profile else 0.0) for lay in layers[:-1]], readout, dt,
                          metadata)


def _metadata(graph) -> dict[str, Any]:
    out = {}
    for k, v in (getattr(graph, "metadata", None) or {}).items():
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        elif isinstance(v, np.ndarray) and v.shape == ():
            v = v.item()
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def import_file(path: Path, dt: float | None = None, profile: str | None = None, **options) -> Network:
    """Read a ``.nir`` file into a :class:`Network` (``nir.read`` with type checking on)."""
    if options:
        raise FormatError(f"{', '.join('--' + k for k in sorted(options))}: not an option of the NIR format "
                          "(a NIR graph becomes a float network; compile it for a chip afterwards)")
    nir = _nir()
    try:
        graph = nir.read(str(path))
    except ValueError as exc:
        if "type" not in str(exc).lower():
            raise FormatError(f"{path}: not a readable NIR file ({exc})") from None
        # some exporters write inconsistent node types (rockpool 3.1 + nirtorch 2.6 give its Output node the
        # shape of a record tuple): read without NIR's type inference; every shape is checked on the way in
        try:
            graph = nir.read(str(path), type_check=False)
        except (OSError, KeyError, ValueError) as exc2:
            raise FormatError(f"{path}: not a readable NIR file ({exc2})") from None
    except (OSError, KeyError) as exc:
        raise FormatError(f"{path}: not a readable NIR file ({exc})") from None
    return from_graph(graph, dt=dt, profile=profile)
