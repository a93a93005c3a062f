"""Uncertainty of verify's accuracies: 95 % intervals for one accuracy and for a paired difference.

* one accuracy ``k / n``: the Wilson score interval
  ``(p + z^2/2n -/+ z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)``;
* the difference of two models' accuracies on the same samples, ``(n_10 - n_01) / n``: only the ``m = n_10 +
  n_01`` samples on which exactly one of them is right carry information. Conditional on ``m``, ``n_10`` is
  binomial ``(m, q)`` and the difference is ``m (2 q - 1) / n``; the exact (Clopper-Pearson) interval of ``q``
  maps to an interval of the difference (the interval behind McNemar's exact test).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import beta

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (``(0, 1)`` when ``n == 0``)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    lo, hi = (centre - half) / scale, (centre + half) / scale
    return (0.0 if k == 0 else max(0.0, lo)), (1.0 if k == n else min(1.0, hi))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of ``k / n``."""
    if n == 0:
        return 0.0, 1.0
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def paired_difference(right_a: np.ndarray, right_b: np.ndarray, level: float = 0.95) -> dict:
    """Accuracy of B minus accuracy of A on the same samples, with the exact interval on the differing decisions.

    ``right_a``/``right_b``: booleans per sample (the model's decision equals the label).
    """
    a, b = np.asarray(right_a, bool), np.asarray(right_b, bool)
    n = a.size
    only_b, only_a = int(np.sum(b & ~a)), int(np.sum(a & ~b))
    m = only_a + only_b
    lo_q, hi_q = clopper_pearson(only_b, m, level)
    diff = (only_b - only_a) / n if n else 0.0
    lo, hi = ((m * (2 * lo_q - 1) / n, m * (2 * hi_q - 1) / n) if m else (0.0, 0.0))
    return {"difference": diff, "low": lo, "high": hi, "only_b_right": only_b, "only_a_right": only_a,
            "differing": m, "samples": n}
