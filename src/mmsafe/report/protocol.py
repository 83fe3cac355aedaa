"""Tables for the integrated protocol's suites: one per suite (language/benchmark, …), its rates
listed by where they sit in the results.json block ("by_dataset › bbq › accuracy"), each with its
95% interval. Every name from the run goes through plain()."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mmsafe.errors import printable
from mmsafe.report.leaderboard import plain

MAX_ROWS = 60  # per suite; results.json has them all


def is_rate(x: Any) -> bool:
    return isinstance(x, dict) and "value" in x and (x["value"] is None or isinstance(x["value"], (int, float)))


def shown(r: dict[str, Any]) -> str:
    v = r.get("value")
    if v is None:
        return "–"
    ci = r.get("ci95")
    if isinstance(v, float) and 0 <= v <= 1:
        head = f"{100 * v:.1f}%"
        return head + (f" ({100 * ci[0]:.0f}–{100 * ci[1]:.0f})" if ci else "")
    return f"{v:.3g}" + (f" ({ci[0]:.3g}–{ci[1]:.3g})" if ci else "")


def rates(block: Any, path: tuple[str, ...] = (), depth: int = 4) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(path, rate) for every rate in the block (and every plain score, such as an F1), depth-first,
    in the block's own order."""
    if not isinstance(block, dict) or depth < 0:
        return
    for k, v in block.items():
        if is_rate(v):
            yield (*path, str(k)), v
        elif isinstance(v, float) and not isinstance(v, bool):
            ci = block.get(f"{k}_ci95")
            yield (*path, str(k)), {"value": v, **({"ci95": ci} if isinstance(ci, list) and len(ci) == 2 else {})}
        elif isinstance(v, dict):
            yield from rates(v, (*path, str(k)), depth - 1)


def suite_table(model: str, judge: str, suite: str, block: dict[str, Any]) -> Table:
    t = Table(title=Text(printable(f"{model}: {suite} (judge: {judge}; 95% intervals)"), style="table.title"),
              title_justify="left")
    for col in ("measure", "value", "n"):
        t.add_column(col, no_wrap=col != "measure", justify="right" if col == "n" else "left")
    # the headline numbers first (macro, overall, per dataset…), one level of breakdown at most
    found = [(p, r) for p, r in rates(block) if sum(k.startswith("by_") for k in p[1:]) == 0]
    rows = sorted(found, key=lambda pr: len(pr[0]))
    for path, r in rows[:MAX_ROWS]:
        t.add_row(plain(" › ".join(path), 120), shown(r), str(r.get("n", "")))
    if len(rows) > MAX_ROWS:
        t.add_row(f"… {len(rows) - MAX_ROWS} more in results.json", "", "")
    notes = [f"{k}: {v}" for k, v in block.items() if isinstance(v, (int, str)) and k not in ("n",)]
    if notes:
        t.caption = plain("; ".join(notes), 300)
    return t


def print_protocol(res: dict[str, Any], console: Console) -> None:
    judge = res.get("primary_judge")
    block = ((res.get("judges") or {}).get(judge or "") or {}).get("protocol") or {}
    for suite, b in block.items():
        console.print(suite_table(printable(res["model"]), printable(str(judge)), suite, b))
