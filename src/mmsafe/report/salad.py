"""SaLAD tables for the terminal: accuracy on the unsafe set, the safe set and overall (95% Wilson
intervals) per judge and variant, the primary judge's per-category table, and the text-only
ablation (within one `salad:both` run, or between a run with images and a text-only run of the
same model). Every name from a run (model, judge, category) goes through plain()."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mmsafe.errors import printable
from mmsafe.metrics.salad import ablation_between
from mmsafe.report.leaderboard import pct, plain


def _table(title: str) -> Table:
    text = Text(printable(title), style="table.title")
    return Table(title=text, title_justify="left", min_width=min(len(text), 118))


def _points(d: dict[str, Any]) -> str:
    if d.get("diff") is None:
        return "–"
    lo, hi = d["ci95"]
    p = f"; McNemar p={d['p_mcnemar']:.3g}" if "p_mcnemar" in d else ""
    return f"{100 * d['diff']:+.1f} points (95% CI {100 * lo:+.1f} to {100 * hi:+.1f}{p})"


def by_variant(res: dict[str, Any]) -> Table | None:
    t = _table(f"{res['model']}: SaLAD accuracy (unsafe: warns about the hazard; safe: no refusal or over-caution; 95% Wilson)")
    for col in ("judge", "variant", "unsafe set", "safe set", "overall", "errors", "undecided", "n"):
        t.add_column(col, no_wrap=col != "judge", justify="right" if col in ("errors", "undecided", "n") else "left")
    rows = 0
    for name, block in res["judges"].items():
        for variant, b in ((block.get("salad") or {}).get("variants") or {}).items():
            c = b["counts"]
            t.add_row(plain(name), plain(variant), pct(b["unsafe"]), pct(b["safe"]), pct(b["overall"]),
                      str(c["errors"]), str(c["undecided"]), str(c["n"]))
            rows += 1
    return t if rows else None


def by_category(res: dict[str, Any], judge: str, section: dict[str, Any]) -> Table:
    t = _table(f"{res['model']}: SaLAD by category (judge: {judge})")
    for col in ("variant", "category", "unsafe set", "safe set", "overall"):
        t.add_column(col, no_wrap=col != "category")
    for variant, b in section["variants"].items():
        for cat, o in b["by_category"].items():
            t.add_row(plain(variant), plain(cat), pct(o["unsafe"]), pct(o["safe"]), pct(o["overall"]))
    return t


def print_salad(res: dict[str, Any], console: Console) -> None:
    """One run's SaLAD tables (nothing when the run has no SaLAD block)."""
    table = by_variant(res)
    if table is None:
        return
    console.print(table)
    judge = res.get("primary_judge")
    section = (res["judges"].get(judge or "") or {}).get("salad")
    if section:
        console.print(by_category(res, plain(str(judge)), section))
    for name, block in res["judges"].items():
        ab = (block.get("salad") or {}).get("ablation")
        if ab:
            console.print(f"SaLAD ablation ({plain(name)}, {ab['pairs']} questions paired): accuracy with the image "
                          f"minus text-only: overall {_points(ab['overall'])}; unsafe set {_points(ab['unsafe'])}; "
                          f"safe set {_points(ab['safe'])}")


def ablations(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each model with a run of SaLAD with images and a text-only run, per judge both have:
    the accuracy difference (image minus text-only)."""
    out = []
    for img in results:
        for txt in results:
            if img is txt or img["model"] != txt["model"]:
                continue
            for name, block in img["judges"].items():
                a = ((block.get("salad") or {}).get("variants") or {}).get("image")
                b = (((txt["judges"].get(name) or {}).get("salad") or {}).get("variants") or {}).get("text-only")
                if a and b and "text-only" not in ((block.get("salad") or {}).get("variants") or {}):
                    out.append({"model": img["model"], "judge": name, "image_run": img["run"]["out"],
                                "text_only_run": txt["run"]["out"], **ablation_between(a, b)})
    return out


def print_ablations(results: list[dict[str, Any]], console: Console) -> None:
    for ab in ablations(results):
        console.print(f"SaLAD ablation, {plain(ab['model'])} ({plain(ab['judge'])}), runs {plain(ab['image_run'])} "
                      f"(image) and {plain(ab['text_only_run'])} (text-only), unpaired: overall {_points(ab['overall'])}; "
                      f"unsafe set {_points(ab['unsafe'])}; safe set {_points(ab['safe'])}")
