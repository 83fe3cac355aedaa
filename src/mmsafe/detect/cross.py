"""Cross-generator generalisation: train on one family, test on every family.

One seeded, family-stratified split (training.split) for everything. For each family A, a
detector is fitted on the training reals plus A's training fakes; it is then measured on the
held-out reals plus each family B's held-out fakes. Row A, column B of each matrix is that
measurement; the diagonal is the same-generator held-out score, off the diagonal is how well what
was learned on A carries over to B."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmsafe.detect.data import ImageSet, Prep, split
from mmsafe.detect.metrics import block
from mmsafe.detect.training import check_families, fit


def cross(kind: str, data: ImageSet, prep: Prep, options: dict[str, Any], test_fraction: float, seed: int) -> dict[str, Any]:
    check_families(data)
    train_items, test_items = split(data.items, test_fraction, seed)
    fams = data.families
    real_train = [i for i in train_items if i.label == 0]
    real_test = [i for i in test_items if i.label == 0]
    keys = ("accuracy", "average_precision", "roc_auc")
    mats: dict[str, list[list[float | None]]] = {k: [] for k in keys}
    cells: list[list[dict[str, Any]]] = []
    for a in fams:
        det = fit(kind, prep, {**options, "seed": seed}, real_train + [i for i in train_items if i.family == a])
        p_real = det.score(real_test)
        row = []
        for b in fams:
            fakes = [i for i in test_items if i.family == b and i.label == 1]
            p = np.concatenate([p_real, det.score(fakes)])
            row.append(block(np.asarray([0] * len(real_test) + [1] * len(fakes)), p))
        cells.append(row)
        for k in keys:
            mats[k].append([c[k]["value"] if k == "accuracy" else c[k] for c in row])
    diag = [mats["accuracy"][i][i] for i in range(len(fams))]
    off = [mats["accuracy"][i][j] for i in range(len(fams)) for j in range(len(fams)) if i != j]

    def mean(v):
        v = [x for x in v if x is not None]
        return round(float(np.mean(v)), 4) if v else None

    return {"detector": kind, "prep": prep.as_dict(), "families": fams, "rows": "trained on", "columns": "tested on",
            **mats, "cells": cells, "mean_accuracy_same_family": mean(diag), "mean_accuracy_other_families": mean(off),
            "split": {"test_fraction": test_fraction, "seed": seed, "train": len(train_items), "test": len(test_items)},
            "images": data.describe()}
