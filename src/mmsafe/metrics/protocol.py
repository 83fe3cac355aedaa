"""The integrated protocol's metrics: the plain replies to a protocol suite's cases, grouped by the
suite they belong to (modality/mode from the case's metadata), each group summarized by its mode's
own metrics:

  */benchmark      safe rate per dataset and macro over datasets (rule-scored BBQ by rule)
  */multilingual   the target as a guardrail: binary F1 (unsafe positive) per language and averaged
  */compliance     compliance rate per framework and per dimension (rule, keyword or rubric per variant)
  t2i/benchmark    safe rate with blocks and missing images as refusals, images judged by an image judge
  t2i/adversarial  toxicity-scored images: safe rate per method and category, worst case over methods

A row is (case, its plain generation or None, the judge's verdict on it or None)."""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from mmsafe.schema import Case, Generation, Verdict

Row = tuple[Case, Generation | None, Verdict | None]

# (modality, mode) or mode -> "module:function" computing that group's block
SUMMARIZERS = {
    ("t2i", "benchmark"): "mmsafe.metrics.t2i:summarize_benchmark",
    ("t2i", "adversarial"): "mmsafe.metrics.t2i:summarize_adversarial",
    ("t2i", "compliance"): "mmsafe.metrics.t2i:summarize_compliance",
    "benchmark": "mmsafe.metrics.benchmark:summarize",
    "multilingual": "mmsafe.metrics.guardrail:summarize",
    "compliance": "mmsafe.metrics.compliance:summarize",
}


def summarizer(modality: str, mode: str):
    path = SUMMARIZERS.get((modality, mode)) or SUMMARIZERS.get(mode)
    if path is None:
        return None
    module, _, fn = path.partition(":")
    try:
        return getattr(importlib.import_module(module), fn)
    except (ImportError, AttributeError):
        return None


def summarize_protocol(rows: Iterable[Row]) -> dict[str, Any]:
    """{"language/benchmark": {...}, …} for every suite the rows' cases belong to."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        meta = row[0].metadata
        if "mode" in meta and "modality" in meta:
            groups[(meta["modality"], meta["mode"])].append(row)
    out: dict[str, Any] = {}
    for (modality, mode), group in sorted(groups.items()):
        fn = summarizer(modality, mode)
        out[f"{modality}/{mode}"] = fn(group) if fn else {"n": len(group), "note": "no metrics for this mode yet"}
    return out
