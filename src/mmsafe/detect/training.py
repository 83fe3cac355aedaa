"""Training a detector on a seeded, family-stratified split and measuring it on the held-out part.

Each family (real counts as one) is split on its own: `test_fraction` of its distinct images
(by content hash, so a copy never sits on both sides) is held out. The detector is fitted on the
rest and measured on the held-out part only (evaluation.measure). A detector with nothing to learn
(http) is measured on every image."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmsafe.detect import detector_class
from mmsafe.detect.base import Detector
from mmsafe.detect.data import ImageSet, Item, Prep, arrays, split
from mmsafe.detect.evaluation import measure
from mmsafe.errors import UsageError


def check_families(data: ImageSet, need: int = 2) -> None:
    distinct: dict[str, set[str]] = {}  # copies of one image are one image: they stay on one side of a split
    for i in data.items:
        distinct.setdefault(i.family, set()).add(i.sha256)
    for fam, shas in sorted(distinct.items()):
        if len(shas) < need:
            what = "--real" if fam == "real" else f"--fake family {fam!r}"
            raise UsageError(f"{what}: {len(shas)} distinct image(s); at least {need} are needed "
                             "(one to train on, one held out; copies of one picture count once)")


def fit(kind: str, prep: Prep, options: dict[str, Any], items: list[Item]) -> Detector:
    det = detector_class(kind)(prep, options)
    if det.trainable:
        try:
            det.fit(arrays(items, prep), np.asarray([i.label for i in items]))
        except ValueError as exc:
            raise UsageError(f"training the {kind} detector: {exc}") from None
    return det


def train(kind: str, data: ImageSet, prep: Prep, options: dict[str, Any], test_fraction: float,
          seed: int) -> tuple[Detector, dict[str, Any], dict[str, Any], list[str]]:
    """(detector, training description, held-out results, SHA-256 of the training images)."""
    cls = detector_class(kind)
    if cls.trainable:
        check_families(data)
        train_items, test_items = split(data.items, test_fraction, seed)
    else:
        train_items, test_items = [], list(data.items)
    det = fit(kind, prep, {**options, "seed": seed}, train_items)
    training = {
        "images": data.describe(),
        "split": {"test_fraction": test_fraction, "seed": seed, "train": len(train_items), "test": len(test_items),
                  "stratified_by": "family"},
        "families": data.families,
    }
    return det, training, measure(det, test_items), [h for i in train_items for h in (i.sha256, i.file_sha256) if h]
