"""Terminal output of `mmsafe judge-eval`: per judge, a metrics table per label, accuracy by
language and by kind, and the worst misjudged rows. Text from the data file goes through plain()."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mmsafe.errors import printable
from mmsafe.report.leaderboard import plain

COLUMNS = ("accuracy", "precision", "recall", "specificity", "f1", "kappa")


def num(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def metrics_table(jid: str, blocks: dict[str, Any], info: dict[str, Any]) -> Table:
    title = f"judge {printable(jid)} on {info['n']} rows ({printable(str(info['file']))}, {info['split']})"
    t = Table(title=Text(title, style="table.title"), title_justify="left")
    for col in ("label", "n", *COLUMNS, "tp/fp/fn/tn", "undecided"):
        t.add_column(col, no_wrap=True, justify="left" if col == "label" else "right")
    for label, b in blocks.items():
        c = b["confusion"]
        t.add_row(label, str(b["n"]), *(num(b[k]) for k in COLUMNS), f"{c['tp']}/{c['fp']}/{c['fn']}/{c['tn']}",
                  str(b["undecided"]))
    return t


def group_table(jid: str, blocks: dict[str, Any], by: str) -> Table:
    t = Table(title=Text(f"judge {printable(jid)}: accuracy by {by} (n)", style="table.title"), title_justify="left")
    t.add_column(by, no_wrap=True)
    for label in blocks:
        t.add_column(label, justify="right", no_wrap=True)
    keys = sorted({k for b in blocks.values() for k in b[f"by_{by}"]})
    for k in keys:
        cells = []
        for b in blocks.values():
            g = b[f"by_{by}"].get(k)
            cells.append("" if g is None else f"{num(g['accuracy'])} ({g['n']})")
        t.add_row(plain(k), *cells)
    return t


def print_judge_eval(out: dict[str, Any], console: Console) -> None:
    info = out["data"]
    for jid, blocks in out["judges"].items():
        if not blocks:
            console.print(f"judge {plain(jid)} predicts none of the labels these rows carry")
            continue
        console.print(metrics_table(jid, blocks, info))
        console.print(group_table(jid, blocks, "language"))
        console.print(group_table(jid, blocks, "kind"))
        for label, b in blocks.items():
            if label == "harmful_on_unsafe" or not b["worst"]:
                continue
            console.print(f"worst misjudged rows for {label} (judge {plain(jid)}):")
            for w in b["worst"]:
                score = "" if w["score"] is None else f", score {w['score']:.2f}"
                console.print(f"  {plain(w['id'])} ({plain(w['language'])}, {plain(w['kind'])}): gold {w['gold']}, "
                              f"predicted {w['predicted']}{score}\n    prompt: {plain(w['prompt'])}\n"
                              f"    response: {plain(w['response'])}", highlight=False)
