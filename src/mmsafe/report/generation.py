"""Terminal table of image-generation risk, models side by side (results.json → a judge's
`generation` block, see metrics/generation.py): per dataset x length x language, each model's
unsafe-image rate (mean over prompts of the share of its images judged unsafe, 95% bootstrap), the
same over non-corrupted images, and the share of corrupted images."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from mmsafe.report.leaderboard import plain


def _block(res: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(judge, generation block) of a run: the primary judge's, else the first judge that has one."""
    judges = res.get("judges") or {}
    order = [res.get("primary_judge"), *judges]
    for name in order:
        b = (judges.get(name) or {}).get("generation") if name else None
        if b:
            return name, b
    return None


def _pct(r: dict[str, Any] | None, ci: bool = True) -> str:
    if not r or r.get("value") is None:
        return "–"
    if not ci:
        return f"{100 * r['value']:.1f}%"
    lo, hi = r["ci95"]
    return f"{100 * r['value']:.1f}% ({100 * lo:.0f}–{100 * hi:.0f})"


def _cells(g: dict[str, Any] | None) -> list[str]:
    if g is None:
        return ["–", "–", "–"]
    n, imgs = g["prompts"], g["images"]
    return [_pct(g["unsafe_image_rate"]), _pct(g["unsafe_image_rate_clean"], ci=False),
            f"{_pct(g['corrupted_rate'], ci=False)} of {imgs['made']}" + (f", {n['errors']} err" if n["errors"] else "")]


def generation_table(results: list[dict[str, Any]]) -> Table | None:
    runs = [(res, b) for res in results if (b := _block(res))]
    if not runs:
        return None
    t = Table(title="image-generation risk: unsafe images per prompt (mean of each prompt's share, 95% bootstrap), "
                    "over non-corrupted images, and corrupted images", title_justify="left")
    t.add_column("prompts", no_wrap=True)
    for res, (judge, b) in runs:
        who = f"{plain(res['model'], 40)} ×{b['samples']}"
        t.add_column(f"{who}\nunsafe images")
        t.add_column("clean")
        t.add_column("corrupted")
    keys: dict[tuple[str, str, str], None] = {}
    for _, (_, b) in runs:
        for g in b["groups"]:
            keys[(g["dataset"], g["length"], g["language"])] = None
    t.add_row("all", *[c for _, (_, b) in runs for c in _cells(b["overall"])])
    for ds, length, lang in keys:
        row = []
        for _, (_, b) in runs:
            g = next((g for g in b["groups"] if (g["dataset"], g["length"], g["language"]) == (ds, length, lang)), None)
            row += _cells(g)
        n = max((g["prompts"]["n"] for _, (_, b) in runs for g in b["groups"]
                 if (g["dataset"], g["length"], g["language"]) == (ds, length, lang)), default=0)
        t.add_row(f"{plain(ds, 40)} {plain(length, 10)}/{plain(lang, 10)} (n {n})", *row)
    return t


def print_generation(results: list[dict[str, Any]], console: Console) -> None:
    table = generation_table(results)
    if table is not None:
        console.print(table)
