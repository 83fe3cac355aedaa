"""Detection metrics, overall and per generator family.

A detector's score is P(fake); an image is called fake at p >= THRESHOLD. For a family, the
images measured are every real image plus that family's fakes (the question: can it tell this
generator's output from real photos?). Per block:
- accuracy: share of images called correctly (real called real, fake called fake), with its
  Wilson 95% interval (metrics.rates.rate);
- real_accuracy: share of real images called real (1 - false-positive rate); fake_recall: share of
  fakes called fake (the detection rate);
- average_precision and roc_auc (sklearn.metrics, fake = positive class), threshold-free; None
  where one class is absent;
- errors: images the detector could not score (NaN), left out of everything above.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmsafe.metrics.rates import rate

THRESHOLD = 0.5


def block(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    bad = np.isnan(p)
    y, p = y[~bad], p[~bad]
    called = p >= THRESHOLD
    real, fake = y == 0, y == 1
    both = bool(real.any() and fake.any())
    return {
        "n_real": int(real.sum()), "n_fake": int(fake.sum()), "errors": int(bad.sum()),
        "accuracy": rate(int((called == fake).sum()), len(y)),
        "real_accuracy": rate(int((~called & real).sum()), int(real.sum())),
        "fake_recall": rate(int((called & fake).sum()), int(fake.sum())),
        "average_precision": round(float(average_precision_score(y, p)), 4) if both else None,
        "roc_auc": round(float(roc_auc_score(y, p)), 4) if both else None,
    }


def per_family(y: np.ndarray, p: np.ndarray, families: list[str]) -> dict[str, Any]:
    """{"overall": block, "families": {family: block over all reals + that family's fakes}}."""
    fam = np.asarray(families)
    out = {"overall": block(y, p), "families": {}}
    for f in sorted({f for f, label in zip(families, y) if label == 1}):
        mask = (y == 0) | (fam == f)
        out["families"][f] = block(y[mask], p[mask])
    return out


def accuracy(m: dict[str, Any]) -> float | None:
    return m["overall"]["accuracy"]["value"]
