"""Output codes: more classes than the chip has readout neurons (e.g. 10 digits on Xylo Audio's 8).

With ``n_classes <= n_outputs`` every class has its own readout neuron (one-hot, the identity code).
Otherwise the readout is a fixed ``+-1`` code ``C`` of shape ``(n_classes, n_outputs)`` and the class
logits are ``C @ y``, where ``y`` is the readout observable (max voltage or integrated voltage of the
leaky-integrator outputs). The code is built from a Sylvester-Hadamard matrix ``H`` of order ``m`` (the
largest power of two ``<= n_outputs``, other readouts unused): the rows of ``H`` without the all-ones
row, then their negations. Any two codewords are orthogonal or opposite, so every pair of classes is
separated by at least ``m / 2`` readouts. The decision ``argmax_c (C @ y)_c`` runs on the host, from the
chip's readout voltages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hw_models.errors import InputError
from toolchain.losses import Loss, LossValue, _softmax_ce


def hadamard(m: int) -> np.ndarray:
    """Sylvester's ``m x m`` Hadamard matrix (``m`` a power of two)."""
    h = np.ones((1, 1))
    while h.shape[0] < m:
        h = np.block([[h, h], [h, -h]])
    return h


def output_code(n_classes: int, n_outputs: int) -> np.ndarray:
    """The ``(n_classes, n_outputs)`` code: identity if the classes fit, else the Hadamard code above."""
    if n_classes <= n_outputs:
        return np.eye(n_classes, n_outputs)
    m = 2 ** int(math.floor(math.log2(n_outputs)))
    if 2 * (m - 1) < n_classes:
        raise InputError(f"{n_classes} classes cannot be coded on {n_outputs} readout neurons (at most "
                         f"{2 * (m - 1)}); use fewer classes")
    rows = hadamard(m)[1:]
    words = np.concatenate([rows, -rows])[:n_classes]
    code = np.zeros((n_classes, n_outputs))
    code[:, :m] = words
    return code


@dataclass
class CodedVoltageCE(Loss):
    """Cross-entropy on coded leaky-integrator observables::

        logits = gain * C @ z,   y = max_t V (``observable="max"``) or integral V dt / t_end ("integrated")

    with ``z = y`` or, with ``normalize=True``, ``z = y / r``, ``r = sqrt(|y|**2 / n + eps**2)`` (the
    root mean square of the readouts): the loss no longer changes when every readout is scaled, so the
    network cannot lower it by silencing its hidden layer (which shrinks every logit), and the decision
    ``argmax C @ y`` is unchanged by the positive factor. ``eps`` keeps ``r > 0``.
    dL/dz = gain * C^T (softmax(logits) - onehot(label));  dL/dy = (dL/dz - z (z . dL/dz) / n) / r.
    """

    code: np.ndarray = field(default_factory=lambda: np.eye(2))
    observable: str = "max"
    gain: float = 1.0
    normalize: bool = False
    eps: float = 1e-3
    readout = "leaky-integrator"

    def __post_init__(self) -> None:
        self.code = np.asarray(self.code, dtype=np.float64)
        if self.observable not in ("max", "integrated"):
            raise InputError(f"unknown observable {self.observable!r}; use 'max' or 'integrated'")

    def __call__(self, out, label, n_out, t_end):
        n_classes = self.code.shape[0]
        if not (isinstance(label, (int, np.integer)) and 0 <= int(label) < n_classes):
            raise InputError(f"label {label!r} is not a class index in [0, {n_classes - 1}]")
        if self.code.shape[1] != n_out:
            raise InputError(f"the output code has {self.code.shape[1]} columns but the network {n_out} outputs")
        y = out.vmax if self.observable == "max" else out.vint / t_end
        z, r = y, 1.0
        if self.normalize:
            r = math.sqrt(float(y @ y) / y.size + self.eps**2)
            z = y / r
        value, grad = _softmax_ce(self.gain * (self.code @ z), int(label))
        d_z = self.gain * (self.code.T @ grad)
        d_y = (d_z - z * float(z @ d_z) / y.size) / r if self.normalize else d_z
        if self.observable == "integrated":
            d_y = d_y / t_end
        zeros = np.zeros(n_out)
        if self.observable == "max":
            return LossValue(float(value), d_vmax=d_y, d_vint=zeros)
        return LossValue(float(value), d_vmax=zeros, d_vint=d_y)
