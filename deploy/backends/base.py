"""The interface every backend offers: apply a configuration, reset, evolve a raster, read state."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from hw_models.config import ChipConfig
from hw_models.errors import BackendUnavailable
from hw_models.simulator import Record, RecordMode


class Backend(ABC):
    """A place a :class:`ChipConfig` can run: our simulator, SynSense's xylosim, or a dev kit."""

    name: str = "?"

    @abstractmethod
    def apply(self, config: ChipConfig) -> None:
        """Load a (validated) configuration; resets the state."""

    @abstractmethod
    def reset(self) -> None:
        """Zero every membrane, synaptic state and pending spike."""

    @abstractmethod
    def evolve(self, raster, record: RecordMode = "all", clip_inputs: bool = False) -> Record:
        """Run a raster ``(T, N_in)`` or a batch ``(B, T, N_in)``; each sample starts from reset."""

    def read_state(self) -> dict[str, np.ndarray]:
        """The live neuron state (``Vmem``, ``Isyn``, ``Isyn2``, ``Vmem_out``, ``Isyn_out``, one value per
        neuron) as the backend holds it now.

        Simulators return every state in the record of :meth:`evolve`, so they need not override this;
        a device backend reads its state memories here.
        """
        raise BackendUnavailable(f"the {self.name} backend does not expose live state; use the record "
                                 "returned by evolve(..., record='all')")
