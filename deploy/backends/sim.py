"""``sim``: Spikeline's own bit-accurate simulator (:func:`hw_models.simulator.simulate`)."""

from __future__ import annotations

import numpy as np

from deploy.backends.base import Backend
from hw_models.config import ChipConfig
from hw_models.errors import SpikelineError
from hw_models.rules import raise_if_invalid
from hw_models.simulator import STATE_KEYS, Record, RecordMode, simulate


class SimBackend(Backend):
    name = "sim"

    def __init__(self, engine: str = "kernel"):
        self.engine = engine
        self.config: ChipConfig | None = None
        self._state: dict[str, np.ndarray] | None = None

    def apply(self, config: ChipConfig) -> None:
        raise_if_invalid(config)
        self.config = config

    def reset(self) -> None:
        """Every evolve starts from reset; this forgets the state kept for :meth:`read_state`."""
        self._state = None

    def evolve(self, raster, record: RecordMode = "all", clip_inputs: bool = False) -> Record:
        if self.config is None:
            raise SpikelineError("sim backend: apply a configuration before evolve")
        rec = simulate(self.config, raster, record=record, clip_inputs=clip_inputs,
                       engine=self.engine, validate=False)
        last = (lambda a: a[-1]) if np.asarray(raster).ndim == 2 else (lambda a: a[-1, -1])
        self._state = {k: last(rec[k]).copy() for k in STATE_KEYS} if record == "all" else None
        return rec

    def read_state(self) -> dict[str, np.ndarray]:
        """State after the last step of the last sample evolved (needs ``record="all"``)."""
        if self._state is None:
            raise SpikelineError("sim backend: no state to read; evolve with record='all' first")
        return dict(self._state)
