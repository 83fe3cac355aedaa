"""Measuring a detector on labelled images, with and without the format control.

The same detector scores the same images twice: once preprocessed its own way, once the other
way (data.Prep.flipped). `format_control` sets the two side by side: `without_control` (pixels as
they are) and `with_control` (both sets re-encoded to the same format, quality and size), and
`accuracy_removed` = accuracy without minus accuracy with, overall and per family. For a detector
trained without the control, a large value says much of its accuracy came from format, compression
or size differences between the real and fake sets rather than from the generator's traces."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmsafe.detect.base import Detector
from mmsafe.detect.data import Item, skip_note
from mmsafe.detect.metrics import per_family


def _removed(raw: dict[str, Any], controlled: dict[str, Any]) -> float | None:
    a, b = raw["accuracy"]["value"], controlled["accuracy"]["value"]
    return None if a is None or b is None else round(a - b, 4)


def scored(det: Detector, items: list[Item], control: bool) -> tuple[dict[str, Any], list[str]]:
    prep = det.prep if det.prep.control == control else det.prep.flipped()
    y = np.asarray([i.label for i in items])
    p = det.score(items, prep)
    return per_family(y, p, [i.family for i in items]), list(getattr(det, "errors", []))


def measure(det: Detector, items: list[Item]) -> dict[str, Any]:
    """{"metrics": under the detector's own preprocessing, "format_control": both ways, "errors"}."""
    own, errors = scored(det, items, det.prep.control)
    other, more = scored(det, items, not det.prep.control)
    raw, controlled = (other, own) if det.prep.control else (own, other)
    removed = {"overall": _removed(raw["overall"], controlled["overall"]),
               "families": {f: _removed(raw["families"][f], controlled["families"][f]) for f in raw["families"]}}
    return {
        "metrics": own,
        "format_control": {"without_control": raw, "with_control": controlled, "accuracy_removed": removed},
        "errors": skip_note(errors + more),
    }
