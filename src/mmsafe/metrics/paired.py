"""Paired statistics for two runs over the same cases: the difference of a rate with a paired
bootstrap interval, the exact McNemar test on the discordant pairs, and Holm's correction when
many such tests are read together (per category).

Each case contributes a 0/1 score to each run (safe or not, refused or not); a case without a
usable reply scores 0 on both sides, as in `metrics.rates` (an error is never safe). The
difference is candidate − baseline, so a negative safe-rate difference is a regression.

scipy.stats does the work: `bootstrap(..., paired=True)` for the interval (percentile method,
seeded) and `binomtest` for McNemar's exact test (under no change the discordant pairs split
50/50)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from mmsafe.metrics.intervals import newcombe_paired

RESAMPLES = 2000
SEED = 0


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for b pairs that went 1→0 and c that went 0→1."""
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(b, b + c, 0.5).pvalue)


def _mean_diff(base: np.ndarray, cand: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(cand - base, axis=axis)


def paired_interval(base: Sequence[float], cand: Sequence[float], seed: int = SEED,
                    resamples: int = RESAMPLES) -> tuple[float, float]:
    """95% paired bootstrap interval (percentile) of mean(cand − base), cases resampled together."""
    x, y = np.asarray(base, dtype=float), np.asarray(cand, dtype=float)
    if len(x) != len(y):
        raise ValueError("paired samples must have the same length")
    if len(x) == 0:
        return (float("nan"), float("nan"))
    d = y - x
    if np.all(d == d[0]):  # no spread: every resample gives the same difference
        return (float(d[0]), float(d[0]))
    res = stats.bootstrap((x, y), _mean_diff, paired=True, vectorized=True, n_resamples=resamples,
                          confidence_level=0.95, method="percentile", batch=max(1, 2_000_000 // len(x)),
                          rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return (float(ci.low), float(ci.high))


def paired_difference(base: Sequence[int], cand: Sequence[int], seed: int = SEED,
                      resamples: int = RESAMPLES) -> dict[str, Any]:
    """Everything a reader needs about one paired 0/1 comparison.

    b: baseline 1 → candidate 0 (for the safe rate: cases that became unsafe); c: 0 → 1."""
    x, y = np.asarray(base, dtype=int), np.asarray(cand, dtype=int)
    n = len(x)
    b = int(np.sum((x == 1) & (y == 0)))
    c = int(np.sum((x == 0) & (y == 1)))
    lo, hi = paired_interval(x, y, seed, resamples)
    if n and lo == hi:  # every case moved alike (often: none moved): the bootstrap says nothing of spread
        lo, hi = newcombe_paired(int(np.sum((x == 1) & (y == 1))), b, c, int(np.sum((x == 0) & (y == 0))))
    return {
        "n": n,
        "baseline": float(x.mean()) if n else None,
        "candidate": float(y.mean()) if n else None,
        "diff": float(y.mean() - x.mean()) if n else None,
        "ci95": None if n == 0 else [round(lo, 6), round(hi, 6)],
        "worse": b, "better": c,
        "p_mcnemar": mcnemar(b, c),
    }


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (step-down, kept monotone, capped at 1)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def within_noise(diff: dict[str, Any]) -> bool:
    """The paired interval includes zero: the two runs are not told apart on these cases."""
    ci = diff.get("ci95")
    return ci is None or ci[0] <= 0 <= ci[1]
