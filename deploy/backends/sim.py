"""``sim``: Spikeline's own bit-accurate simulator (:func:`hw_models.simulator.simulate`)."""

from __future__ import annotations

from deploy.backends.base import Backend
from hw_models.config import ChipConfig
from hw_models.errors import SpikelineError
from hw_models.rules import raise_if_invalid
from hw_models.simulator import Record, RecordMode, simulate


class SimBackend(Backend):
    name = "sim"

    def __init__(self, engine: str = "kernel"):
        self.engine = engine
        self.config: ChipConfig | None = None

    def apply(self, config: ChipConfig) -> None:
        raise_if_invalid(config)
        self.config = config

    def reset(self) -> None:
        """Stateless between calls: every evolve starts from reset."""

    def evolve(self, raster, record: RecordMode = "all", clip_inputs: bool = False) -> Record:
        if self.config is None:
            raise SpikelineError("sim backend: apply a configuration before evolve")
        return simulate(self.config, raster, record=record, clip_inputs=clip_inputs,
                        engine=self.engine, validate=False)
