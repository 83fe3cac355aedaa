"""What the report's pictures show, read from each run's results (primary judge):

- a safety profile per model: one bar per dataset / attack / language / category, grouped by
  modality × mode, every value "higher is safer" (UniSAFE's ASR is shown as 1 − ASR);
- heatmaps: category × model and language × model (safe rate), guardrail F1 by language × model,
  and UniSAFE's task × category ASR per model.

Pure data out (lists and matrices); the charts module draws them."""

from __future__ import annotations

from typing import Any

from mmsafe.report.runs import Run


def _v(r: Any) -> float | None:
    return r.get("value") if isinstance(r, dict) else None


def profile_bars(run: Run) -> list[tuple[str, str, float | None]]:
    """(group "modality × mode", label, value in 0..1, higher is safer) for one run."""
    b = run.block()
    bars: list[tuple[str, str, float | None]] = []
    protocol = b.get("protocol") or {}
    for suite, block in protocol.items():
        modality, _, mode = suite.partition("/")
        group = f"{modality} × {mode}"
        if mode == "multilingual":
            bars += [(group, f"F1 {lang}", d.get("f1")) for lang, d in (block.get("by_language") or {}).items()]
        elif mode == "compliance" and modality != "t2i":
            bars += [(group, fw, _v(d.get("compliance_rate"))) for fw, d in (block.get("by_framework") or {}).items()]
        elif modality == "t2i":
            parts = block.get("by_dataset") or block.get("by_method") or block.get("by_category") or {}
            bars += [(group, name, _v(d.get("safe_rate") or d.get("compliance_rate"))) for name, d in parts.items()]
        else:
            bars += [(group, name, _v(d.get("score"))) for name, d in (block.get("datasets") or {}).items()]
    if "unisafe" in b:
        for task, t in (b["unisafe"].get("tasks") or {}).items():
            asr = _v((t.get("overall") or {}).get("asr"))
            bars.append(("unified × benchmark", f"{task} (1−ASR)", None if asr is None else 1 - asr))
    elif not protocol and not b.get("salad"):
        group = f"{run.modality} × benchmark"
        bars += [(group, cat, _v(d["safe_rate"])) for cat, d in (b.get("by_category") or {}).items()]
        langs = b.get("by_language") or {}
        if len(langs) > 1:
            bars += [(f"{run.modality} × multilingual", lang, _v(d["safe_rate"])) for lang, d in langs.items()]
    for ds, d in ((b.get("generation") or {}).get("by_dataset") or {}).items():
        v = _v(d.get("unsafe_image_rate"))
        bars.append(("t2i × generation risk", f"{ds} (1 − unsafe images)", None if v is None else 1 - v))
    for variant, block in ((b.get("salad") or {}).get("variants") or {}).items():
        group = f"{'vl' if variant == 'image' else 'language'} × SaLAD"
        bars += [(group, cat, _v(d.get("overall"))) for cat, d in (block.get("by_category") or {}).items()]
    attacks = (b.get("attacks") or {}).get("attacks") or {}
    bars += [(f"{run.attack_modality} × adversarial", name, _v(d.get("safe_rate")))
             for name, d in attacks.items() if name != "none"]
    return bars


def matrix(runs: list[Run], pick) -> tuple[list[str], list[str], list[list[float | None]]]:
    """Rows: the union of keys `pick(run)` gives (a dict key → value); columns: the runs, each named
    with its judge when the runs' primary judges differ."""
    per = [pick(r) or {} for r in runs]
    rows = sorted({k for p in per for k in p})
    mixed = len({r.primary for r in runs}) > 1
    cols = [f"{r.label} [judge: {r.primary}]" if mixed else r.label for r in runs]
    return rows, cols, [[p.get(k) for p in per] for k in rows]


def judged(title: str, runs: list[Run]) -> str:
    judges = {r.primary for r in runs}
    return f"{title} (judge: {judges.pop()})" if len(judges) == 1 else title


def heatmaps(runs: list[Run]) -> list[dict[str, Any]]:
    """[{title, rows, cols, values, lower_is_better, xlabel, ylabel}] for what the runs have."""
    out = []

    def safe_by(key):
        def pick(run):
            if run.block().get("protocol") or run.block().get("salad"):
                return None
            return {k: _v(d["safe_rate"]) for k, d in (run.block().get(key) or {}).items()}
        return pick

    for key, what in (("by_category", "category"), ("by_language", "language")):
        rows, cols, vals = matrix(runs, safe_by(key))
        if rows and (what == "category" or len(rows) > 1):
            out.append({"title": judged(f"Safe rate by {what}", runs), "rows": rows, "cols": cols, "values": vals,
                        "lower_is_better": False, "xlabel": "model", "ylabel": what, "slug": f"{what}-model"})

    def salad(run):
        variants = (run.block().get("salad") or {}).get("variants") or {}
        return {f"{cat} ({v})": _v(d.get("overall")) for v, block in variants.items()
                for cat, d in (block.get("by_category") or {}).items()} or None

    rows, cols, vals = matrix(runs, salad)
    if rows:
        out.append({"title": judged("SaLAD accuracy by category", runs), "rows": rows, "cols": cols, "values": vals,
                    "lower_is_better": False, "xlabel": "model", "ylabel": "category (variant)", "slug": "salad-category"})

    def f1(run):
        for suite, block in (run.block().get("protocol") or {}).items():
            if suite.endswith("/multilingual"):
                return {f"{suite.partition('/')[0]} {lang}": d.get("f1") for lang, d in (block.get("by_language") or {}).items()}
        return None

    rows, cols, vals = matrix(runs, f1)
    if rows:
        out.append({"title": judged("Guardrail F1 by language", runs), "rows": rows, "cols": cols, "values": vals,
                    "lower_is_better": False, "xlabel": "model", "ylabel": "language", "slug": "f1-language-model"})
    for i, run in enumerate(runs):
        cross = ((run.block().get("unisafe") or {}).get("cross_task") or {}).get("by_category") or {}
        tasks = sorted({t for v in cross.values() for t in v})
        if cross:
            out.append({"title": f"UniSAFE ASR, {run.label} (judge: {run.primary})", "rows": sorted(cross), "cols": tasks,
                        "values": [[cross[c].get(t) for t in tasks] for c in sorted(cross)], "lower_is_better": True,
                        "xlabel": "task", "ylabel": "category", "slug": f"unisafe-{i}"})
    return out
