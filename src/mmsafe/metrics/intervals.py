"""Confidence intervals for proportions, and what stands in for a bootstrap interval that has
collapsed to a point (every resample the same: all values equal, so it says nothing of spread)."""

from __future__ import annotations

import math


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n trials ((0, 1) when n is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bounded_mean_interval(lo: float, hi: float, mean: float, n: int, low: float = 0.0,
                          high: float = 1.0) -> tuple[float, float]:
    """A bootstrap interval of the mean of n values in [low, high], or, when it has no width (all
    values equal: at a rate of 0 or 1, or one prompt), the Wilson interval of the mean rescaled to
    [0, 1]: the values' variance is at most that of 0/1 values with the same mean, so this is the
    widest the spread could be, not a certainty the sample cannot give."""
    if n <= 0 or hi - lo > 1e-12:
        return lo, hi
    span = high - low
    wl, wh = wilson(min(max((mean - low) / span, 0.0), 1.0) * n, n)
    return low + wl * span, low + wh * span


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, phi: float = 0.0) -> tuple[float, float]:
    """95% interval of p2 − p1 by Newcombe's hybrid score method (1998): the two proportions' Wilson
    intervals combined; phi is their correlation (0 for independent samples, method 10 for paired
    ones)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    delta = math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    eps = math.sqrt(max(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2))
    return max(-1.0, p2 - p1 - delta), min(1.0, p2 - p1 + eps)


def newcombe_paired(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    """95% interval of p2 − p1 for paired 0/1 outcomes (Newcombe 1998, method 10). a: 1→1, b: 1→0,
    c: 0→1, d: 0→0 (first outcome → second)."""
    n = a + b + c + d
    if n == 0:
        return float("nan"), float("nan")
    den = (a + b) * (c + d) * (a + c) * (b + d)
    # the correlation of the two margins, corrected as Newcombe's method 10 does: ad − bc within n/2
    # of 0 counts as none (else every pair concordant, b = c = 0, gives a point at p = 0.5)
    cross = a * d - b * c
    if not den or 0 <= cross <= n / 2:
        phi = 0.0
    else:
        phi = (cross - n / 2 if cross > 0 else cross) / math.sqrt(den)
    return newcombe_difference(a + b, n, a + c, n, phi)
