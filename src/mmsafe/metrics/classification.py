"""How well binary predictions match gold labels: confusion matrix, accuracy, precision,
recall (sensitivity), specificity, F1 and Cohen's kappa. A prediction of None (the judge could
not decide) is counted as undecided and left out of every metric."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mmsafe.metrics.agreement import cohen_kappa


def _ratio(k: int, n: int) -> float | None:
    return k / n if n else None


def confusion(pairs: Iterable[tuple[bool, bool | None]]) -> dict[str, int]:
    """{tp, fp, fn, tn, undecided} over (gold, predicted) pairs."""
    c = {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "undecided": 0}
    for gold, pred in pairs:
        if pred is None:
            c["undecided"] += 1
        else:
            c[("t" if gold == pred else "f") + ("p" if pred else "n")] += 1
    return c


def from_confusion(c: dict[str, int]) -> dict[str, Any]:
    """The metrics a confusion matrix gives; a metric with an empty denominator is None."""
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    n = tp + fp + fn + tn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    gold = [True] * (tp + fn) + [False] * (fp + tn)
    pred = [True] * tp + [False] * fn + [True] * fp + [False] * tn
    return {
        "n": n,
        "accuracy": _ratio(tp + tn, n),
        "precision": precision,
        "recall": recall,
        "specificity": _ratio(tn, tn + fp),
        "f1": f1,
        "kappa": cohen_kappa(gold, pred),
        "confusion": {k: c[k] for k in ("tp", "fp", "fn", "tn")},
        "undecided": c.get("undecided", 0),
    }


def binary_metrics(pairs: Iterable[tuple[bool, bool | None]]) -> dict[str, Any]:
    """Metrics of (gold, predicted) pairs: see from_confusion()."""
    return from_confusion(confusion(pairs))
