"""The LIF kernels and threshold-crossing solvers (reference/gradients.md §0, §1, §7.3), compiled with numba.

Notation: ``a = 1/tau_syn`` (alpha), ``b = 1/tau_mem`` (beta), ``d = b - a``. One unit input charge gives
the post-synaptic potential

    h(s) = (exp(-a s) - exp(-b s)) / (b - a) = exp(-a s) * s * phi(d s),   phi(x) = (1 - exp(-x)) / x,

evaluated through ``expm1`` so that ``tau_mem`` close to (or equal to) ``tau_syn`` loses no digits.
Between events the state evolves exactly: ``V(s) = V0 exp(-b s) + I0 h(s)``, ``I(s) = I0 exp(-a s)``.

:func:`next_crossing` returns the first ``s`` in ``(0, S]`` with ``V(s) = theta`` (or ``inf``). On an
event-free interval ``V`` has at most one extremum, at ``exp(d s*) = b (I0 - d V0) / (a I0)``, so the
first crossing, if any, is the first root on a bracket where ``V`` rises (and is concave) up to it; it is
found in closed form when ``tau_mem = 2 tau_syn`` (a quadratic in ``exp(-b s)``) or ``tau_mem = tau_syn``
(Lambert W), and otherwise by safeguarded Halley iteration on the bracket (:func:`_newton_bracketed`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hw_models.jitcache import drop_stale_cache

#: Closed forms are used automatically (METHOD_AUTO); METHOD_NUMERIC forces the bracketed solver.
METHOD_AUTO = 0
METHOD_NUMERIC = 1
#: dV/dt at a spike is > 0 by construction; all gradient engines floor it at VDOT_FLOOR * theta / tau_mem
#: so that a spike at a numerical tangency cannot produce an infinite sensitivity (gradients.md §7.2).
VDOT_FLOOR = 1e-9


@njit(cache=True, fastmath=False)
def psp(s: float, a: float, b: float) -> float:
    """h(s): membrane response to a unit charge at s = 0 (0 for s <= 0)."""
    if s <= 0.0:
        return 0.0
    d = b - a
    if d == 0.0:
        return s * math.exp(-a * s)
    if abs(d * s) < 1.0:
        return math.exp(-a * s) * (-math.expm1(-d * s)) / d
    return (math.exp(-a * s) - math.exp(-b * s)) / (b - a)


@njit(cache=True)
def psp_slope(s: float, a: float, b: float) -> float:
    """h'(s) = exp(-b s) - a h(s) (0 for s <= 0)."""
    if s <= 0.0:
        return 0.0
    return math.exp(-b * s) - a * psp(s, a, b)


@njit(cache=True)
def psp_integral(s: float, a: float, b: float) -> float:
    """H(s) = integral_0^s h = ((1 - exp(-a s)) / a - h(s)) / b (0 for s <= 0)."""
    if s <= 0.0:
        return 0.0
    return (-math.expm1(-a * s) / a - psp(s, a, b)) / b


#: Spans with max(a, b) s <= SHORT_SPAN use Taylor polynomials of degree 9 instead of libm: their truncation
#: error, below (1/16)^10 / 10! < 3e-19, is far under round-off.
SHORT_SPAN = 1.0 / 16.0


#: 1 / n! for n = 0..10
_INV_FACTORIAL = 1.0 / np.cumprod(np.concatenate(([1.0], np.arange(1.0, 11.0))))


@njit(cache=True, inline="always")
def _taylor(y: float, shift: int) -> float:
    """sum_{n=0}^{9} c_n y^n with c_n = 1 / (n + shift)!: exp(y) for shift 0, (exp(y) - 1) / y for shift 1.

    Estrin's scheme (pairs, then powers y^2, y^4, y^8) keeps the dependency chain short.
    """
    c = _INV_FACTORIAL[shift:]
    y2 = y * y
    y4 = y2 * y2
    low = (c[0] + c[1] * y) + y2 * (c[2] + c[3] * y)
    mid = (c[4] + c[5] * y) + y2 * (c[6] + c[7] * y)
    return low + y4 * (mid + y4 * (c[8] + c[9] * y))


@njit(cache=True, inline="always")
def decay(s: float, a: float, b: float) -> tuple[float, float, float]:
    """(exp(-a s), exp(-b s), h(s)) for s >= 0, with h(s) = exp(-a s) s phi(d s), phi(x) = (1 - e^{-x}) / x.

    Short spans (max(a, b) s <= SHORT_SPAN): Taylor polynomials of exp(-a s) and phi(d s), and
    exp(-b s) = exp(-a s) - d h(s). Otherwise two transcendental calls: for |d s| < 1, h through
    ``expm1(-d s)``, which also gives exp(-b s) = exp(-a s) (1 + expm1(-d s)); else h is the difference
    of the two exponentials.
    """
    d = b - a
    if max(a, b) * s <= SHORT_SPAN:
        ea = _taylor(-a * s, 0)
        h = ea * s * _taylor(-d * s, 1)
        return ea, ea - d * h, h
    ea = math.exp(-a * s)
    if d == 0.0:
        return ea, ea, s * ea
    inv_d = 1.0 / d  # independent of the exponentials: off the critical path
    if abs(d * s) < 1.0:
        em = math.expm1(-d * s)
        return ea, ea + ea * em, -ea * em * inv_d
    eb = math.exp(-b * s)
    return ea, eb, (ea - eb) * inv_d


@njit(cache=True)
def interval_decays(ends, a: float, b: float, table: np.ndarray) -> None:
    """Row k of ``table``: :func:`decay` over the span of interval k, ``ends[k] - ends[k - 1]`` (from 0 for k = 0)."""
    t_prev = 0.0
    for k in range(ends.shape[0]):
        table[k, 0], table[k, 1], table[k, 2] = decay(ends[k] - t_prev, a, b)
        t_prev = ends[k]


@njit(cache=True, inline="always")
def advance(v0: float, i0: float, s: float, a: float, b: float) -> tuple[float, float]:
    """Exact free evolution over ``s``: returns (V(s), I(s))."""
    if s <= 0.0:
        return v0, i0
    ea, eb, h = decay(s, a, b)
    return v0 * eb + i0 * h, i0 * ea


@njit(cache=True)
def voltage_slope(v: float, i: float, b: float) -> float:
    """dV/dt = I - b V."""
    return i - b * v


@njit(cache=True, inline="always")
def spike_slope(i: float, theta: float, b: float) -> float:
    """dV/dt just before a spike, I(t^-) - b theta, floored at VDOT_FLOOR * b * theta."""
    return max(i - b * theta, VDOT_FLOOR * b * theta)


@njit(cache=True)
def stationary_time(v0: float, i0: float, a: float, b: float) -> float:
    """Time s* > 0 of the single extremum of V(s) = v0 e^{-bs} + i0 h(s), or inf if there is none.

    From dV/ds = 0: exp(d s*) = b (i0 - d v0) / (a i0), written with log1p so that d -> 0 is exact.
    """
    if i0 == 0.0:
        return math.inf
    d = b - a
    if d == 0.0:
        s = 1.0 / a - v0 / i0
        return s if s > 0.0 else math.inf
    u = 1.0 - d * v0 / i0
    if u <= 0.0:
        return math.inf
    s = (math.log1p(d / a) + math.log(u)) / d
    return s if s > 0.0 else math.inf


@njit(cache=True)
def lambert_w0(z: float) -> float:
    """Principal branch W0(z) for z in [-1/e, 0], by Halley iteration from a branch-point series."""
    if z <= -1.0 / math.e:
        return -1.0
    p = math.sqrt(2.0 * (math.e * z + 1.0))
    w = -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p * p * p if z < -0.25 else z * (1.0 - z)
    for _ in range(60):
        ew = math.exp(w)
        f = w * ew - z
        wp1 = w + 1.0
        if wp1 == 0.0:
            break
        step = f / (ew * wp1 - (w + 2.0) * f / (2.0 * wp1))
        w -= step
        if abs(step) <= 1e-16 * (1.0 + abs(w)):
            break
    return w


@njit(cache=True)
def _newton_bracketed(v0: float, i0: float, theta: float, a: float, b: float, hi: float) -> float:
    """First root of V(s) = theta in [0, hi], given V(0) < theta <= V(hi) and V rising up to that root.

    While V rises, I > 0 and V' > 0, so V'' = -a I - b V' < 0: V is concave there. Halley's iteration (V, V'
    and V'' all follow from V and I) from the left end converges cubically and stays left of the root;
    safeguard: a bisection step whenever the step would leave the bracket. Once a well-conditioned step
    is below 1e-6 relative, the next iterate is exact to round-off and is returned without another
    evaluation. Moving right, V and I are advanced from the previous iterate, so that after the first
    step the evaluations cover short spans (:func:`decay`'s polynomial branch).
    """
    lo = 0.0
    s = 0.0
    v, i = v0, i0
    for _ in range(200):
        f = v - theta
        if abs(f) <= 2e-16 * theta:  # V = theta to round-off
            return s
        if f >= 0.0:
            hi = s
        else:
            lo = s
        slope = i - b * v
        curvature = -a * i - b * slope  # V'' = -a I - b V'
        denom = 2.0 * slope * slope - f * curvature
        nxt = s - 2.0 * f * slope / denom if denom > 0.0 else -1.0  # Halley's step
        if not (lo < nxt < hi):
            nxt = 0.5 * (lo + hi)
        elif abs(nxt - s) <= 1e-6 * nxt and abs(f * curvature) <= 1e-3 * slope * slope:
            return nxt
        if abs(nxt - s) <= 4e-16 * abs(nxt) or hi - lo <= 4e-16 * hi:
            return nxt
        if nxt > s:  # on from the last evaluated state: the later steps are short
            v, i = advance(v, i, nxt - s, a, b)
        else:
            v, i = advance(v0, i0, nxt, a, b)
        s = nxt
    return s


@njit(cache=True)
def _quadratic_root(v0: float, i0: float, theta: float, b: float, hi: float) -> float:
    """tau_mem = 2 tau_syn: with x = exp(-b s) and c = i0 / b, V = -c x^2 + (v0 + c) x; solve V = theta."""
    c = i0 / b
    bq = v0 + c
    disc = bq * bq - 4.0 * c * theta
    if disc < 0.0:
        disc = 0.0  # tangency within round-off; the bracket guarantees a root
    q = 0.5 * (bq + math.copysign(math.sqrt(disc), bq))
    x_lo = math.exp(-b * hi)
    best = -1.0
    for x in (q / c if c != 0.0 else -1.0, theta / q if q != 0.0 else -1.0):
        if x_lo * (1.0 - 1e-12) <= x <= 1.0 + 1e-12 and x > best:
            best = x
    if best <= 0.0:
        return -1.0
    return min(max(-math.log(best) / b, 0.0), hi)


@njit(cache=True)
def _lambert_root(v0: float, i0: float, theta: float, b: float, hi: float) -> float:
    """tau_mem = tau_syn: V = (v0 + i0 s) e^{-b s} = theta gives s = -w/b - v0/i0 with w = W0(z),
    z = -b theta / i0 * exp(-b v0 / i0)."""
    z = -b * theta / i0 * math.exp(-b * v0 / i0)
    if z < -1.0 / math.e * (1.0 + 1e-12):
        return -1.0
    w = lambert_w0(max(z, -1.0 / math.e))
    s = -w / b - v0 / i0
    return min(max(s, 0.0), hi)


@njit(cache=True)
def crossing_from(v0: float, i0: float, v_end: float, i_end: float, theta: float, a: float, b: float,
                  span: float, method: int) -> float:
    """:func:`next_crossing` when the state (v_end, i_end) at the end of the interval is already known."""
    if i0 <= 0.0 or i0 - b * v0 <= 0.0:
        return math.inf  # V falls, or rises towards a limit below 0 < theta
    if v_end >= theta:
        hi = span  # V rises to its maximum (if inside) and is >= theta from the crossing to the end
    else:
        if i_end - b * v_end >= 0.0:
            return math.inf  # still rising at the end: the maximum is v_end < theta
        hi = stationary_time(v0, i0, a, b)
        if not hi < span:
            return math.inf
        if i0 * math.exp(-a * hi) < b * theta:  # at the maximum dV/dt = I - b V = 0, so V = I / b
            return math.inf
    if method == METHOD_AUTO:
        if b * 2.0 == a:
            s = _quadratic_root(v0, i0, theta, b, hi)
            if s >= 0.0:
                return s
        elif a == b:
            s = _lambert_root(v0, i0, theta, b, hi)
            if s >= 0.0:
                return s
    return _newton_bracketed(v0, i0, theta, a, b, hi)


@njit(cache=True)
def next_crossing(v0: float, i0: float, theta: float, a: float, b: float, span: float,
                  method: int) -> float:
    """First s in (0, span] with V(s) = theta, starting from V(0) = v0 < theta, I(0) = i0; inf if none."""
    if i0 <= 0.0 or i0 - b * v0 <= 0.0:
        return math.inf
    v_end, i_end = advance(v0, i0, span, a, b)
    return crossing_from(v0, i0, v_end, i_end, theta, a, b, span, method)


def crossing(v0: float, i0: float, theta: float, tau_syn: float, tau_mem: float, span: float,
             numeric: bool = False) -> float:
    """Python entry point of :func:`next_crossing` (``numeric=True`` skips the closed forms)."""
    return float(next_crossing(float(v0), float(i0), float(theta), 1.0 / tau_syn, 1.0 / tau_mem,
                               float(span), METHOD_NUMERIC if numeric else METHOD_AUTO))


@njit(cache=True)
def psp_many(s: np.ndarray, a: float, b: float) -> np.ndarray:
    """h(s) elementwise."""
    out = np.empty(s.shape[0])
    for k in range(s.shape[0]):
        out[k] = psp(s[k], a, b)
    return out


@njit(cache=True)
def psp_slope_many(s: np.ndarray, a: float, b: float) -> np.ndarray:
    """h'(s) elementwise."""
    out = np.empty(s.shape[0])
    for k in range(s.shape[0]):
        out[k] = psp_slope(s[k], a, b)
    return out


@njit(cache=True)
def psp_integral_many(s: np.ndarray, a: float, b: float) -> np.ndarray:
    """H(s) elementwise."""
    out = np.empty(s.shape[0])
    for k in range(s.shape[0]):
        out[k] = psp_integral(s[k], a, b)
    return out


# -- derivatives with respect to the rates (learned time constants, docs/gradients.md) -----------------
@njit(cache=True)
def _phi_slope(x: float) -> float:
    """phi'(x) for phi(x) = (1 - e^{-x}) / x: (e^{-x} (1 + x) - 1) / x^2, by its Taylor series for |x| < 1/2
    (sum_{n >= 1} n (-x)^{n-1} (-1) / (n + 1)!, 24 terms: truncation below 1e-30)."""
    if abs(x) < 0.5:
        total = 0.0
        term = -0.5  # n = 1: -1 / 2!
        for n in range(1, 25):
            total += term
            term *= -x * (n + 1) / (n * (n + 2))
        return total
    return (math.expm1(-x) + x * math.exp(-x)) / (x * x)


@njit(cache=True)
def psp_rate_derivs(s: float, a: float, b: float) -> tuple[float, float]:
    """(dh/da, dh/db) of h(s) = exp(-a s) s phi((b - a) s) (zeros for s <= 0).

    dh/db = s^2 exp(-a s) phi'(d s) and dh/da = -s h - dh/db; for |d s| >= 1/2 the first is written as
    (exp(-b s) (1 + d s) - exp(-a s)) / d^2, which cannot overflow. Exact for a = b (both -s^2 e^{-a s} / 2).
    """
    if s <= 0.0:
        return 0.0, 0.0
    d = b - a
    x = d * s
    if abs(x) < 0.5:
        dhb = s * s * math.exp(-a * s) * _phi_slope(x)
    else:
        dhb = (math.exp(-b * s) * (1.0 + x) - math.exp(-a * s)) / (d * d)
    return -s * psp(s, a, b) - dhb, dhb


@njit(cache=True)
def psp_integral_rate_derivs(s: float, a: float, b: float) -> tuple[float, float]:
    """(dH/da, dH/db) of H(s) = ((1 - exp(-a s)) / a - h(s)) / b (zeros for s <= 0):
    dH/da = (s^2 phi'(a s) - dh/da) / b, dH/db = -(H + dh/db) / b."""
    if s <= 0.0:
        return 0.0, 0.0
    dha, dhb = psp_rate_derivs(s, a, b)
    return (s * s * _phi_slope(a * s) - dha) / b, -(psp_integral(s, a, b) + dhb) / b


@njit(cache=True)
def psp_rate_derivs_many(s: np.ndarray, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`psp_rate_derivs` elementwise."""
    da, db = np.empty(s.shape[0]), np.empty(s.shape[0])
    for k in range(s.shape[0]):
        da[k], db[k] = psp_rate_derivs(s[k], a, b)
    return da, db


@njit(cache=True)
def psp_integral_rate_derivs_many(s: np.ndarray, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`psp_integral_rate_derivs` elementwise."""
    da, db = np.empty(s.shape[0]), np.empty(s.shape[0])
    for k in range(s.shape[0]):
        da[k], db[k] = psp_integral_rate_derivs(s[k], a, b)
    return da, db


drop_stale_cache(psp)  # numba's disk cache, dropped when any kernel source changes
