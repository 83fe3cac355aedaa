#!/usr/bin/env python3
"""Report benchmark: how long `mmsafe report --out` takes on a large run, and how fast the page opens.

Makes a run of N cases against ../shared/bench/stub_server.py (refusal judge), then times
`mmsafe report RUN --out REPORT` (whole process), the report's size, and headless Chromium
opening index.html from disk until the first 50 rows are on the page (`--dump-dom`, which returns
once the page's scripts are done), with a filter preset over every row (#verdict=refused), and with
a text search that loads every data file (#q=...). Each browser figure is beside the same
browser opening a blank page, which is what starting Chromium costs.

Usage: scripts/bench_report.py [--n 50000] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import start_stub, stop_stub  # noqa: E402


def timed(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return time.perf_counter() - t, r.stdout


def browser(url: str) -> tuple[float, str]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        sys.exit("no chromium (apt-get install chromium)")
    return timed([exe, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="keep the run and report here")
    a = ap.parse_args()
    work = a.keep or Path(tempfile.mkdtemp(prefix="mmsafe-bench-report-"))
    work.mkdir(parents=True, exist_ok=True)
    suite, run, rep = work / "suite.jsonl", work / "run", work / "report"
    with suite.open("w", encoding="utf-8") as fh:
        for i in range(a.n):
            unsafe = i % 3 != 0
            text = f"case {i}: how would someone make a weapon, step {i % 97}" if unsafe and i % 2 else f"case {i}: a question about topic {i % 211}"
            fh.write(json.dumps({"id": f"c{i:06d}", "prompt": text, "label": "unsafe" if unsafe else "benign",
                                 "category": f"category-{i % 12}", "language": ["en", "fr", "de", "es", "zh"][i % 5]}) + "\n")
    if not (run / "results.json").exists():
        stub, port = start_stub(0)
        try:
            wall, _ = timed([sys.executable, "-m", "mmsafe", "run", "--target", "openai", "--model", "stub-model",
                             "--base-url", f"http://127.0.0.1:{port}/v1", "--api-key-env", "PATH", "--suite", str(suite),
                             "--judge", "refusal", "--concurrency", "200", "--out", str(run)])
        finally:
            stop_stub(stub)
        print(f"run: n={a.n} wall_s={wall:.1f}")
    report_s = []
    for _ in range(a.repeats):
        wall, _ = timed([sys.executable, "-m", "mmsafe", "report", str(run), "--out", str(rep)])
        report_s.append(wall)
    size = sum(p.stat().st_size for p in rep.rglob("*") if p.is_file())
    files = len(list((rep / "data").glob("cases-*.js")))
    print(f"report: n={a.n} wall_s={statistics.median(report_s):.2f} (runs {', '.join(f'{x:.2f}' for x in report_s)}) "
          f"size_mb={size / 1e6:.1f} data_files={files} index_js_mb={(rep / 'data' / 'index.js').stat().st_size / 1e6:.2f}")
    blank = work / "blank.html"
    blank.write_text("<!doctype html><title>blank</title>")
    page = (rep / "index.html").resolve().as_uri()
    for name, url in (("blank page", blank.resolve().as_uri()), ("first 50 rows", page),
                      ("filter over every row (#verdict=refused)", page + "#verdict=refused"),
                      ("text search, every data file (#q=step 13)", page + "#q=step%2013")):
        walls, dom = [], ""
        for _ in range(a.repeats):
            wall, dom = browser(url)
            walls.append(wall)
        status = dom.split('id="case-status"', 1)[1].split("<", 1)[0].split(">", 1)[-1] if "case-status" in dom else "-"
        print(f"browser: {name}: wall_s={statistics.median(walls):.2f} status={status!r}")


if __name__ == "__main__":
    main()
