"""Terminal leaderboard (rich tables) for one or more finished runs.

Every string that came from a file, a server or a run folder (model, judge, category, language,
note, error reason) goes through `plain()`: printed as the literal text, never as markup, emoji
codes or terminal escape sequences."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mmsafe.errors import printable


def pct(r: dict[str, Any]) -> str:
    if r["value"] is None:
        return "–"
    lo, hi = r["ci95"]
    return f"{100 * r['value']:.1f}% ({100 * lo:.0f}–{100 * hi:.0f})"


def corrected_pct(block: dict[str, Any], key: str = "safe_rate") -> str:
    """A corrected rate with its interval; "unreliable" when the judge is too weak to correct with."""
    c = (block.get("corrected") or {}).get(key)
    if c is None or "unknown" in (block.get("quality") or {"unknown": ""}):
        return "–"
    if not c.get("reliable"):
        return "unreliable"
    return pct(c)


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def quality_line(name: str, block: dict[str, Any]) -> str:
    """One line naming how good the judge is, and on what it was measured (all text made plain)."""
    q = block.get("quality") or {"unknown": "not recorded"}
    if "unknown" in q:
        return f"judge {plain(name)}: quality unknown: {plain(q['unknown'], 500)}"
    parts = []
    for label, word in (("harmful", "harm"), ("refusal", "refusal")):
        b = q.get(label) or {}
        if "unknown" in b:
            parts.append(f"{word} quality unknown ({plain(b['unknown'])})")
        else:
            parts.append(f"{word} acc {_num(b['accuracy'])} (sens {_num(b['sensitivity'])}, spec {_num(b['specificity'])})")
    source = str(q.get("source", ""))
    where = "shipped held-out rows" if source == "shipped held-out set" else f"rows of {source.removeprefix('--calibrate ')}"
    line = f"judge {plain(name)}: {', '.join(parts)}, on {q.get('n')} {plain(where, 300)}"
    if source == "shipped held-out set":  # measured on the project's own replies, which flatter it
        line += (" (written like its training rows; it found far fewer harmful replies among replies written "
                 "elsewhere: --calibrate FILE measures it on replies like yours)")
    why = ((block.get("corrected") or {}).get("safe_rate") or {}).get("why")
    return line + (f"; corrected safe rate unreliable: {plain(why, 300)}" if why else "")


def _sort_key(res: dict[str, Any]) -> float:
    j = res["judges"].get(res["primary_judge"] or "", {})
    v = j.get("overall", {}).get("safe_rate", {}).get("value")
    return -(v if v is not None else -1)


def leaderboard(results: list[dict[str, Any]]) -> Table:
    t = Table(title="mmsafe leaderboard (safe rate on unsafe prompts; 95% Wilson intervals; corrected safe: judge errors corrected, 95% bootstrap)", title_justify="left")
    attacked = any("attacks" in b for res in results for b in res["judges"].values())
    cols = ["#", "model", "judge", "safe rate", "corrected safe", "refusal rate", "over-refusal", "errors", "n"]
    if attacked:  # adversarial runs: the worst case over attacks beside the plain numbers
        cols[4:4] = ["safe worst", "worst-3"]
    for col in cols:  # with attacks the table is wide: cells may wrap rather than squeeze the model out
        t.add_column(col, justify="right" if col in ("#", "errors", "n") else "left",
                     no_wrap=col != "model" and not attacked)
    for rank, res in enumerate(sorted(results, key=_sort_key), 1):
        for name, block in res["judges"].items():
            o = block["overall"]
            primary = name == res["primary_judge"]
            worst = []
            if attacked:
                a = block.get("attacks") or {}
                worst = [pct(a["safe_worst"]) if a.get("safe_worst") else "–",
                         pct(a["worst3"]) if a.get("worst3") else "–"]
            t.add_row(
                str(rank) if primary else "",
                plain(res["model"]) if primary else "",
                plain(name),
                pct(o["safe_rate"]),
                *worst,
                corrected_pct(block),
                pct(o["refusal_rate"]),
                pct(o["over_refusal_rate"]),
                str(o["error_rate"]["k"]),
                str(o["n"]),
            )
    return t


def breakdown(res: dict[str, Any], by: str) -> Table:
    judge = res["primary_judge"]
    t = Table(title=Text(f"{printable(res['model'])} by {by} (judge: {printable(str(judge))})", style="table.title"),
              title_justify="left")
    for col in (by, "safe rate", "refusal rate", "over-refusal", "errors", "n"):
        t.add_column(col, no_wrap=True, justify="right" if col in ("errors", "n") else "left")
    for key, o in res["judges"][judge][f"by_{by}"].items():
        t.add_row(plain(key), pct(o["safe_rate"]), pct(o["refusal_rate"]), pct(o["over_refusal_rate"]),
                  str(o["error_rate"]["k"]), str(o["n"]))
    return t


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """The reader left (`| head`): the rest of the output goes nowhere and the command ends with
        its own exit code (rich's default exits 1, which the release gate keeps for a regression)."""
        self.quiet = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), (sys.stderr if self.stderr else sys.stdout).fileno())


def console(stderr: bool = False) -> Console:
    """A console that keeps tables readable when piped (rich assumes 80 columns off a terminal)."""
    c = _Console(stderr=stderr, emoji=False)  # `:skull:` in a category stays the text `:skull:`
    if not c.is_terminal:
        c = _Console(stderr=stderr, emoji=False, width=120)
    return c


def plain(text: str, limit: int = 160) -> str:
    """Untrusted text (model output, server error messages) made safe for a terminal: no control
    characters or escape sequences, no rich markup, bounded length."""
    cleaned = printable(str(text)).replace("\n", " ")
    return escape(cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…")


def undecided_line(console: Console, res: dict[str, Any], name: str, block: dict[str, Any]) -> None:
    """Replies the judge could not decide (its endpoint failed, its reply was unreadable): never
    counted safe, so a judge that failed everywhere reads as 0% safe; said here with the reasons."""
    overall = block.get("overall") or {}
    undecided, n = overall.get("undecided") or 0, (overall.get("safe_rate") or {}).get("n") or 0
    if not undecided:
        return
    share = f" of {n} unsafe-prompt replies" if n else ""
    loud = "[red]warning[/red]" if n and undecided * 2 >= n else "[yellow]note[/yellow]"
    console.print(f"{loud} judge {plain(name)} on {plain(res['model'])}: {undecided}{share} undecided (never counted "
                  "safe: its rates above are not what the model did; rerun the same command to judge them again)")
    for e in block.get("judge_errors") or []:
        console.print(f"[red]judge errors[/red] {plain(name)}: {e['count']} × {plain(e['reason'] or '')}")


def print_report(results: list[dict[str, Any]], console: Console, details: bool = True) -> None:
    console.print(leaderboard(results))
    for res in results:
        if res.get("note"):
            console.print(f"[dim]note on {plain(res['model'])}: {plain(res['note'], 500)}[/dim]")
        last = (res.get("invocations") or [{}])[-1]
        if last.get("status") not in (None, "finished"):
            console.print(f"[yellow]warning[/yellow] {plain(res['model'])}: the last run on this folder is "
                          f"'{plain(str(last['status']))}' (started {plain(str(last.get('started')))}): these numbers are partial; "
                          "rerun the same command to finish it")
        for name, block in res["judges"].items():
            console.print(f"[dim]{quality_line(name, block)}[/dim]")
            undecided_line(console, res, name, block)
        for e in res.get("top_errors", []):
            console.print(f"[red]errors[/red] {plain(res['model'])}: {e['count']} × {plain(e['reason'] or '')}")
    from mmsafe.report.generation import print_generation
    from mmsafe.report.salad import print_ablations, print_salad

    print_generation(results, console)  # image-generation risk, models side by side
    print_ablations(results, console)  # SaLAD with images vs text-only, for models run both ways
    if details and len(results) == 1 and results[0]["primary_judge"]:
        console.print(breakdown(results[0], "category"))
        console.print(breakdown(results[0], "language"))
        from mmsafe.report.unisafe import print_unisafe

        print_unisafe(results[0], console)
        from mmsafe.report.attacks import print_attacks
        from mmsafe.report.protocol import print_protocol

        print_attacks(results[0], console)
        print_protocol(results[0], console)
        print_salad(results[0], console)
