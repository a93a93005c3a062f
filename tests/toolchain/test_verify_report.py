"""The verify report's numbers: intervals against scipy's, paired differences, rates, compile candidates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from toolchain.verify.report import calibration_candidates
from toolchain.verify.stats import clopper_pearson, paired_difference, wilson


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (955, 1000), (449, 450), (1, 2)])
def test_intervals_equal_scipys(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)
    lo, hi = wilson(k, n)
    assert lo <= k / n <= hi


def test_paired_difference_counts_only_the_differing_samples():
    rng = np.random.default_rng(0)
    a = rng.random(1000) < 0.9
    b = a.copy()
    flip = rng.choice(1000, 30, replace=False)
    b[flip] = ~b[flip]
    d = paired_difference(a, b)
    assert d["differing"] == 30 and d["only_b_right"] + d["only_a_right"] == 30
    assert d["difference"] == pytest.approx(b.mean() - a.mean())
    ci = binomtest(d["only_b_right"], 30).proportion_ci(method="exact")
    assert (d["low"], d["high"]) == pytest.approx((30 * (2 * ci.low - 1) / 1000, 30 * (2 * ci.high - 1) / 1000))
    assert d["low"] <= d["difference"] <= d["high"] and d["high"] - d["low"] < 0.06  # far tighter than 2 Wilsons
    same = paired_difference(a, a)
    assert same["differing"] == 0 and (same["low"], same["high"]) == (0.0, 0.0)


def test_candidates_from_the_structured_list_or_the_warning():
    doc = {"candidates": [{"name": "h2", "agreement": 0.9, "kept": False, "samples": 100},
                          {"name": "h1", "agreement": 0.95, "kept": True, "samples": 100}]}
    assert [c["kept"] for c in calibration_candidates(doc)] == [False, True]
    warning = ("kept the candidate 'headroom 1, states below 1/2, rate matching': its decisions agree with the float "
               "model's on 96.3 % of 1000 training samples (all candidates: headroom 2, states below 1/2: 94.7 %; "
               "headroom 1, states below 1/2, rate matching: 96.3 %)")
    got = calibration_candidates({"warnings": ["other", warning]})
    assert got == [{"name": "headroom 2, states below 1/2", "agreement": pytest.approx(0.947), "kept": False,
                    "samples": 1000},
                   {"name": "headroom 1, states below 1/2, rate matching", "agreement": pytest.approx(0.963),
                    "kept": True, "samples": 1000}]
    assert calibration_candidates({"warnings": []}) == []
