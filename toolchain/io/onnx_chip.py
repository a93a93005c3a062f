"""A chip configuration as an ONNX model that evolves rasters exactly as the Xylo core v2 does.

The model's input ``raster`` holds integer counts ``(B, T, N_in)``; its outputs are the record keys of
:mod:`hw_models.simulator` (``Spikes``, ``Vmem``, ``Isyn``, ``Isyn2`` with two synapses, ``Spikes_out``,
``Vmem_out``, ``Isyn_out``), each ``(B, T, N)``, bit-identical to :func:`hw_models.simulator.simulate`.
One ``Scan`` step is one chip step (``docs/onnx.md`` draws the graph and proves each part exact):

* every value is an integer held in float32, and every float32 operation on it is exact: sums stay
  below 2**24 in units of the smallest power of two involved (checked here, at export);
* event delivery: the step's events are ``m @ W`` (one matrix product), and the sums of the positive
  and of the negative contributions bound every partial sum of xylosim's event order. When no target
  can leave int16 (``x + pos <= 32767`` and ``x + neg >= -32768``) no saturating add clips, so the
  ordered result is ``x + m @ W``; otherwise an ``If`` takes the exact branch: on the targets that may
  saturate, the sources' saturating adds ``clip(x + m_s w_s)`` composed as clamps in xylosim's order;
* integrate-then-decay with ``decay(x) = max(floor(x 2**-d), min(x, 1))`` (floor, at least 1 in
  magnitude), the int16 wrap of ``-decay(v)``, the four saturations;
* spikes: ``min(max(floor(v / th), 0), cap - n0)`` for ``th > 0``; for ``th <= 0`` the count is the
  first ``k`` with ``wrap16(v - k th) < th`` (all 32 candidates at once);
* aliases: neurons are processed in id order on the chip, so a target's pre-loaded count depends on
  lower ids; ``D`` passes (``D`` = the longest chain of aliases to higher ids) settle every count.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from hw_models.arith import INT16_MAX, INT16_MIN, shifted_weight
from hw_models.config import ChipConfig
from hw_models.simulator import _caps
from toolchain.io import FormatError
from toolchain.io.onnx_graph import Graph, finish_model, require_onnx, save_model, tensor_info

FORMAT = "spikeline.onnx-chip/1"
F32_EXACT = 2**24  # float32 holds every integer of magnitude up to 2**24


def config_sha256(config: ChipConfig) -> str:
    """SHA-256 of the configuration's canonical JSON (what the chip runs; provenance left out)."""
    doc = config.to_dict()
    doc.pop("provenance", None)
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _event_matrices(config: ChipConfig):
    """Shifted weights as (sources, S, N) arrays: inputs and hidden pres -> [hidden | readout] targets.

    Each entry is the value one event adds, ``int16(w << shift)``; readout targets use synapse 0.
    """
    n_h, n_o, n_syn = config.n_hidden, config.n_outputs, config.n_synapses
    n = n_h + n_o
    w_in = np.zeros((config.n_inputs, n_syn, n), np.int64)
    w_in[:, :, :n_h] = shifted_weight(config.weights_in.transpose(0, 2, 1), config.weight_shift_in)
    w_rec = np.zeros((n, n_syn, n), np.int64)
    w_rec[:n_h, :, :n_h] = shifted_weight(config.weights_rec.transpose(0, 2, 1), config.weight_shift_rec)
    w_rec[:n_h, 0, n_h:] = shifted_weight(config.weights_out, config.weight_shift_out)
    return w_in, w_rec


def _check_exact(name: str, w: np.ndarray, cap: int, shift_of_column: np.ndarray) -> None:
    """Refuse a matrix whose float32 product with counts <= cap could round.

    Every term ``m * w`` is a multiple of ``2**shift``; if the absolute terms of a column sum to less
    than ``2**24`` such units, every partial sum (in any summation order) is exactly representable.
    """
    units = np.abs(w).sum(axis=0) * cap / 2.0 ** shift_of_column
    if np.any(units >= F32_EXACT):
        raise FormatError(f"{name}: the network is too large for the exact float32 event sums of the ONNX "
                          f"chip model ({int(units.max())} >= 2**24 units); use a smaller custom chip")


def _alias_matrices(config: ChipConfig, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(forward edges s -> j with s < j, all edges, longest chain of forward edges) as (N, N) counts."""
    fwd = np.zeros((n, n), np.float32)
    every = np.zeros((n, n), np.float32)
    for s, targets in enumerate(config.aliases or []):
        for j in targets:
            every[s, j] += 1
            if j > s:
                fwd[s, j] += 1
    depth = np.zeros(n, np.int64)  # longest forward chain ending at each neuron (ids ascend along it)
    for s in range(n):
        for j in np.flatnonzero(fwd[s]):
            depth[j] = max(depth[j], depth[s] + 1)
    return fwd, every, int(depth.max(initial=0))


class _Step:
    """Builds the body of the ``Scan``: one chip step on a batch, every value an integer in float32."""

    def __init__(self, g: Graph, config: ChipConfig, record_all: bool, ordered: bool = True):
        self.g, self.cfg, self.record_all, self.ordered = g, config, record_all, ordered
        cap_in, cap_hid, cap_out = _caps(config)
        self.n_h, self.n_o, self.s = config.n_hidden, config.n_outputs, config.n_synapses
        self.n = self.n_h + self.n_o
        self.cap_hid = cap_hid
        self.cap = np.r_[np.full(self.n_h, cap_hid), np.full(self.n_o, cap_out)].astype(np.float32)
        self.lo, self.hi = g.const(INT16_MIN), g.const(INT16_MAX)

    def decay(self, x: str, dash: np.ndarray) -> str:
        """``decay(x, d) = max(floor(x * 2**-d), min(x, 1))``: ``x >> d``, at least 1 when ``x > 0``."""
        g = self.g
        floor = g.op("Floor", g.op("Mul", x, g.const(2.0 ** -dash.astype(np.float64))))
        return g.op("Max", floor, g.op("Min", x, g.const(1.0)))

    def sat(self, x: str) -> str:
        return self.g.op("Clip", x, self.lo, self.hi)

    def wrap(self, x: str) -> str:
        """Two's-complement int16 wrap: ``x - 65536 * floor((x + 32768) / 65536)``."""
        g = self.g
        k = g.op("Floor", g.op("Mul", g.op("Add", x, g.const(32768.0)), g.const(1.0 / 65536)))
        return g.op("Sub", x, g.op("Mul", k, g.const(65536.0)))

    # -- event delivery ---------------------------------------------------------------------------
    def deliver(self, isyn: str, x_t: str, spk: str) -> str:
        """Synaptic state after this step's events, in xylosim's order with every add saturating.

        Three tiers, each exact where it is taken: a cheap bound (event count times the column's largest
        weight) proves no partial sum leaves int16 -> ``x + m @ W``; else the precise bound (the sums of
        the positive and the negative contributions) -> ``x + m @ W``; else the composed clamps on
        the risky targets (:meth:`_ordered_delivery`).
        """
        g, cfg = self.g, self.cfg
        w_in, w_rec = _event_matrices(cfg)
        n_h, n, s = self.n_h, self.n, self.s
        cap_in = _caps(cfg)[0]
        _check_exact("weights_in", w_in.reshape(len(w_in), -1), cap_in,
                     np.full(s * n, cfg.weight_shift_in))
        col_shift = np.tile(np.r_[np.full(n_h, cfg.weight_shift_rec), np.full(self.n_o, cfg.weight_shift_out)], s)
        _check_exact("weights_rec/weights_out", w_rec.reshape(n, -1), self.cap_hid, col_shift)
        flat_in, flat_rec = w_in.reshape(len(w_in), -1), w_rec.reshape(n, -1)

        def pos_neg(w: np.ndarray) -> np.ndarray:  # (rows, S*N) -> (rows, 2*S*N): [positive | negative part]
            return np.concatenate([np.maximum(w, 0), np.minimum(w, 0)], axis=1)

        # tier 1, hidden targets: pos_j <= (number of events) * (largest positive weight into j), likewise
        # neg_j; readout targets (few, dense, large weights) get their exact pos and neg, a small product
        readout = np.zeros((s, n), bool)
        readout[0, n_h:] = True
        hidden_cols = np.tile(~readout.ravel(), 2)

        def largest(w: np.ndarray) -> str:  # (1, 2*S*N): per column, the largest and the most negative weight
            both = np.r_[np.maximum(w, 0).max(axis=0, initial=0), np.minimum(w, 0).min(axis=0, initial=0)]
            return g.const((both * hidden_cols)[None], hint="wmax")

        counts_in = g.op("ReduceSum", x_t, g.const([1], np.int64), keepdims=1)
        counts_rec = g.op("ReduceSum", spk, g.const([1], np.int64), keepdims=1)
        bound = g.op("Add", g.op("Mul", counts_in, largest(flat_in)), g.op("Mul", counts_rec, largest(flat_rec)))
        excess = self._excess(g, g.op("Reshape", bound, g.const([-1, 2, s, n], np.int64)),
                              g.op("Unsqueeze", isyn, g.const([1], np.int64)))
        out_pn = g.op("MatMul", spk, g.const(pos_neg(flat_rec[:, readout.ravel()]), hint="w_pn_out"))
        x_out = g.op("Slice", isyn, g.const([0, n_h], np.int64), g.const([1, n], np.int64),
                     g.const([1, 2], np.int64))  # (B, 1, N_out): readout synapses
        excess_out = self._excess(g, g.op("Reshape", out_pn, g.const([-1, 2, self.n_o], np.int64)), x_out, 3)
        tier1 = g.op("LessOrEqual", g.op("Max", excess, excess_out), g.const(0.0))
        cheap = g.subgraph("sum_")
        summed = cheap.op("Add", cheap.op("MatMul", x_t, g.const(flat_in, hint="w_in")),
                          cheap.op("MatMul", spk, g.const(flat_rec, hint="w_rec")))
        summed = cheap.op("Add", isyn, cheap.op("Reshape", summed, g.const([-1, s, n], np.int64)))

        # tier 2: the exact sums of the positive and of the negative contributions
        precise = g.subgraph("bound_")
        pn = precise.op("Add", precise.op("MatMul", x_t, g.const(pos_neg(flat_in), hint="w_pn")),
                        precise.op("MatMul", spk, g.const(pos_neg(flat_rec), hint="w_pn")))
        fast = precise.subgraph("fast_")
        pn4 = precise.op("Reshape", pn, g.const([-1, 2, s, n], np.int64))
        fast_out = fast.op("Add", isyn, fast.op("ReduceSum", pn4, g.const([1], np.int64), keepdims=0))
        exact = precise.subgraph("exact_")
        exact_out = self._ordered_delivery(exact, isyn, x_t, spk, pn, np.concatenate([w_in, w_rec]))
        tier2 = precise.op("LessOrEqual", self._excess(precise, pn4, precise.op(
            "Unsqueeze", isyn, g.const([1], np.int64))), g.const(0.0))
        precise_out = precise.op("If", tier2,
                                 then_branch=fast.build("fast", [], [fast_out]),
                                 else_branch=exact.build("exact", [], [exact_out]))
        return g.op("If", tier1, then_branch=cheap.build("sum", [], [summed]),
                    else_branch=precise.build("bound", [], [precise_out]))

    def sum_then_saturate(self, isyn: str, x_t: str, spk: str) -> str:
        """``sat16(x + m @ W)``: NOT the chip once a partial sum saturates (kept to show the difference)."""
        g = self.g
        w_in, w_rec = _event_matrices(self.cfg)
        total = g.op("Add", g.op("MatMul", x_t, g.const(w_in.reshape(len(w_in), -1))),
                     g.op("MatMul", spk, g.const(w_rec.reshape(self.n, -1))))
        return self.sat(g.op("Add", isyn, g.op("Reshape", total, g.const([-1, self.s, self.n], np.int64))))

    def _excess(self, g: Graph, pn: str, x: str, rank: int = 4, axes: list[int] | None = None) -> str:
        """``max(x + pos - 32767, -32768 - (x + neg))`` over everything (or over ``axes``): ``<= 0`` iff no
        partial sum can leave int16. ``pn`` is ``(B, 2, ...)`` holding (upper bounds of) pos and neg, ``x``
        the states broadcast as ``(B, 1, ...)``. Float rounding is monotone and exact below 2**24, so the
        comparison is decided correctly even where a bound is huge."""
        shape = (1, 2) + (1,) * (rank - 2)
        excess = g.op("Sub", g.op("Mul", g.op("Add", pn, x), g.const(np.array([1.0, -1.0]).reshape(shape))),
                      g.const(np.array([INT16_MAX, -INT16_MIN], np.float64).reshape(shape)))
        return g.op("ReduceMax", excess, keepdims=0, **({} if axes is None else {"axes": axes}))

    def _ordered_delivery(self, g: Graph, isyn: str, x_t: str, spk: str, pn: str, w_all: np.ndarray) -> str:
        """xylosim's order (sources: input channels, then hidden pres, ascending; each add saturating),
        on the target columns that may saturate; every other column is ``x + pos + neg``.

        Source ``s`` acts on a target as ``f_s(x) = clip(x + m_s w_s, lo, hi)`` (``m_s`` equal adds saturate
        like one). Clamps compose into clamps: ``f(x) = min(max(x + C, L), H)`` with ``L <= H``, and
        "``(C1, L1, H1)`` then ``(C2, L2, H2)``" is ``(C1 + C2, clip(L1 + C2, L2, H2), clip(H1 + C2, L2, H2))``.
        Combining neighbours pairwise keeps the order, so ``ceil(log2 K)`` vectorised levels give the
        ordered result exactly (every value an integer below 2**24: :func:`_check_exact`).
        """
        n_cols = self.s * self.n
        x = g.op("Reshape", isyn, g.const([-1, n_cols], np.int64))  # (B, S*N)
        pn3 = g.op("Reshape", pn, g.const([-1, 2, n_cols], np.int64))  # (B, 2, S*N): pos, neg
        summed = g.op("Add", x, g.op("ReduceSum", pn3, g.const([1], np.int64), keepdims=0))
        excess = self._excess(g, pn3, g.op("Unsqueeze", x, g.const([1], np.int64)), rank=3, axes=[0, 1])  # (S*N,)
        risky = g.op("Greater", excess, g.const(0.0))
        cols = g.op("Reshape", g.op("NonZero", risky), g.const([-1], np.int64))  # (k,)
        m_all = g.op("Concat", x_t, spk, axis=1)  # (B, K)
        w = g.op("Gather", g.const(w_all.reshape(len(w_all), -1).astype(np.float32), hint="w_events"), cols, axis=1)
        c = g.op("Mul", g.op("Unsqueeze", m_all, g.const([2], np.int64)), g.op("Unsqueeze", w, g.const([0], np.int64)))
        lo = g.op("Expand", self.lo, g.op("Shape", c))
        hi = g.op("Expand", self.hi, g.op("Shape", c))
        parts, k = [c, lo, hi], len(w_all)  # (B, K, k) each: the composed maps of runs of sources
        axis1 = g.const([1], np.int64)

        def take(t: str, start: int, stop: int, step: int = 1) -> str:
            return g.op("Slice", t, g.const([start], np.int64), g.const([stop], np.int64), axis1,
                        g.const([step], np.int64))

        while k > 1:
            even = k - k % 2
            (c1, l1, h1), (c2, l2, h2) = ([take(t, first, even, 2) for t in parts] for first in (0, 1))
            merged = [g.op("Add", c1, c2)] + [g.op("Min", g.op("Max", g.op("Add", b, c2), l2), h2) for b in (l1, h1)]
            parts = merged if k == even else [g.op("Concat", m, take(t, even, k), axis=1)
                                              for m, t in zip(merged, parts, strict=True)]
            k = (k + 1) // 2
        c_all, l_all, h_all = (g.op("Squeeze", t, axis1) for t in parts)  # (B, k)
        exact = g.op("Min", g.op("Max", g.op("Add", g.op("Gather", x, cols, axis=1), c_all), l_all), h_all)
        index = g.op("Expand", g.op("Unsqueeze", cols, g.const([0], np.int64)), g.op("Shape", exact))
        out = g.op("ScatterElements", summed, index, exact, axis=1)
        return g.op("Reshape", out, g.const([-1, self.s, self.n], np.int64))

    # -- neurons ----------------------------------------------------------------------------------
    def integrate(self, isyn: str, v: str) -> tuple[str, str]:
        """Decay the synapses, integrate into the membranes: (isyn after decay, v before spiking)."""
        g, cfg = self.g, self.cfg
        dash_syn = np.zeros((self.s, self.n), np.int64)
        dash_syn[:, : self.n_h] = cfg.dash_syns.T
        dash_syn[0, self.n_h:] = cfg.dash_syn_out
        isyn = g.op("Sub", isyn, self.decay(isyn, dash_syn))
        total = g.op("ReduceSum", isyn, g.const([1], np.int64), keepdims=0)  # long sum, no saturation
        dash_mem = np.r_[cfg.dash_mem, cfg.dash_mem_out]
        neg_decay = g.op("Neg", self.decay(v, dash_mem))
        if np.any(dash_mem == 0):  # int16(-decay(v)) wraps when v = -32768 and dash_mem = 0
            neg_decay = self.wrap(neg_decay)
        dv = self.sat(g.op("Add", neg_decay, total))
        if cfg.has_bias:
            dv = self.sat(g.op("Add", dv, g.const(np.r_[cfg.bias, cfg.bias_out])))
        return isyn, self.sat(g.op("Add", v, dv))

    def spike(self, v: str, capleft: str) -> tuple[str, str]:
        """(spikes emitted, v after the subtractive resets) with at most ``capleft`` spikes."""
        g, cfg = self.g, self.cfg
        th = np.r_[cfg.threshold, cfg.threshold_out].astype(np.float64)
        q = g.op("Floor", g.op("Div", v, g.const(np.where(th > 0, th, 1.0))))
        own = g.op("Min", g.op("Max", q, g.const(0.0)), capleft)
        v_out = g.op("Sub", v, g.op("Mul", own, g.const(th)))
        zero_or_less = np.flatnonzero(th <= 0)
        if len(zero_or_less) == 0:
            return own, v_out
        # th <= 0: spikes = first k with wrap16(v + k |th|) < th (k = 0..31; the last candidate fails)
        z = g.const(zero_or_less, np.int64)
        th_z = th[zero_or_less]
        v_z = g.op("Gather", v, z, axis=1)
        k = np.arange(32, dtype=np.float64)
        cand = self.wrap(g.op("Add", g.op("Unsqueeze", v_z, g.const([2], np.int64)),
                              g.const(np.outer(-th_z, k))))
        fires = g.op("And", g.op("GreaterOrEqual", cand, g.const(th_z[:, None])), g.const(k < 31, bool))
        first_fail = g.op("ArgMin", g.op("Cast", fires, to=g.onnx.TensorProto.FLOAT), axis=2, keepdims=0,
                          select_last_index=0)
        own_z = g.op("Min", g.op("Cast", first_fail, to=g.onnx.TensorProto.FLOAT),
                     g.op("Gather", capleft, z, axis=-1))
        v_z = self.wrap(g.op("Add", v_z, g.op("Mul", own_z, g.const(-th_z))))
        batch = g.op("Slice", g.op("Shape", v), g.const([0], np.int64), g.const([1], np.int64))
        idx = g.op("Expand", g.const(zero_or_less[None, :], np.int64),
                   g.op("Concat", batch, g.const([len(zero_or_less)], np.int64), axis=0))
        own = g.op("ScatterElements", own, idx, own_z, axis=1)
        v_out = g.op("ScatterElements", v_out, idx, v_z, axis=1)
        return own, v_out

    def spikes_with_aliases(self, v: str) -> tuple[str, str]:
        """(spike counts after aliasing, v after resets); xylosim's id-order alias semantics."""
        g = self.g
        cap = g.const(self.cap, hint="cap")
        own, v_out = self.spike(v, cap)
        fwd, every, depth = _alias_matrices(self.cfg, self.n)
        if not every.any():
            return own, v_out
        cnt = own
        fwd_c = g.const(fwd, hint="alias_fwd") if depth else ""
        for _ in range(depth):  # pass d settles every neuron at the end of a chain of d forward aliases
            n0 = g.op("Min", g.op("MatMul", cnt, fwd_c), g.const(float(self.cap_hid)))
            own, v_out = self.spike(v, g.op("Sub", cap, n0))
            cnt = g.op("Add", n0, own)
        # S[j] = min(own_j + sum of the counts of every neuron aliasing to j, 31)
        total = g.op("Add", own, g.op("MatMul", cnt, g.const(every, hint="alias_all")))
        return g.op("Min", total, g.const(float(self.cap_hid))), v_out

    def build(self):
        g = self.g
        v, isyn, spk, x_t = (g.name(h) for h in ("v", "isyn", "spk", "x_t"))
        isyn_new = self.deliver(isyn, x_t, spk) if self.ordered else self.sum_then_saturate(isyn, x_t, spk)
        isyn_new, v_int = self.integrate(isyn_new, v)
        spk_new, v_new = self.spikes_with_aliases(v_int)
        outs = [v_new, isyn_new, spk_new, g.op("Identity", spk_new)]
        if self.record_all:
            outs += [g.op("Identity", v_new), g.op("Identity", isyn_new)]
        shapes = [["batch", self.n], ["batch", self.s, self.n], ["batch", self.n], ["batch", self.cfg.n_inputs]]
        out_shapes = shapes[:3] + [shapes[2]] + ([shapes[0], shapes[1]] if self.record_all else [])
        def infos(names, shapes_):
            return [tensor_info(nm, np.float32, sh) for nm, sh in zip(names, shapes_, strict=True)]

        return g.build("chip_step", infos((v, isyn, spk, x_t), shapes), infos(outs, out_shapes))


def build_chip_model(config: ChipConfig, record: str = "all", clip_inputs: bool = False, ordered: bool = True):
    """The ONNX ``ModelProto`` of ``config`` (checked with ``onnx.checker``, full check).

    ``ordered=False`` replaces the exact event delivery by sum-then-saturate, which is not the chip once
    a partial sum saturates (the tests use it to show that their configurations reach that case).
    """
    onnx = require_onnx()
    if record not in ("all", "spikes"):
        raise FormatError(f"record must be 'all' or 'spikes', got {record!r}")
    from hw_models.rules import raise_if_invalid

    raise_if_invalid(config)
    g = Graph()
    n_h, n_o, n_syn = config.n_hidden, config.n_outputs, config.n_synapses
    n = n_h + n_o
    raster = "raster"
    # counts outside 0..15 (0..255 with clip_inputs, clipped to 15) stop the run with this node's name
    limit = 255 if clip_inputs else 15
    bad = g.op("Or", g.op("Less", g.op("ReduceMin", raster, keepdims=0), g.const(0, np.int64)),
               g.op("Greater", g.op("ReduceMax", raster, keepdims=0), g.const(limit, np.int64)))
    shape = g.op("Shape", raster)
    checked = g.op("Reshape", raster, g.op("Add", shape, g.op("Cast", bad, to=onnx.TensorProto.INT64)))
    g.nodes[-1].name = (f"raster_counts_must_be_0_to_{limit}" +
                        ("" if clip_inputs else "_export_with_clip_inputs_to_let_the_chip_clip"))
    counts = g.op("Min", g.op("Cast", checked, to=onnx.TensorProto.FLOAT), g.const(float(_caps(config)[0])))
    steps_first = g.op("Transpose", counts, perm=[1, 0, 2])  # (T, B, N_in)

    batch = g.op("Slice", shape, g.const([0], np.int64), g.const([1], np.int64))
    zeros_n = g.op("ConstantOfShape", g.op("Concat", batch, g.const([n], np.int64), axis=0),
                   value=onnx.numpy_helper.from_array(np.zeros(1, np.float32)))
    zeros_sn = g.op("ConstantOfShape", g.op("Concat", batch, g.const([n_syn, n], np.int64), axis=0),
                    value=onnx.numpy_helper.from_array(np.zeros(1, np.float32)))
    record_all = record == "all"
    body = _Step(g.subgraph("step_"), config, record_all, ordered).build()
    n_scan_out = 3 if record_all else 1
    outs = g.op_n("Scan", [zeros_n, zeros_sn, zeros_n, steps_first], 3 + n_scan_out, body=body,
                  num_scan_inputs=1)
    spikes, vmem, isyn = outs[3], (outs[4] if record_all else None), (outs[5] if record_all else None)

    def out(seq: str, lo: int, hi: int, dtype, key: str, syn: int | None = None) -> None:
        if syn is not None:
            seq = g.op("Gather", seq, g.const(syn, np.int64), axis=2)
        part = g.op("Slice", seq, g.const([lo], np.int64), g.const([hi], np.int64), g.const([2], np.int64))
        g.nodes.append(onnx.helper.make_node("Cast", [g.op("Transpose", part, perm=[1, 0, 2])], [key],
                                             to=onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                                             name=g.name("Cast")))
        outputs.append(tensor_info(key, dtype, ["batch", "steps", hi - lo]))

    outputs: list = []
    out(spikes, 0, n_h, np.uint8, "Spikes")
    if record_all:
        out(vmem, 0, n_h, np.int16, "Vmem")
        out(isyn, 0, n_h, np.int16, "Isyn", syn=0)
        if n_syn == 2:
            out(isyn, 0, n_h, np.int16, "Isyn2", syn=1)
    out(spikes, n_h, n, np.uint8, "Spikes_out")
    if record_all:
        out(vmem, n_h, n, np.int16, "Vmem_out")
        out(isyn, n_h, n, np.int16, "Isyn_out", syn=0)
    graph = g.build("spikeline_chip", [tensor_info(raster, np.int64, ["batch", "steps", config.n_inputs])],
                    outputs, initializers=True)
    meta = {"format": FORMAT, "chip": config.chip, "dt": repr(config.dt), "config_sha256": config_sha256(config),
            "record": record, "clip_inputs": str(bool(clip_inputs)).lower(),
            "n_inputs": config.n_inputs, "n_hidden": n_h, "n_outputs": n_o, "n_synapses": n_syn}
    return finish_model(graph, meta, "Xylo core v2 chip model exported by Spikeline (see docs/onnx.md)")


def export_chip(config: ChipConfig, out: Path, record: str = "all", clip_inputs: bool = False) -> Path:
    """Write ``config`` as an ONNX chip model (atomically)."""
    return save_model(build_chip_model(config, record=record, clip_inputs=clip_inputs), Path(out))
