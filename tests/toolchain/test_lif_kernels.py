"""The LIF kernel and the threshold-crossing solvers (closed forms against the bracketed root finder)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import lambertw

from toolchain.lif.kernels import (
    SHORT_SPAN,
    advance,
    crossing,
    decay,
    lambert_w0,
    psp,
    psp_integral,
    psp_integral_rate_derivs,
    psp_rate_derivs,
    psp_slope,
)


def psp_reference(s: float, a: float, b: float) -> float:
    """h(s) as the convolution integral of the synaptic and membrane kernels, by quadrature."""
    return quad(lambda u: math.exp(-a * (s - u)) * math.exp(-b * u), 0.0, s, epsabs=0, epsrel=1e-13)[0]


@pytest.mark.parametrize("ratio", [0.25, 0.5, 1.0, 1.0 + 1e-9, 1.0 + 1e-4, 2.0, 3.7])
def test_psp_equals_the_convolution_integral(ratio):
    a = 200.0
    b = a / ratio
    for s in (1e-6, 1e-3, 5e-3, 2e-2, 0.1):
        assert psp(s, a, b) == pytest.approx(psp_reference(s, a, b), rel=1e-11)


def test_psp_is_continuous_across_equal_time_constants():
    a, s = 150.0, 7e-3
    equal = psp(s, a, a)
    assert equal == pytest.approx(s * math.exp(-a * s), rel=1e-15)
    for eps in (1e-14, 1e-10, 1e-6):
        assert psp(s, a, a * (1 + eps)) == pytest.approx(equal, rel=3 * eps + 1e-14)


@pytest.mark.parametrize("b", [50.0, 200.0, 200.0 * (1 + 1e-8), 400.0])
def test_slope_and_integral_match_numerical_calculus(b):
    a = 200.0
    for s in (1e-4, 3e-3, 1.5e-2):
        step = 1e-7
        numeric_slope = (psp(s + step, a, b) - psp(s - step, a, b)) / (2 * step)
        assert psp_slope(s, a, b) == pytest.approx(numeric_slope, rel=1e-7, abs=1e-9)
        integral = quad(lambda u: psp(u, a, b), 0.0, s, epsabs=0, epsrel=1e-12)[0]
        assert psp_integral(s, a, b) == pytest.approx(integral, rel=1e-9)
    assert psp(0.0, a, b) == psp_slope(-1.0, a, b) == psp_integral(0.0, a, b) == 0.0
    assert psp_slope(1e-12, a, b) == pytest.approx(1.0, rel=1e-6)  # h'(0+) = 1


@pytest.mark.parametrize("ratio", [0.25, 1.0, 1.0 + 1e-9, 2.0, 3.7])
def test_decay_polynomials_for_short_spans_agree_with_libm(ratio):
    """decay() uses Taylor polynomials when max(a, b) s <= SHORT_SPAN and libm beyond: both sides of the
    switch agree with exp() and psp() to round-off."""
    a = 200.0
    b = a / ratio
    for x in np.concatenate([np.geomspace(1e-9, SHORT_SPAN, 40), [SHORT_SPAN * (1 + 1e-12), 0.1, 0.5]]):
        s = x / max(a, b)
        ea, eb, h = decay(s, a, b)
        assert ea == pytest.approx(math.exp(-a * s), rel=4e-16)
        assert eb == pytest.approx(math.exp(-b * s), rel=6e-16)
        assert h == pytest.approx(psp(s, a, b), rel=2e-15)


@pytest.mark.parametrize("z", [-0.36787944, -0.3678, -0.3, -0.1, -1e-3, -1e-9, 0.0])
def test_lambert_w0_matches_scipy(z):
    assert lambert_w0(z) == pytest.approx(lambertw(z, 0).real, rel=1e-12, abs=1e-15)
    assert lambert_w0(-1 / math.e) == -1.0  # the branch point


def assert_same_crossing(s1: float, s2: float, v0: float, i0: float, a: float, b: float) -> None:
    """Equal to 1e-10 relative; only a grazing crossing (V touches theta at its maximum) may differ more:
    that root is ill-conditioned, V(s* - d) = theta - O(d^2), so both must be roots with a vanishing slope."""
    if s1 == pytest.approx(s2, rel=1e-10, abs=1e-15):
        return
    for s in (s1, s2):
        v, i = advance(v0, i0, s, a, b)
        assert v == pytest.approx(1.0, abs=1e-12)
        assert abs(i - b * v) <= 1e-5 * i0


states = st.tuples(st.floats(-1.0, 0.99), st.floats(1.0, 2000.0), st.floats(1e-4, 5e-2))


@settings(max_examples=150, deadline=None)
@given(state=states, tau_syn=st.floats(1e-3, 2e-2))
@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_closed_form_crossing_equals_bracketed_root(state, tau_syn, ratio):
    v0, i0, span = state
    a, b = 1 / tau_syn, 1 / (ratio * tau_syn)
    closed = crossing(v0, i0, 1.0, tau_syn, ratio * tau_syn, span)
    numeric = crossing(v0, i0, 1.0, tau_syn, ratio * tau_syn, span, numeric=True)
    if math.isinf(numeric):
        assert math.isinf(closed)
    else:
        assert_same_crossing(closed, numeric, v0, i0, a, b)


@settings(max_examples=150, deadline=None)
@given(state=states, tau_syn=st.floats(1e-3, 2e-2), ratio=st.floats(0.2, 5.0))
def test_crossing_is_the_first_root_found_by_brent_on_a_fine_grid(state, tau_syn, ratio):
    """Independent oracle: scan V on a fine grid for the first sign change, refine it with scipy's brentq."""
    v0, i0, span = state
    a, b = 1 / tau_syn, 1 / (ratio * tau_syn)
    grid = np.linspace(0.0, span, 4001)
    values = np.array([advance(v0, i0, s, a, b)[0] for s in grid]) - 1.0
    found = crossing(v0, i0, 1.0, tau_syn, ratio * tau_syn, span, numeric=True)
    above = np.nonzero(values >= 0)[0]
    if above.size == 0:
        # no grid point reaches threshold: either no crossing, or a grazing one between grid points
        if not math.isinf(found):
            assert advance(v0, i0, found, a, b)[0] == pytest.approx(1.0, abs=1e-12)
        return
    k = above[0]
    root = brentq(lambda s: advance(v0, i0, s, a, b)[0] - 1.0, grid[k - 1], grid[k], xtol=1e-16, rtol=1e-15)
    assert_same_crossing(found, root, v0, i0, a, b)


def test_no_crossing_when_current_is_not_excitatory():
    assert math.isinf(crossing(0.5, -10.0, 1.0, 5e-3, 1e-2, 1.0))
    assert math.isinf(crossing(0.9, 0.0, 1.0, 5e-3, 1e-2, 1.0))
    assert math.isinf(crossing(-0.5, 1e-3, 1.0, 5e-3, 1e-2, 1.0))


@pytest.mark.parametrize("s, a, b", [(1e-3, 200.0, 100.0), (5e-3, 200.0, 200.0), (5e-3, 200.0, 200.0 * (1 + 1e-7)),
                                     (0.05, 50.0, 200.0), (2.0, 200.0, 1.0), (0.3, 300.0, 10.0)])
def test_rate_derivatives_of_the_kernels(s, a, b):
    """dh/da, dh/db, dH/da, dH/db (learned time constants) against Richardson-extrapolated central differences of
    h and H, including a = b (h = s e^{-a s}) and a = b (1 + 1e-7) (the series branch)."""
    def richardson(f, x):
        e = 1e-4 * x
        d1, d2 = (f(x + e) - f(x - e)) / (2 * e), (f(x + 2 * e) - f(x - 2 * e)) / (4 * e)
        return (4 * d1 - d2) / 3

    got = (*psp_rate_derivs(s, a, b), *psp_integral_rate_derivs(s, a, b))
    want = (richardson(lambda x: psp(s, x, b), a), richardson(lambda x: psp(s, a, x), b),
            richardson(lambda x: psp_integral(s, x, b), a), richardson(lambda x: psp_integral(s, a, x), b))
    for g, w in zip(got, want, strict=True):
        assert abs(g - w) <= 1e-7 * abs(w), (got, want)
    if a == b:
        assert got[0] == pytest.approx(-s * s * np.exp(-a * s) / 2, rel=1e-14) == got[1]
