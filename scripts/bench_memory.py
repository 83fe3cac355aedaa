#!/usr/bin/env python3
"""Memory benchmark: peak RSS of the `mmsafe run` process (alone: the stub is measured apart) at
1,000, 10,000 and 50,000 cases against ../shared/bench/stub_server.py, and a `--limit 10` run over
the 50,000-case file (wall and peak RSS: what reading only what it needs would save).

Prints one line per run: `bench=memory n= limit= wall_s= peak_rss_mb=`, then the growth from the
smallest to the largest run. Usage: scripts/bench_memory.py [--sizes 1000,10000,50000] [--latency-ms 0]
[--executor local|ray]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import start_stub, stop_stub, write_suite  # noqa: E402


def measure(suite: Path, out: Path, port: int, limit: int | None, executor: str = "local") -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one `mmsafe run` process (with Ray: the driver's; Ray's own
    processes and the workers are apart)."""
    cmd = [sys.executable, "-m", "mmsafe", "run", "--target", "openai", "--model", "stub-model",
           "--base-url", f"http://127.0.0.1:{port}/v1", "--suite", str(suite), "--judge", "refusal",
           "--concurrency", "100", "--out", str(out), "--json", *(["--limit", str(limit)] if limit else []),
           *(["--executor", "ray", "--ray-workers", "2"] if executor == "ray" else [])]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OPENAI_API_KEY": "x"})
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS alone
    wall = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"mmsafe failed:\n{err}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--executor", choices=("local", "ray"), default="local",
                    help="ray: 2 workers on a local Ray instance each run starts (the [ray] extra)")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        stub, port = start_stub(a.latency_ms)
        try:
            for n in sizes:
                suite = Path(tmp) / f"suite-{n}.jsonl"
                write_suite(suite, n)
                wall, peak = measure(suite, Path(tmp) / f"run-{n}", port, None, a.executor)
                peaks[n] = peak
                print(f"bench=memory executor={a.executor} n={n} limit=none wall_s={wall:.2f} peak_rss_mb={peak:.0f}", flush=True)
            n = max(sizes)
            wall, peak = measure(Path(tmp) / f"suite-{n}.jsonl", Path(tmp) / "run-limit", port, 10, a.executor)
            print(f"bench=memory executor={a.executor} n={n} limit=10 wall_s={wall:.2f} peak_rss_mb={peak:.0f}", flush=True)
        finally:
            stop_stub(stub)
    lo, hi = min(sizes), max(sizes)
    print(f"growth {lo} -> {hi} cases: {peaks[hi] - peaks[lo]:+.0f} MB")


if __name__ == "__main__":
    main()
