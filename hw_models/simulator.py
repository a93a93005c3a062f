"""Bit-accurate simulator of the Xylo core v2 (Xylo Audio 2, Xylo IMU, Xylo Audio 3).

This module is the executable definition of the chip. :func:`simulate_reference` is written for
reading, one event and one neuron at a time, in exactly the order of SynSense's xylosim
(``XyloLayer::evolve``). :func:`simulate` runs the same thing through the compiled kernel in
:mod:`hw_models.kernel` (tested bit for bit against this reference and against xylosim).

One time step ``t``:

1. input events: channels ascending, each channel's count clipped to 15, each event added to the
   target's synaptic state with saturation (``i += int16(w << shift_in)``);
2. hidden spikes of step ``t-1`` into hidden synapses (``shift_rec``), pre-neurons ascending;
3. hidden spikes of step ``t-1`` into readout synapses (``shift_out``);
4. hidden neurons in id order: :func:`hw_models.arith.neuron_step` (cap 31 including alias copies),
   then each alias target ``j`` gets ``S[j] = min(S[j] + spikes, 31)``;
5. readout neurons: the same update with one synapse, cap 1, no aliases.

Recorded state is the end of each step: ``Vmem`` after the subtractive reset, ``Isyn``/``Isyn2``
after decay, ``Spikes`` after aliasing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from hw_models.arith import deliver, membrane_before_reset, neuron_step, shifted_weight
from hw_models.atomic import atomic_save_with
from hw_models.chips import get_chip
from hw_models.config import ChipConfig
from hw_models.errors import InputError, SpikelineError

STATE_KEYS = ("Vmem", "Isyn", "Isyn2", "Vmem_out", "Isyn_out")
SPIKE_KEYS = ("Spikes", "Spikes_out")
RECORD_KEYS = ("Spikes", "Vmem", "Isyn", "Isyn2", "Spikes_out", "Vmem_out", "Isyn_out")
SUMMARY_KEYS = ("Spikes_out", "Vmem_out", "Isyn_out", "Spikes_count", "Vmem_peak", "Isyn_peak", "Isyn2_peak",
                "Vmem_peak_before_reset")
RecordMode = Literal["all", "spikes", "summary"]

#: Largest per-step input count xylosim accepts (its raster type is uint8); the chip clips to 15.
RASTER_MAX = 255


@dataclass
class Record:
    """Simulation result: record key -> integer array, ``(T, N)`` or ``(B, T, N)``."""

    data: dict[str, np.ndarray]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.data[key]

    def keys(self):
        return self.data.keys()

    def save(self, path: str | os.PathLike) -> Path:
        """Write an ``.npz`` file atomically."""
        return atomic_save_with(path, lambda fh: np.savez_compressed(fh, **self.data))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Record:
        with np.load(path) as z:
            return cls({k: z[k] for k in z.files})

    def first_difference(self, other: Record) -> tuple[str, tuple[int, ...], int, int] | None:
        """``(key, index, ours, theirs)`` of the earliest differing entry, or ``None`` if identical."""
        best = None
        for key in self.data:
            if key not in other.data:
                continue
            a, b = self.data[key], other.data[key]
            if a.shape != b.shape:
                raise SpikelineError(f"record {key!r}: shapes differ {a.shape} vs {b.shape}")
            diff = np.argwhere(a != b)
            if len(diff):
                # order by time step (axis -2), then batch, then neuron
                order = np.lexsort((diff[:, -1], diff[:, 0], diff[:, -2]))
                idx = tuple(int(i) for i in diff[order[0]])
                if best is None or idx[-2] < best[1][-2]:
                    best = (key, idx, int(a[idx]), int(b[idx]))
        return best


def validate_raster(raster, n_inputs: int, clip_inputs: bool = False) -> np.ndarray:
    """Check an input raster and return it as ``(B, T, N_in)`` int64.

    Counts above 15 per channel and step are an error unless ``clip_inputs`` is set (the chip clips
    them to 15; saying so explicitly keeps data from being dropped silently).
    """
    arr = np.asarray(raster)
    if arr.dtype.kind == "b":
        raise InputError("raster is boolean; it must hold integer spike counts (convert with "
                         "raster.astype(numpy.int64) if True means one event)")
    if arr.dtype == object or arr.dtype.kind not in "iuf":
        raise InputError(f"raster must be a numeric array of spike counts, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InputError("raster holds NaN or inf; it must hold integer spike counts")
        if np.any(arr != np.round(arr)):
            bad = tuple(int(i) for i in np.argwhere(arr != np.round(arr))[0])
            raise InputError(f"raster must hold integer spike counts; found {arr[bad]} at index "
                             f"{list(bad)} (encode to counts per time step first)")
    if arr.ndim not in (2, 3):
        raise InputError(f"raster must have shape (T, N_in) or (B, T, N_in); got {arr.shape}")
    if arr.shape[-1] != n_inputs:
        raise InputError(f"raster has {arr.shape[-1]} channels, the configuration has {n_inputs} "
                         "input channels (last axis of the raster)")
    if arr.shape[-2] == 0 or (arr.ndim == 3 and arr.shape[0] == 0):
        raise InputError(f"raster has no time steps or no samples (shape {arr.shape})")
    arr = arr.reshape((-1,) + arr.shape[-2:])  # range checks before the cast: it could wrap huge counts
    if np.any(arr < 0):
        bad = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise InputError(f"raster holds a negative count {arr[bad]} at (sample, step, channel) "
                         f"{list(bad)}")
    limit = RASTER_MAX if clip_inputs else 15
    if np.any(arr > limit):
        bad = tuple(int(i) for i in np.argwhere(arr > limit)[0])
        extra = ("" if clip_inputs else
                 "; the chip accepts at most 15 events per channel per step (pass clip_inputs=True "
                 "/ --clip-inputs to let it clip, or spread the events over more steps)")
        raise InputError(f"raster count {arr[bad]} at (sample, step, channel) {list(bad)} is above "
                         f"{limit}{extra}")
    return arr.astype(np.int64)


def _caps(config: ChipConfig) -> tuple[int, int, int]:
    try:
        spec = get_chip(config.chip)
        return spec.max_input_spikes, spec.max_hidden_spikes, spec.max_output_spikes
    except SpikelineError:
        return 15, 31, 1


def simulate_reference(config: ChipConfig, raster, record: RecordMode = "all",
                       clip_inputs: bool = False) -> Record:
    """Readable event-by-event simulation (slow; the definition the kernel is tested against).

    ``record``: ``"all"`` (every record key), ``"spikes"`` or ``"summary"`` (:func:`_summary`; its
    ``Vmem_peak_before_reset`` is each step's hidden membrane before the reset, which no record key holds)."""
    batch = validate_raster(raster, config.n_inputs, clip_inputs)
    squeeze = np.asarray(raster).ndim == 2
    cap_in, cap_hid, cap_out = _caps(config)
    n_h, n_o, n_syn = config.n_hidden, config.n_outputs, config.n_synapses
    has_bias = config.has_bias
    dash_syns = config.dash_syns
    # the value one event adds, per synapse: int16(w << shift)
    w_in = [[[shifted_weight(int(w), config.weight_shift_in) for w in row] for row in c]
            for c in config.weights_in]
    w_rec = [[[shifted_weight(int(w), config.weight_shift_rec) for w in row] for row in p]
             for p in config.weights_rec]
    w_out = [[shifted_weight(int(w), config.weight_shift_out) for w in p] for p in config.weights_out]

    out: dict[str, list] = {k: [] for k in (*RECORD_KEYS, "before")}
    for sample in batch:
        T = sample.shape[0]
        rec = {k: np.zeros((T, n_h if k in ("Spikes", "Vmem", "Isyn", "Isyn2") else n_o), np.int64)
               for k in RECORD_KEYS}
        before = np.zeros((T, n_h), np.int64)  # hidden membranes before the step's reset (for "summary")
        v = [0] * n_h
        isyn = [[0, 0] for _ in range(n_h)]
        v_out = [0] * n_o
        isyn_out = [0] * n_o
        spikes = [0] * n_h  # hidden spikes of the previous step (after aliasing)
        for t in range(T):
            # (1) input events, channels ascending, count clipped to the chip's input cap
            for c in range(config.n_inputs):
                m = min(int(sample[t, c]), cap_in)
                if m:
                    for post in range(n_h):
                        for k in range(n_syn):
                            if config.weights_in[c, post, k]:
                                isyn[post][k] = deliver(isyn[post][k], w_in[c][post][k], m)
            # (2) + (3) previous step's hidden spikes into hidden and readout synapses
            for pre in range(n_h):
                m = min(spikes[pre], cap_hid)
                if m:
                    for post in range(n_h):
                        for k in range(n_syn):
                            if config.weights_rec[pre, post, k]:
                                isyn[post][k] = deliver(isyn[post][k], w_rec[pre][post][k], m)
            for pre in range(n_h):
                m = min(spikes[pre], cap_hid)
                if m:
                    for o in range(n_o):
                        if config.weights_out[pre, o]:
                            isyn_out[o] = deliver(isyn_out[o], w_out[pre][o], m)
            # (4) hidden neurons in id order; alias copies pre-load later neurons' counts
            spikes = [0] * n_h
            for n in range(n_h):
                d1 = int(dash_syns[n, 1]) if n_syn == 2 else 0
                n0 = spikes[n]
                v[n], isyn[n][0], isyn[n][1], cnt = neuron_step(
                    v[n], isyn[n][0], isyn[n][1], int(config.dash_mem[n]), int(dash_syns[n, 0]),
                    d1, has_bias, int(config.bias[n]), int(config.threshold[n]), n0,
                    cap_hid)
                spikes[n] = cnt
                before[t, n] = membrane_before_reset(v[n], cnt - n0, int(config.threshold[n]))
                for j in config.aliases[n] if config.aliases else ():
                    spikes[j] = min(spikes[j] + cnt, cap_hid)
                rec["Vmem"][t, n], rec["Isyn"][t, n], rec["Isyn2"][t, n] = v[n], *isyn[n]
            rec["Spikes"][t] = spikes
            # (5) readout neurons: one synapse, cap 1, no aliases
            for o in range(n_o):
                v_out[o], isyn_out[o], _, cnt = neuron_step(
                    v_out[o], isyn_out[o], 0, int(config.dash_mem_out[o]),
                    int(config.dash_syn_out[o]), 0, has_bias, int(config.bias_out[o]),
                    int(config.threshold_out[o]), 0, cap_out)
                rec["Spikes_out"][t, o] = cnt
                rec["Vmem_out"][t, o], rec["Isyn_out"][t, o] = v_out[o], isyn_out[o]
        for k in RECORD_KEYS:
            out[k].append(rec[k])
        out["before"].append(before)
    full = {k: _typed(k, np.stack(out[k])) for k in RECORD_KEYS}
    if record == "summary":
        data = _summary(full, np.stack(out["before"]))
    else:
        data = {k: full[k] for k in (RECORD_KEYS if record == "all" else SPIKE_KEYS)}
    return Record({k: a[0] for k, a in data.items()} if squeeze else data)


def _summary(full: dict[str, np.ndarray], vmem_before_reset: np.ndarray) -> dict[str, np.ndarray]:
    """The ``record="summary"`` view of a full ``(B, T, N)`` record: the readout records as they are and, per
    hidden neuron and sample, its spike count over the trial (``Spikes_count``), its largest recorded ``|state|``
    (``Vmem_peak``, ``Isyn_peak``, ``Isyn2_peak``; ``32768`` means the state touched ``-32768``) and its largest
    ``|membrane|`` before a step's reset (``Vmem_peak_before_reset``: a neuron that reached the rail and fired is
    recorded below it), each ``(B, N_hidden)``, int64. Enough for calibration and health checks, a fraction of the
    memory.
    """
    out = {k: full[k] for k in ("Spikes_out", "Vmem_out", "Isyn_out")}
    out["Spikes_count"] = full["Spikes"].sum(axis=-2, dtype=np.int64)
    for key in ("Vmem", "Isyn", "Isyn2"):
        out[key + "_peak"] = np.abs(full[key].astype(np.int64)).max(axis=-2)
    out["Vmem_peak_before_reset"] = np.abs(vmem_before_reset).max(axis=-2)
    return out


def _typed(key: str, a: np.ndarray) -> np.ndarray:
    return a.astype(np.uint8 if key in SPIKE_KEYS else np.int16)


def simulate(config: ChipConfig, raster, record: RecordMode = "all", clip_inputs: bool = False,
             engine: Literal["kernel", "reference"] = "kernel", validate: bool = True,
             threads: int | None = None) -> Record:
    """Bit-accurate simulation of ``config`` on a raster ``(T, N_in)`` or a batch ``(B, T, N_in)``.

    ``record="spikes"`` keeps only ``Spikes`` and ``Spikes_out`` (faster, less memory); ``record="summary"``
    keeps the readout records and per hidden neuron its spike count and peak ``|state|`` (:func:`_summary`).
    ``validate`` applies the chip's design rules first (a :class:`ConfigError` lists every problem).
    """
    if record not in ("all", "spikes", "summary"):
        raise InputError(f"record must be 'all', 'spikes' or 'summary', got {record!r}")
    if validate:
        from hw_models.rules import raise_if_invalid

        raise_if_invalid(config)
    if engine == "reference":
        return simulate_reference(config, raster, record, clip_inputs)
    if engine != "kernel":
        raise InputError(f"engine must be 'kernel' or 'reference', got {engine!r}")
    from hw_models.kernel import run_kernel

    batch = validate_raster(raster, config.n_inputs, clip_inputs)
    data = run_kernel(config, batch, record, caps=_caps(config), threads=threads)
    if np.asarray(raster).ndim == 2:
        data = {k: v[0] for k, v in data.items()}
    return Record(data)
