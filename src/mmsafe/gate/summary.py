"""What `mmsafe compare` shows: a Markdown summary fit for a pull-request comment, and a terminal
print (rich tables).

Prompts, replies, verdict reasons, case ids, categories, model and judge names come from run
folders and model outputs: untrusted. In Markdown every such string is made inert
(`report.markdown.md`); in a terminal they go through `leaderboard.plain()`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from mmsafe.gate.compare import WORDS, fmt_p, pts
from mmsafe.report.leaderboard import plain
from mmsafe.report.markdown import md

def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _ci(d: dict[str, Any]) -> str:
    if d["n"] == 0:
        return "–"
    lo, hi = d["ci95"]
    return f"{pts(d['diff'])} ({pts(lo)} to {pts(hi)})"


def _p(d: dict[str, Any], key: str = "p_mcnemar") -> str:
    return "–" if d["n"] == 0 else fmt_p(d[key]).lstrip("=")


def _headline(res: dict[str, Any]) -> tuple[str, str]:
    g = res["gate"]
    word = {"regression": "REGRESSION", "pass": "PASS"}.get(g["decision"], "NO DATA")
    return word, g["reason"]


def markdown(res: dict[str, Any], max_flips: int = 20) -> str:
    g = res["gate"]
    word, reason = _headline(res)
    b, c = res["baseline"], res["candidate"]
    out = [f"**mmsafe compare: {word}** (judge {md(g['judge'], 80)}): {md(reason, 1000)}", ""]
    if g["over_refusal"]:
        out += [f"Note: {md(g['over_refusal'], 1000)}", ""]
    out += [f"Baseline {md(b['model'], 120)} vs candidate {md(c['model'], 120)} on suite {md(b['suite'], 120)}: "
            f"{res['cases']} judge-scored cases paired; margin {100 * g['margin']:g} points; "
            f"95% paired bootstrap intervals, exact McNemar tests, Holm across categories\\.", ""]
    for n in res["notes"]:
        out.append(f"- {md(n, 500)}")
    if res["notes"]:
        out.append("")
    for judge, metrics in res["judges"].items():
        out += [f"#### Judge {md(judge, 80)}", "",
                "| metric | baseline | candidate | difference, points (95% CI) | McNemar p | worse / better | n |",
                "|---|---|---|---|---|---|---|"]
        for m, block in metrics.items():
            d = block["overall"]
            mark = " \\*" if d["significant"] else ""
            out.append(f"| {WORDS[m]} | {_pct(d['baseline'])} | {_pct(d['candidate'])} | {_ci(d)}{mark} | {_p(d)} "
                       f"| {d['worse']} / {d['better']} | {d['n']} |")
        out.append("")
        rows = _category_rows(judge, metrics, judge == g["judge"])
        if rows:
            out += rows + [""]
    out += _flips_md(res, max_flips)
    out += ["", "\\* significant at 95%: McNemar p < 0\\.05 and the interval excludes 0 \\(categories: "
            "Holm\\-adjusted p < 0\\.05\\)\\."]
    return "\n".join(out) + "\n"


def _category_rows(judge: str, metrics: dict[str, Any], gate_judge: bool) -> list[str]:
    """The gate judge's safe rate in every category; elsewhere only the significant categories."""
    rows = []
    for m, block in metrics.items():
        for cat, d in block["by_category"].items():
            if (gate_judge and m == "safe_rate") or d["significant"]:
                mark = " \\*" if d["significant"] else ""
                rows.append(f"| {md(cat, 80)} | {WORDS[m]} | {_pct(d['baseline'])} | {_pct(d['candidate'])} | "
                            f"{_ci(d)}{mark} | {_p(d)} | {_p(d, 'p_holm')} | {d['worse']} / {d['better']} | {d['n']} |")
    if not rows:
        return []
    return ["| category | metric | baseline | candidate | difference, points (95% CI) | p | p (Holm) | worse / better | n |",
            "|---|---|---|---|---|---|---|---|---|", *rows]


def _flips_md(res: dict[str, Any], max_flips: int) -> list[str]:
    f = res["flips"]
    if not f["count"]:
        return [f"No case became unsafe under judge {md(f['judge'], 80)}\\."]
    shown = f["cases"][:max_flips]
    out = [f"#### Cases that became unsafe under judge {md(f['judge'], 80)}: {f['count']}"
           + (f" \\(first {len(shown)} shown; all in --json\\)" if len(shown) < f["count"] else ""), ""]
    if not shown:
        return out
    out += ["| id | category | prompt | baseline reply | candidate reply | candidate verdict |", "|---|---|---|---|---|---|"]
    for x in shown:
        out.append(f"| {md(x['id'], 60)} | {md(x['category'], 40)} | {md(x['prompt'], 160)} | {md(x['baseline_reply'], 160)} "
                   f"| {md(x['candidate_reply'], 200)} | {md(x['candidate_reason'], 120)} |")
    return out


def print_compare(res: dict[str, Any], console: Console, max_flips: int = 20) -> None:
    g = res["gate"]
    word, reason = _headline(res)
    colour = {"REGRESSION": "red", "PASS": "green"}.get(word, "yellow")
    console.print(f"[bold {colour}]{word}[/bold {colour}] (judge {plain(g['judge'])}): {plain(reason, 1000)}")
    if g["over_refusal"]:
        console.print(f"[yellow]note:[/yellow] {plain(g['over_refusal'], 1000)}")
    b, c = res["baseline"], res["candidate"]
    console.print(f"baseline {plain(b['model'])} ({plain(b['out'], 300)}) vs candidate {plain(c['model'])} "
                  f"({plain(c['out'], 300)}): {res['cases']} cases paired")
    for n in res["notes"]:
        console.print(f"[dim]note: {plain(n, 500)}[/dim]")
    for judge, metrics in res["judges"].items():
        t = Table(title=f"judge {plain(judge)} (candidate − baseline; * significant at 95%)", title_justify="left")
        for col in ("metric", "baseline", "candidate", "difference, points (95% CI)", "McNemar p", "worse / better", "n"):
            t.add_column(col, no_wrap=True)
        for m, block in metrics.items():
            d = block["overall"]
            t.add_row(WORDS[m], _pct(d["baseline"]), _pct(d["candidate"]), _ci(d) + (" *" if d["significant"] else ""),
                      _p(d), f"{d['worse']} / {d['better']}", str(d["n"]))
        console.print(t)
        if judge == g["judge"]:
            console.print(_category_table(judge, metrics["safe_rate"]))
    f = res["flips"]
    shown = f["cases"][:max_flips]
    if f["count"]:
        more = f" (first {len(shown)})" if len(shown) < f["count"] else ""
        console.print(f"[bold]{f['count']} case(s) became unsafe under judge {plain(f['judge'])}{more}[/bold]")
    for x in shown:
        console.print(f"[bold]{plain(x['id'], 80)}[/bold] ({plain(x['category'], 60)}) prompt: {plain(x['prompt'], 300)}")
        console.print(f"  baseline: {plain(x['baseline_reply'], 300)}")
        console.print(f"  candidate: {plain(x['candidate_reply'], 300)}")
        console.print(f"  [dim]verdict: {plain(x['candidate_reason'], 300)}[/dim]")


def _category_table(judge: str, block: dict[str, Any]) -> Table:
    t = Table(title=f"safe rate by category (judge {plain(judge)}; p Holm-adjusted across categories)",
              title_justify="left")
    for col in ("category", "baseline", "candidate", "difference, points (95% CI)", "p (Holm)", "worse / better", "n"):
        t.add_column(col, no_wrap=col != "category")
    for cat, d in block["by_category"].items():
        t.add_row(plain(cat, 60), _pct(d["baseline"]), _pct(d["candidate"]),
                  _ci(d) + (" *" if d["significant"] else ""), _p(d, "p_holm"), f"{d['worse']} / {d['better']}", str(d["n"]))
    return t
