"""metrics/paired.py against values computed by hand: McNemar's exact test from the binomial
formula, the paired bootstrap interval recomputed with numpy from the same seeded resampling,
Holm's step-down adjustment on a small list."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from mmsafe.metrics.paired import RESAMPLES, holm, mcnemar, paired_difference, paired_interval, within_noise


def exact_mcnemar(b: int, c: int) -> float:
    """Two-sided exact McNemar by hand: twice the smaller binomial tail of Bin(b + c, 1/2), capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(0, min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def table(n11: int, b: int, c: int, n00: int) -> tuple[list[int], list[int]]:
    """Paired 0/1 scores from a 2×2 table: n11 both 1, b 1→0, c 0→1, n00 both 0."""
    base = [1] * n11 + [1] * b + [0] * c + [0] * n00
    cand = [1] * n11 + [0] * b + [1] * c + [0] * n00
    return base, cand


def by_hand_interval(base, cand, seed: int, resamples: int = RESAMPLES) -> tuple[float, float]:
    """The percentile interval of mean(cand − base) over the same resamples scipy draws: per batch of
    `2_000_000 // n` resamples, `rng.integers(0, n, (batch, n))` case indices, both runs indexed alike."""
    x, y = np.asarray(base, float), np.asarray(cand, float)
    n = len(x)
    rng = np.random.default_rng(seed)
    batch = max(1, 2_000_000 // n)
    means = []
    for k in range(0, resamples, batch):
        idx = rng.integers(0, n, (min(batch, resamples - k), n))
        means.append((y[idx] - x[idx]).mean(axis=-1))
    lo, hi = np.percentile(np.concatenate(means), [2.5, 97.5])
    return float(lo), float(hi)


def test_mcnemar_small_table():
    # 1 pair 1→0 and 6 pairs 0→1: P(X <= 1 | Bin(7, 1/2)) = (1 + 7) / 128, doubled = 0.125
    assert mcnemar(1, 6) == pytest.approx(16 / 128)
    assert mcnemar(6, 1) == pytest.approx(16 / 128)
    assert mcnemar(0, 6) == pytest.approx(2 / 64)
    assert mcnemar(3, 3) == pytest.approx(1.0)
    assert mcnemar(0, 0) == 1.0
    for b, c in [(2, 9), (10, 4), (0, 1), (17, 30)]:
        assert mcnemar(b, c) == pytest.approx(exact_mcnemar(b, c), rel=1e-9)


def test_paired_difference_counts_and_test_on_a_two_by_two():
    base, cand = table(n11=40, b=9, c=2, n00=9)  # 60 pairs
    d = paired_difference(base, cand)
    assert d["n"] == 60
    assert d["baseline"] == pytest.approx(49 / 60)
    assert d["candidate"] == pytest.approx(42 / 60)
    assert d["diff"] == pytest.approx((2 - 9) / 60)
    assert (d["worse"], d["better"]) == (9, 2)
    assert d["p_mcnemar"] == pytest.approx(exact_mcnemar(9, 2))
    # the order of the cases does not matter to the counts or the test
    perm = np.random.default_rng(3).permutation(60)
    d2 = paired_difference(np.asarray(base)[perm], np.asarray(cand)[perm])
    assert (d2["worse"], d2["better"], d2["p_mcnemar"]) == (9, 2, d["p_mcnemar"])


@pytest.mark.parametrize("seed", [0, 7])
def test_bootstrap_interval_matches_numpy_by_hand(seed):
    base, cand = table(n11=40, b=9, c=2, n00=9)
    lo, hi = paired_interval(base, cand, seed=seed)
    want = by_hand_interval(base, cand, seed)
    assert (lo, hi) == pytest.approx(want, abs=1e-12)
    assert lo < (2 - 9) / 60 < hi
    d = paired_difference(base, cand, seed=seed)
    assert d["ci95"] == pytest.approx([round(want[0], 6), round(want[1], 6)])


def test_bootstrap_interval_by_hand_over_several_batches():
    # 2500 cases: resamples are drawn in batches of 800, as the by-hand recomputation does
    rng = np.random.default_rng(11)
    base = (rng.random(2500) < 0.8).astype(int)
    cand = np.where(rng.random(2500) < 0.1, 1 - base, base)
    assert paired_interval(base, cand, seed=5) == pytest.approx(by_hand_interval(base, cand, 5), abs=1e-12)


def test_bootstrap_is_seeded_and_paired():
    base, cand = table(n11=30, b=6, c=1, n00=13)
    assert paired_interval(base, cand, seed=1) == paired_interval(base, cand, seed=1)
    # paired resampling: identical runs have an interval of exactly zero, not the spread of two
    # independent samples
    assert paired_interval(base, base) == (0.0, 0.0)
    # every case moves the same way: no spread, the interval is the difference itself
    assert paired_interval([1, 1, 1], [0, 0, 0]) == (-1.0, -1.0)


def test_empty_and_mismatched():
    d = paired_difference([], [])
    assert d["n"] == 0 and d["diff"] is None and d["ci95"] is None and d["p_mcnemar"] == 1.0
    with pytest.raises(ValueError):
        paired_interval([1, 0], [1])


def test_holm_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005 (×4 = 0.02), 0.01 (×3 = 0.03), 0.03 (×2 = 0.06), 0.04 (×1 = 0.04 → kept monotone: 0.06)
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.2]) == [0.2]
    assert holm([]) == []


def test_within_noise():
    assert within_noise({"ci95": [-0.1, 0.05]})
    assert not within_noise({"ci95": [-0.1, -0.02]})
    assert within_noise({"ci95": None})
