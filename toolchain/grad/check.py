"""Agreement of the gradient engines on one network and batch (the logic behind ``spikeline gradcheck``).

Two numbers per comparison, both max-norm relative errors ``max|g - ref| / max|ref|``:

- exact engines against each other (FP reverse mode is the reference): round-off only, expect < 1e-8;
- each exact engine against central finite differences, over the entries whose perturbation left the
  spike-causality graph unchanged: expect < 1e-5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from toolchain.grad.api import loss_and_grad
from toolchain.grad.params import flatten
from toolchain.losses import Loss
from toolchain.network import Network

EXACT_TOL = 1e-8
FD_TOL = 1e-5


@dataclass
class Agreement:
    loss: float
    n_params: int
    fd_valid_fraction: float
    spikes_per_layer: list[float]
    gradient_scale: float
    errors: dict[str, float]

    @property
    def ok(self) -> bool:
        return all(err < (EXACT_TOL if "vs-fp" in key else FD_TOL) for key, err in self.errors.items())

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def relative_error(g: np.ndarray, ref: np.ndarray) -> float:
    scale = float(np.max(np.abs(ref), initial=0.0))
    diff = float(np.max(np.abs(g - ref), initial=0.0))
    return diff / scale if scale > 0 else diff


def compare_engines(net: Network, inputs, labels, loss: Loss, t_end: float, fd_step: float = 1e-6) -> Agreement:
    grads = {}
    value = 0.0
    stats = None
    for engine in ("fp", "fp-forward", "eventprop", "finite-diff"):
        value, g, st = loss_and_grad(net, inputs, labels, loss, t_end, engine=engine, fd_step=fd_step)
        grads[engine] = flatten(net, g)
        if engine == "finite-diff":
            stats = st
    mask = flatten(net, stats.fd_valid).astype(bool)
    ref = grads["fp"]
    errors = {"fp-forward-vs-fp": relative_error(grads["fp-forward"], ref),
              "eventprop-vs-fp": relative_error(grads["eventprop"], ref),
              "fp-vs-finite-diff": relative_error(ref[mask], grads["finite-diff"][mask]),
              "eventprop-vs-finite-diff": relative_error(grads["eventprop"][mask], grads["finite-diff"][mask])}
    return Agreement(loss=value, n_params=ref.size, fd_valid_fraction=float(mask.mean()),
                     spikes_per_layer=[float(c.sum(1).mean()) for c in stats.spike_counts],
                     gradient_scale=float(np.max(np.abs(ref), initial=0.0)), errors=errors)


def random_problem(seed: int, sizes: list[int], readout: str = "spiking", recurrent: bool = False,
                   tau_syn: float = 5e-3, tau_ratio: float | None = None, delay: float = 0.0, batch: int = 2,
                   t_input: float = 0.04):
    """A random network (a few spikes per neuron) and a random batch of input spike trains."""
    rng = np.random.default_rng(seed)
    ratio = float(rng.uniform(0.5, 3.0)) if tau_ratio is None else tau_ratio
    n_hops = len(sizes) - 1
    net = Network.random(sizes, seed=seed, tau_syn=tau_syn, tau_mem=ratio * tau_syn,
                         weight_mean=[1.2 / np.sqrt(sizes[0])] + [0.6 / np.sqrt(n) for n in sizes[1:-1]],
                         weight_std=[1.0 / np.sqrt(n) for n in sizes[:-1]],
                         recurrent_std=0.25 if recurrent else None, readout=readout,
                         delays=[0.0] + [delay] * (n_hops - 1), recurrent_delays=delay)
    inputs = []
    for _ in range(batch):
        n = int(rng.integers(2 * sizes[0], 5 * sizes[0]))
        inputs.append((rng.uniform(0.0, t_input, n), rng.integers(0, sizes[0], n)))
    labels = [int(y) for y in rng.integers(0, sizes[-1], batch)]
    return net, inputs, labels


def random_inputs(net: Network, seed: int, batch: int = 2, t_input: float = 0.04):
    rng = np.random.default_rng(seed)
    n_in = net.layer_sizes[0]
    inputs = []
    for _ in range(batch):
        n = int(rng.integers(2 * n_in, 5 * n_in))
        inputs.append((rng.uniform(0.0, t_input, n), rng.integers(0, n_in, n)))
    return inputs, [int(y) for y in rng.integers(0, net.layer_sizes[-1], batch)]
