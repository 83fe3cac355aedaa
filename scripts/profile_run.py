#!/usr/bin/env python3
"""Where a run's time goes: `mmsafe run` against ../shared/bench/stub_server.py under py-spy.

Starts the stub with latency L, writes N prompts (as scripts/bench.py does), records the whole
`mmsafe run --judge refusal` process with `py-spy record -r RATE -f raw` (every thread), and prints
the share of samples per thread and the functions with the most samples: inclusive (the function
and what it calls) and self (the function's own lines). Needs py-spy (`pip install py-spy`).

Usage: scripts/profile_run.py [--n 20000] [--latency-ms 0] [--conc 100] [--rate 200] [--top 40] [--echo] [--gil]
       [--callees 'FUNC (file.py)']
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import start_stub, stop_stub, write_suite  # noqa: E402


def frame_name(frame: str) -> str:
    """`func (path/to/file.py:12)` -> `func (file.py)`: lines of one function counted together."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else frame


def summarize(raw: Path, top: int, callees: str | None = None) -> None:
    children: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        total += n
        threads["event loop (main thread)" if frames[0].startswith("_run_module_as_main") else
                "other threads (store writer, judges, progress)"] += n
        own[frame_name(frames[-1])] += n
        names = [frame_name(f) for f in frames]
        for f in set(names):
            inclusive[f] += n
        if callees in names:  # what the function's own time and its callees' add up to
            i = len(names) - 1 - names[::-1].index(callees)
            children[names[i + 1] if i + 1 < len(names) else "(self)"] += n
    if not total:
        sys.exit("py-spy recorded no samples")
    print(f"samples: {total}")
    shown = [("threads", threads), ("inclusive", inclusive), ("self", own)]
    if callees:
        shown.append((f"callees of {callees}", children))
    for title, counter in shown:
        print(f"== {title}")
        for name, n in counter.most_common(top):
            print(f"{n:7d} {n / total:6.1%}  {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--conc", type=int, default=100)
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--echo", action="store_true", help="the stub's answers repeat the prompt: distinct replies")
    ap.add_argument("--callees", help="also split this function's samples by its direct callees, "
                    "e.g. '_one (runner.py)'")
    ap.add_argument("--gil", action="store_true", help="sample only the thread that holds the GIL (py-spy --gil): "
                    "what keeps the event loop from running")
    a = ap.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("needs py-spy: pip install py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        suite, raw = Path(tmp) / "suite.jsonl", Path(tmp) / "profile.txt"
        write_suite(suite, a.n)
        stub, port = start_stub(a.latency_ms, a.echo)
        try:
            proc = subprocess.run(
                [spy, "record", "-r", str(a.rate), "-f", "raw", "-o", str(raw), *(["--gil"] if a.gil else []),
                 "--", sys.executable, "-m", "mmsafe",
                 "run", "--target", "openai", "--model", "stub-model", "--base-url", f"http://127.0.0.1:{port}/v1",
                 "--suite", str(suite), "--judge", "refusal", "--concurrency", str(a.conc), "--out", str(Path(tmp) / "run"),
                 "--json"], capture_output=True, text=True, env={**os.environ, "OPENAI_API_KEY": "x"})
        finally:
            stop_stub(stub)
        if proc.returncode != 0 or not raw.exists():
            sys.exit(f"the profiled run failed:\n{proc.stderr[-2000:]}")
        summarize(raw, a.top, a.callees)


if __name__ == "__main__":
    main()
