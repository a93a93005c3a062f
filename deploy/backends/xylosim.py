"""``xylosim``: SynSense's compiled Xylo v2 engine (the engine behind rockpool's ``XyloSim``).

It is imported lazily; without it :class:`BackendUnavailable` says how to install it. The layer is
built exactly as rockpool's ``XyloSim.from_specification`` does: one synapse object per non-zero
weight, synapse 1 then synapse 2 per target, posts ascending.
"""

from __future__ import annotations

import numpy as np

from deploy.backends.base import Backend
from hw_models.config import ChipConfig
from hw_models.errors import BackendUnavailable, SpikelineError
from hw_models.rules import raise_if_invalid
from hw_models.simulator import RECORD_KEYS, SPIKE_KEYS, Record, RecordMode, validate_raster

INSTALL_HINT = ("install SynSense's simulator with `pip install xylosim==0.1.3` (it builds from "
                "source and needs a C++ compiler), or `pip install 'spikeline[xylosim]'`")


def import_xylosim_v2():
    try:
        from xylosim import v2
    except ImportError as exc:
        raise BackendUnavailable(f"the xylosim backend needs the `xylosim` package: {INSTALL_HINT} "
                                 f"({exc})") from None
    return v2


class XylosimBackend(Backend):
    name = "xylosim"

    def __init__(self):
        self._v2 = import_xylosim_v2()
        self.config: ChipConfig | None = None
        self.layer = None
        self._keep_alive: list = []  # the C++ layer holds raw pointers to these synapse objects

    def apply(self, config: ChipConfig, validate: bool = True) -> None:
        if validate:
            raise_if_invalid(config)
        v2 = self._v2
        syn = v2.XyloSynapse

        def synapses(weights: np.ndarray) -> list[list]:
            w = weights if weights.ndim == 3 else weights[:, :, None]
            return [[syn(int(post), int(k), int(w[pre, post, k]))
                     for k in range(w.shape[2]) for post in np.flatnonzero(w[pre, :, k])]
                    for pre in range(w.shape[0])]

        s_in, s_rec, s_out = (synapses(config.weights_in), synapses(config.weights_rec),
                              synapses(config.weights_out))
        self._keep_alive = [s_in, s_rec, s_out]
        n_h, n_o = config.n_hidden, config.n_outputs
        self.layer = v2.XyloLayer(
            synapses_in=s_in, synapses_rec=s_rec, synapses_out=s_out,
            aliases=[list(a) for a in config.aliases] or [[] for _ in range(n_h)],
            threshold=config.threshold.tolist(), threshold_out=config.threshold_out.tolist(),
            has_bias=config.has_bias, bias=config.bias.tolist(), bias_out=config.bias_out.tolist(),
            weight_shift_inp=config.weight_shift_in, weight_shift_rec=config.weight_shift_rec,
            weight_shift_out=config.weight_shift_out, dash_mem=config.dash_mem.tolist(),
            dash_mem_out=config.dash_mem_out.tolist(), dash_syns=config.dash_syns.tolist(),
            dash_syns_out=[[int(d)] for d in config.dash_syn_out], name="spikeline")
        self.config = config
        assert len(self.layer.iaf_neurons) == n_h and len(self.layer.iaf_neurons_out) == n_o

    def reset(self) -> None:
        if self.layer is not None:
            self.layer.reset_all()

    def read_state(self) -> dict[str, np.ndarray]:
        """The layer's state after the last step evolved: the last entry of xylosim's own recordings (its
        Python binding exposes no neuron state directly)."""
        layer = self.layer
        if layer is None or not layer.rec_recurrent_spikes:
            raise SpikelineError("xylosim backend: apply a configuration and evolve a raster first")

        def last(rec, n):
            return np.array([r[-1] if len(r) else 0 for r in rec], np.int16) if len(rec) else np.zeros(n, np.int16)

        n_h, n_o = self.config.n_hidden, self.config.n_outputs
        return {"Vmem": last(layer.rec_v_mem, n_h), "Isyn": last(layer.rec_i_syn, n_h),
                "Isyn2": last(layer.rec_i_syn2, n_h), "Vmem_out": last(layer.rec_v_mem_out, n_o),
                "Isyn_out": last(layer.rec_i_syn_out, n_o)}

    def _evolve_one(self, sample: np.ndarray) -> dict[str, np.ndarray]:
        layer = self.layer
        layer.reset_all()
        layer.evolve(sample.astype(np.uint8).tolist())
        n_t = sample.shape[0]

        def states(rec, n):
            a = np.array(rec, dtype=np.int16)
            return a.T if a.size else np.zeros((n_t, n), np.int16)

        cfg = self.config
        out = {
            "Spikes": np.array(layer.rec_recurrent_spikes, np.uint8).reshape(n_t, cfg.n_hidden),
            "Spikes_out": np.array(layer.rec_out_spikes, np.uint8).reshape(n_t, cfg.n_outputs),
            "Vmem": states(layer.rec_v_mem, cfg.n_hidden),
            "Isyn": states(layer.rec_i_syn, cfg.n_hidden),
            "Isyn2": states(layer.rec_i_syn2, cfg.n_hidden),
            "Vmem_out": states(layer.rec_v_mem_out, cfg.n_outputs),
            "Isyn_out": states(layer.rec_i_syn_out, cfg.n_outputs),
        }
        return out

    def evolve(self, raster, record: RecordMode = "all", clip_inputs: bool = False) -> Record:
        if self.config is None:
            raise SpikelineError("xylosim backend: apply a configuration before evolve")
        batch = validate_raster(raster, self.config.n_inputs, clip_inputs)
        samples = [self._evolve_one(s) for s in batch]
        keys = RECORD_KEYS if record == "all" else SPIKE_KEYS
        data = {k: np.stack([s[k] for s in samples]) for k in keys}
        if np.asarray(raster).ndim == 2:
            data = {k: v[0] for k, v in data.items()}
        return Record(data)
