"""`mmsafe report DIR... --out REPORT_DIR`: a report folder people can open from disk and share.

REPORT_DIR/
  index.html            leaderboards (tables + bar charts), safety profiles, heatmaps, case table
  report.css report.js  the page's own style and script (no CDN, no network)
  charts/*.png          every chart in a light and a dark variant (the page picks by colour scheme)
  leaderboards/*.md|csv each leaderboard as Markdown and CSV
  data/*.js img/*.png   the case rows page by page, thumbnails stored once (see case_pages)

Everything from a run (model names, prompts, replies, reasons, categories) is untrusted: the page
is rendered by Jinja2 with autoescape, its Content-Security-Policy allows scripts from the
report's own files only (no inline script), and its JavaScript writes data with textContent."""

from __future__ import annotations

import csv
import io
import re
import shutil
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from mmsafe import __version__
from mmsafe.errors import UsageError
from mmsafe.report import charts
from mmsafe.report.boards import Board, build_boards, noise_sentence, store_case_scores
from mmsafe.report.case_pages import write_cases
from mmsafe.report.markdown import md
from mmsafe.report.profiles import heatmaps, profile_bars
from mmsafe.report.runs import Run, load_runs

MARKER = ".mmsafe-report"
OURS = ("index.html", "report.css", "report.js", "charts", "leaderboards", "data", "img", MARKER)


def prepare(out: Path) -> None:
    """An empty or missing folder, or an earlier report (replaced): never someone else's files."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: a file is in the way; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UsageError(f"--out {out}: the folder holds other files; give an empty or new folder "
                         "(an earlier mmsafe report there is replaced)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in OURS:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        for sub in ("charts", "leaderboards"):
            (out / sub).mkdir()
        (out / MARKER).write_text("written by mmsafe report; the whole folder is replaced on the next report here\n")
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from None


def pct(v: float | None, percent: bool = True) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f}%" if percent else f"{v:.3f}"


def ci_text(ci, percent: bool = True) -> str:
    if not ci:
        return "–"
    return f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}" if percent else f"{ci[0]:.3f}–{ci[1]:.3f}"


def board_rows(board: Board, runs: list[Run]) -> list[dict[str, Any]]:
    """Primary-judge rows in rank order, each followed by the other judges' rows for that run."""
    rows = []
    for rank, e in enumerate(board.ranked(), 1):
        for x in [e, *[o for o in board.entries if o.run == e.run and not o.primary]]:
            rows.append({"rank": rank if x.primary else "", "model": runs[x.run].label if x.primary else "",
                         "judge": x.judge, "value": pct(x.value, board.percent), "ci": ci_text(x.ci95, board.percent),
                         "n": x.n if x.n is not None else "–", "quality": x.quality, "primary": x.primary,
                         "raw": x, "run_label": runs[x.run].label})
    return rows


def md_cell(text: Any) -> str:
    return md(text, 300)


def write_tables(board: Board, rows: list[dict[str, Any]], folder: Path, stem: str) -> None:
    head = ["rank", "model", "judge", board.metric, "ci95_low", "ci95_high", "n", "judge quality"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head)
    for r in rows:
        e = r["raw"]
        cells = [r["rank"], r["run_label"], e.judge, "" if e.value is None else round(e.value, 6),
                 *(("", "") if not e.ci95 else (round(e.ci95[0], 6), round(e.ci95[1], 6))), "" if e.n is None else e.n,
                 e.quality]
        w.writerow([("'" + c) if isinstance(c, str) and c[:1] in ("=", "+", "-", "@", "\t", "\r") else c for c in cells])
    (folder / f"{stem}.csv").write_text(buf.getvalue(), encoding="utf-8")
    lines = [f"### {md_cell(board.key)}: {md_cell(board.metric)}", "",
             "| # | model | judge | value | 95% CI | n | judge quality |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['rank']} | {md_cell(r['run_label'])} | {md_cell(r['judge'])} | {r['value']} | {r['ci']} | {r['n']} | "
              f"{md_cell(r['quality'])} |" for r in rows]
    if board.noise:
        lines += ["", *(f"- {md_cell(noise_sentence(item, board.percent))}" for item in board.noise)]
    (folder / f"{stem}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def save_chart(folder: Path, name: str, fn, *args, **kw) -> str:
    for theme, png in charts.render_both(fn, *args, **kw).items():
        (folder / "charts" / f"{name}-{theme}.png").write_bytes(png)
    return name


def run_facts(run: Run) -> dict[str, Any]:
    res = run.results
    spec = res.get("run") or {}
    counts = res.get("counts") or {}
    caveats = []
    if res.get("note"):
        caveats.append(str(res["note"]))
    backends = [str(b) for b in res.get("backends") or []]
    if len(backends) > 1:
        caveats.append("replies came from more than one decoding setup (" + "; ".join(backends)
                       + "): greedy replies can differ between them")
    last = (res.get("invocations") or [{}])[-1]
    if last.get("status") not in (None, "finished"):
        caveats.append(f"the last run on this folder is '{last['status']}': these numbers are partial")
    if counts.get("errors"):
        caveats.append(f"{counts['errors']} of {counts.get('generations')} requests ended in an error (never counted safe)")
    return {"label": run.label, "suite": spec.get("suite", "?"), "target": spec.get("target", "?"),
            "judges": run.judges, "cases": counts.get("cases", "?"), "errors": counts.get("errors", 0),
            "folder": str(run.folder), "caveats": caveats}


def build(folders: list[Path], out: Path) -> dict[str, Any]:
    """Write the report folder; return what was written (for the command's summary line)."""
    runs = load_runs(folders)  # a folder that is not a run fails here, before anything is written
    prepare(out)
    boards = build_boards(runs, store_case_scores(runs))
    shown_boards = []
    for i, board in enumerate(boards):
        rows = board_rows(board, runs)
        # modality and mode can come from a user's case metadata: only safe characters reach a file name
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", f"board-{i + 1:02d}-{board.modality}-{board.mode}")[:80]
        write_tables(board, rows, out / "leaderboards", stem)
        ranked = board.ranked()
        bars = [(runs[e.run].label, e.value, *(e.ci95 or (None, None))) for e in ranked]
        short = board.metric.split(" (")[0]
        chart = save_chart(out, f"board-{i + 1:02d}", charts.bar_chart, f"{board.key}: {short}", bars,
                           xlabel=f"{short} (judge: {ranked[0].judge if ranked else '?'})",
                           percent=board.percent, lower_is_better=board.lower_is_better)
        shown_boards.append({"key": board.key, "metric": board.metric, "lower_is_better": board.lower_is_better,
                             "short": "value", "rows": rows, "chart": chart,
                             "noise": [noise_sentence(item, board.percent) for item in board.noise],
                             "md": f"leaderboards/{stem}.md", "csv": f"leaderboards/{stem}.csv"})
    profiles = []
    for i, run in enumerate(runs):
        bars = profile_bars(run)
        if bars:
            chart = save_chart(out, f"profile-{i + 1:02d}", charts.radial_profile,
                               f"{run.label} (judge: {run.primary})", bars)
            profiles.append({"model": run.label, "chart": chart})
    maps = []
    for i, h in enumerate(heatmaps(runs)):
        chart = save_chart(out, f"heatmap-{i + 1:02d}", charts.heatmap, h["title"], h["rows"], h["cols"], h["values"],
                           lower_is_better=h["lower_is_better"], xlabel=h["xlabel"], ylabel=h["ylabel"])
        maps.append({"title": h["title"], "chart": chart})
    counts = write_cases(runs, out)
    for name in ("report.css", "report.js"):
        (out / name).write_bytes(resources.files("mmsafe.report").joinpath("static", name).read_bytes())
    page = render_page(runs=[run_facts(r) for r in runs], boards=shown_boards, profiles=profiles, heatmaps=maps,
                       generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version=__version__)
    (out / "index.html").write_text(page, encoding="utf-8")
    return {"index": out / "index.html", "boards": len(shown_boards), "profiles": len(profiles),
            "heatmaps": len(maps), **counts}


def render_page(**context: Any) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("mmsafe.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("index.html.j2").render(**context)
