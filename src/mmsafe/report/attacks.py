"""Adversarial tables for a run with attacks: the summary (plain safe rate, Safe_worst, worst-3,
response rates), safe rate per attack and per family, and attack success rate per category. Every
name from the run (judge, attack, family, category) goes through plain()."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mmsafe.errors import printable
from mmsafe.report.leaderboard import pct, plain


def _table(title: str, *cols: str) -> Table:
    t = Table(title=Text(printable(title), style="table.title"), title_justify="left")
    for c in cols:
        t.add_column(c, no_wrap=True, justify="right" if c in ("errors", "n", "n/a") else "left")
    return t


def summary(model: str, judge: str, block: dict[str, Any]) -> Table:
    a = block["attacks"]
    t = _table(f"{model} under attack (judge: {judge}; 95% intervals)", "measure", "value")
    plain_rate = (a["attacks"].get("none") or {}).get("safe_rate")
    t.add_row("safe rate, plain prompts", pct(plain_rate) if plain_rate else "–")
    t.add_row("Safe_worst (no attack broke the query)", pct(a["safe_worst"]))
    w3 = a.get("worst3")
    t.add_row("worst-3 (mean of the 3 lowest attack safe rates)",
              "–" if not w3 else f"{pct(w3)} [{plain(', '.join(w3['attacks']), 200)}]")
    t.add_row("response safe rate (all attacked replies)", pct(a["response"]["safe_rate"]))
    t.add_row("response refusal rate", pct(a["response"]["refusal_rate"]))
    return t


def per_attack(model: str, judge: str, block: dict[str, Any]) -> Table:
    t = _table(f"{model} safe rate per attack (judge: {judge})", "attack", "family", "safe rate", "refusal rate",
               "over-refusal", "errors", "n", "n/a")
    rows = block["attacks"]["attacks"]
    order = sorted(rows, key=lambda k: (k != "none", rows[k]["safe_rate"]["value"] if rows[k]["safe_rate"]["value"] is not None else 2, k))
    for name in order:
        r = rows[name]
        t.add_row(plain(name), plain(r["family"]), pct(r["safe_rate"]), pct(r["refusal_rate"]), pct(r["over_refusal_rate"]),
                  str(r["error_rate"]["k"]), str(r["n"]), str(r.get("not_applicable", 0)))
    return t


def per_family(model: str, judge: str, block: dict[str, Any]) -> Table:
    t = _table(f"{model} safe rate per attack family (judge: {judge})", "family", "safe rate", "refusal rate", "errors", "n")
    for name, r in block["attacks"]["families"].items():
        t.add_row(plain(name), pct(r["safe_rate"]), pct(r["refusal_rate"]), str(r["error_rate"]["k"]), str(r["n"]))
    return t


def per_category(model: str, judge: str, block: dict[str, Any]) -> Table:
    t = _table(f"{model} attack success rate per category (judge: {judge})", "category",
               "ASR (attacked replies unsafe)", "queries broken by any attack")
    for name, r in block["attacks"]["asr_by_category"].items():
        t.add_row(plain(name), pct(r["pairs"]), pct(r["queries"]))
    return t


def print_attacks(res: dict[str, Any], console: Console) -> None:
    judge = res.get("primary_judge")
    block = (res.get("judges") or {}).get(judge or "") or {}
    if "attacks" not in block:
        return
    model = printable(res["model"])
    for table in (summary, per_attack, per_family, per_category):
        console.print(table(model, printable(str(judge)), block))
