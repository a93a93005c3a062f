"""The unit mapping between the float model (SI seconds) and the chip's integer step.

Float model of one post layer (gradients.md §1): ``dI/dt = -I/tau_syn + sum_j W[j,i] sum_g delta(t - g)``,
``dV/dt = -V/tau_mem + I``, spike when ``V >= theta``, ``V -= theta``.

Chip, per step (hw_models.arith): an event adds ``w_eff = q << shift`` to ``i``; then ``i -= i >> dash_syn``
and ``v += -(v >> dash_mem) + i``.

Choose a *current unit* ``c`` per post layer (float current per chip ``i`` LSB). With ``a = 1 - 2**-dash =
exp(-dt / tau(dash))`` the chip is an exact-decay, right-endpoint Riemann sum of the float kernel: one
input spike of weight ``W`` at time ``k dt`` gives

    v[n] * (c dt)  ~=  W h((n + 1 - k) dt),      h(s) = (exp(-s/tau_syn) - exp(-s/tau_mem)) / (1/tau_mem - 1/tau_syn)

(error O(dt / tau), reference/gradients.md §8.3). Hence, for every matrix ``M`` feeding the layer through
a chip matrix with shift ``sh``:

    q = round(M / (c * 2**sh))       (int8)            theta_int = round(theta / (c * dt))     (int16)

and the chip's state at the end of step ``n`` stands for the float state at time ``(n + 1) dt``. A hidden
spike recorded in step ``n`` (float crossing in ``(n dt, (n + 1) dt]``) reaches the next layer in step
``n + 1``, i.e. at ``ceil(t / dt) dt``: on the chip a hidden hop delays a spike by 0 to 1 step (half a
step on average), input -> first hidden layer not at all.
"""

from __future__ import annotations

import numpy as np

from hw_models.chips import tau_from_dash


def weights_to_int(M: np.ndarray, current_unit: float, shift: int) -> np.ndarray:
    """``q = round(M / (c * 2**shift))`` as int64 (range checks are the design rules' job)."""
    return np.rint(np.asarray(M, np.float64) / (current_unit * 2.0**shift)).astype(np.int64)


def weights_to_float(q: np.ndarray, current_unit: float, shift: int) -> np.ndarray:
    """The float weights an integer matrix realises: ``q * c * 2**shift``."""
    return np.asarray(q, np.float64) * current_unit * 2.0**shift


def threshold_to_int(theta: np.ndarray, current_unit: float, dt: float) -> np.ndarray:
    """``theta_int = round(theta / (c dt))``."""
    return np.rint(np.asarray(theta, np.float64) / (current_unit * dt)).astype(np.int64)


def threshold_to_float(theta_int: np.ndarray, current_unit: float, dt: float) -> np.ndarray:
    return np.asarray(theta_int, np.float64) * current_unit * dt


def taus_of(dashes: np.ndarray, dt: float) -> np.ndarray:
    """Realised time constants ``tau(dash) = -dt / ln(1 - 2**-dash)`` per neuron."""
    return np.array([tau_from_dash(int(d), dt) for d in np.ravel(dashes)], np.float64).reshape(np.shape(dashes))


def kernel_gain(dash_syn: np.ndarray, dash_mem: np.ndarray, dt: float) -> np.ndarray:
    """Ratio of the float PSP's area to the chip's: ``kappa = (tau_syn/dt)(tau_mem/dt) (1 - a_s)(1 - a_m) / a_s``.

    One event into the chip adds ``a_s (1-a_s)^-1 (1-a_m)^-1`` membrane LSB-steps in total (integrate, then
    decay, before the membrane sees it); the float kernel ``h`` has area ``tau_syn tau_mem``. Their ratio is
    > 1 (the chip is weaker: 5 % at dashes 3/5, 12 % at 2/4, 24 % at 1/2) and, at these time constants, equals
    the ratio of the peaks to within 2 %. Dividing integer thresholds by it restores the float model's
    gain; :func:`toolchain.compile.compile_network` does so when asked (``gain_correction=True``).
    """
    a_s = 1.0 - 2.0 ** -np.asarray(dash_syn, np.float64)
    a_m = 1.0 - 2.0 ** -np.asarray(dash_mem, np.float64)
    tau_s, tau_m = -1.0 / np.log(a_s), -1.0 / np.log(a_m)  # in units of dt
    return tau_s * tau_m * (1.0 - a_s) * (1.0 - a_m) / a_s
