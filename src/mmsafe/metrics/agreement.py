"""Agreement between raters (judges, or a judge and human labels): Cohen's kappa for two,
Krippendorff's alpha (nominal) for any number with missing ratings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import combinations


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """(p_o - p_e) / (1 - p_e) over paired ratings; None when undefined (no pairs, or both raters
    constant on the same value, where chance agreement is already 1)."""
    if len(a) != len(b):
        raise ValueError("ratings must be paired")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(units: Sequence[Sequence[Hashable | None]]) -> float | None:
    """Nominal alpha. `units` holds, per rated item, each rater's value (None = not rated).
    1 - D_o / D_e over the coincidence matrix; items with fewer than two ratings are skipped."""
    coincidence: Counter[tuple[Hashable, Hashable]] = Counter()
    for unit in units:
        values = [v for v in unit if v is not None]
        m = len(values)
        if m < 2:
            continue
        for i, j in ((i, j) for i in range(m) for j in range(m) if i != j):
            coincidence[(values[i], values[j])] += 1 / (m - 1)
    n_c: Counter[Hashable] = Counter()
    for (c, _), w in coincidence.items():
        n_c[c] += w
    n = sum(n_c.values())
    if n <= 1:
        return None
    d_o = sum(w for (c, k), w in coincidence.items() if c != k) / n
    d_e = sum(n_c[c] * n_c[k] for c, k in combinations(n_c, 2)) * 2 / (n * (n - 1))
    if d_e == 0:
        return None if d_o == 0 else 0.0
    return 1 - d_o / d_e


def pairwise_kappa(ratings: dict[str, Sequence[Hashable | None]]) -> dict[str, float | None]:
    """Cohen's kappa for every pair of raters, over the items both rated: {"a|b": kappa}."""
    out: dict[str, float | None] = {}
    for x, y in combinations(sorted(ratings), 2):
        pairs = [(p, q) for p, q in zip(ratings[x], ratings[y], strict=True) if p is not None and q is not None]
        out[f"{x}|{y}"] = cohen_kappa([p for p, _ in pairs], [q for _, q in pairs])
    return out
