"""UniSAFE tables for a run whose cases carry UniSAFE tasks: ASR / ARR / RR per task and overall
(95% bootstrap intervals), per category, and the cross-task view. Every name from the run
(judge, category, risk id) goes through plain()."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mmsafe.errors import printable
from mmsafe.report.leaderboard import plain

MAX_TARGET_ROWS = 20  # risks shown in the "through in one task, not another" table
TASK_ORDER = ("TT", "IT", "MU", "TI", "IE", "IC", "MT")


def rate(r: dict[str, Any] | None) -> str:
    if not r or r.get("value") is None:
        return "–"
    lo, hi = r["ci95"]
    return f"{100 * r['value']:.1f}% ({100 * lo:.0f}–{100 * hi:.0f})"


def risk(r: dict[str, Any] | None) -> str:
    if not r or r.get("value") is None:
        return "–"
    lo, hi = r["ci95"]
    return f"{r['value']:.2f} ({lo:.2f}–{hi:.2f})"


def _tasks(section: dict[str, Any]) -> list[str]:
    return sorted(section["tasks"], key=lambda t: TASK_ORDER.index(t) if t in TASK_ORDER else 99)


def _table(title: str) -> Table:
    """A table whose title (untrusted names inside) is literal text and is not wrapped above a narrow table."""
    text = Text(printable(title), style="table.title")
    return Table(title=text, title_justify="left", min_width=min(len(text), 118))


def by_task(model: str, judge: str, section: dict[str, Any]) -> Table:
    t = _table(f"{model}: UniSAFE by task (judge: {judge}; ASR, ARR 0-3, RR; 95% bootstrap)")
    for col in ("task", "ASR", "ARR", "RR", "scored", "errors", "refused", "pending"):
        t.add_column(col, no_wrap=True, justify="right" if col in ("scored", "errors", "refused", "pending") else "left")
    for task in _tasks(section):
        b = section["tasks"][task]
        o, c = b["overall"] or {}, b["counts"]
        t.add_row(plain(task), rate(o.get("asr")), risk(o.get("arr")), rate(o.get("rr")),
                  str(c["scored"]), str(c["errors"]), str(c["refused"]), str(c["pending"]))
    o = section["overall"] or {}
    t.add_row("overall", rate(o.get("asr")), risk(o.get("arr")), rate(o.get("rr")), "", "", "", "", style="bold")
    return t


def by_category(model: str, section: dict[str, Any]) -> Table:
    t = _table(f"{model}: UniSAFE by category")
    for col in ("task", "category", "ASR", "ARR", "RR", "n"):
        t.add_column(col, no_wrap=col != "category", justify="right" if col == "n" else "left")
    for task in _tasks(section):
        for cat, o in section["tasks"][task]["categories"].items():
            t.add_row(plain(task), plain(cat), rate(o["asr"]), risk(o["arr"]), rate(o["rr"]), str(o["n"]))
    return t


def cross_task(model: str, section: dict[str, Any]) -> list[Table]:
    """Category x task ASR; then the risks that get through in some tasks and not in others."""
    tasks = _tasks(section)
    view = section["cross_task"]
    t = _table(f"{model}: UniSAFE ASR across tasks, per category")
    t.add_column("category")
    for task in tasks:
        t.add_column(plain(task), justify="right", no_wrap=True)
    for cat, row in view["by_category"].items():
        t.add_row(plain(cat), *("–" if row.get(k) is None else f"{100 * row[k]:.0f}%" for k in tasks))
    split = [(tid, v) for tid, v in view["by_target"].items()
             if len(v["tasks"]) > 1 and min(v["tasks"].values()) < 0.5 <= max(v["tasks"].values())]
    u = _table(f"{model}: risks unsafe in some tasks, safe in others ({len(split)}; "
               f"first {min(len(split), MAX_TARGET_ROWS)} shown; prompt ASR per task)")
    u.add_column("risk id")
    u.add_column("category")
    for task in tasks:
        u.add_column(plain(task), justify="right", no_wrap=True)
    for tid, v in split[:MAX_TARGET_ROWS]:
        u.add_row(plain(tid, 40), plain(v["category"]),
                  *("" if k not in v["tasks"] else f"{100 * v['tasks'][k]:.0f}%" for k in tasks))
    return [t, u] if split else [t]


def print_unisafe(res: dict[str, Any], console: Console) -> None:
    """The UniSAFE tables of every judge block that has a UniSAFE section: judges named unisafe
    first; if none is, only the primary judge's."""
    blocks = {n: b["unisafe"] for n, b in res["judges"].items() if b.get("unisafe")}
    chosen = [n for n in blocks if n.split("@")[0] == "unisafe"] or [n for n in blocks if n == res["primary_judge"]]
    model = printable(res["model"])
    for name in chosen:
        section = blocks[name]
        console.print(by_task(model, printable(name), section))
        console.print(by_category(model, section))
        for table in cross_task(model, section):
            console.print(table)
