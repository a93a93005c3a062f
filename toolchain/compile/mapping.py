"""Where each layer of a float network lives on the chip.

* hidden layer 1 (the only one that receives input) takes the lowest hidden ids, inside the chip's input
  window;
* later hidden layers follow in order; every hop between them goes through the recurrent matrix and costs
  one step, as does the hop from the last hidden layer to the readout;
* the last hidden layer takes the highest ids, inside the output window; the output layer becomes the
  readout neurons;
* when a hidden neuron has more recurrent targets than the chip's fan-out allows, its spikes are copied
  to *relay* neurons through aliases (a chain ``n -> r1 -> r2``, one alias target each, ids ascending so
  the copies propagate within the step). Each relay carries up to ``max_fanout`` of the targets, has no
  inputs and a threshold it never reaches, and delivers the copies in the same step as the original.
  Relays of a layer sit right after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw_models.chips import ChipSpec

#: Threshold of a relay neuron: its own membrane stays 0, so it never fires on its own.
RELAY_THRESHOLD = 32767


@dataclass
class HiddenBlock:
    """Hidden layer ``layer`` (network layer index, 1-based) at ids ``start .. start + size - 1``."""

    layer: int
    start: int
    size: int
    relays: dict[int, list[int]] = field(default_factory=dict)  # local neuron -> relay id chain

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.start, self.start + self.size)

    @property
    def n_relays(self) -> int:
        return sum(len(chain) for chain in self.relays.values())


@dataclass
class Layout:
    blocks: list[HiddenBlock]
    n_hidden: int
    n_outputs: int

    def block(self, layer: int) -> HiddenBlock:
        return self.blocks[layer - 1]

    def to_dict(self) -> dict:
        return {"n_hidden": self.n_hidden, "n_outputs": self.n_outputs,
                "layers": [{"layer": b.layer, "first_id": b.start, "size": b.size, "relays": b.n_relays}
                           for b in self.blocks]}


def plan(layer_sizes: list[int], targets: list[list[np.ndarray]], spec: ChipSpec) -> Layout:
    """Assign hidden ids.

    ``targets[k][i]``: how many recurrent-matrix targets hidden neuron ``i`` of hidden layer ``k + 1`` has
    (next hidden layer plus its own layer when recurrent), as a count array per layer.
    """
    hidden_sizes = layer_sizes[1:-1]
    blocks, start = [], 0
    for k, size in enumerate(hidden_sizes):
        block = HiddenBlock(layer=k + 1, start=start, size=size)
        start += size
        for i, n_targets in enumerate(targets[k]):
            extra = max(0, -(-int(n_targets) // spec.max_fanout) - 1)  # ceil(n / F) - 1 relays
            if extra:
                block.relays[i] = list(range(start, start + extra))
                start += extra
        blocks.append(block)
    return Layout(blocks=blocks, n_hidden=start, n_outputs=layer_sizes[-1])
