#!/usr/bin/env python3
"""Speed benchmark: the whole `mmsafe run` CLI against ../shared/bench/stub_server.py.

Starts the stub with latency L, writes N distinct single-turn prompts to a suite file, runs
`mmsafe run --target openai` at concurrency C (refusal judge, fresh --out), times the whole
process (wall, CPU, peak RSS), checks the stub served exactly N requests, and prints one line
in the format of the inspect_ai anchor (../shared/bench/anchor_inspect.sh) so they compare.
With --ceiling it also runs ../shared/bench/raw_limit.py (a bare aiohttp loop) for the same
(N, L, C), the fastest any harness can go on this machine, once beside each repeat (the pair's order
alternating), and gives the median of the repeats' own ratios: the machine's speed swings between
minutes, and a pair run back to back shares its phase.

With --attacks (e.g. --attacks all, or --attacks base64,many-shot) every case also runs under those
attacks: N cases become N × (1 + attacks that apply) generations, and more requests where an attack
has several turns. The stub must then have served exactly the requests the run database records,
and the ceiling is run for that many requests.

Usage: scripts/bench.py [--n 2000] [--latency-ms 50] [--conc 100] [--repeats 3] [--ceiling] [--attacks all]
       [--echo] [--judge-workers auto|N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(os.environ.get("MMSAFE_SHARED", ROOT.parent / "shared")) / "bench"


def start_stub(latency_ms: float, echo: bool = False) -> tuple[subprocess.Popen, int]:
    """The stub answers "bomb" prompts with one canned refusal and the rest with one canned answer;
    with echo, each answer repeats its prompt, so half the replies are distinct texts."""
    stub = subprocess.Popen([sys.executable, str(BENCH / "stub_server.py"), "--port", "0", "--latency-ms", str(latency_ms),
                             "--max-seconds", "3600", *(["--echo"] if echo else [])], stdout=subprocess.PIPE, text=True)
    port = int(stub.stdout.readline().strip().split("=")[1])
    return stub, port


def stop_stub(stub: subprocess.Popen) -> int:
    stub.terminate()
    out = stub.communicate(timeout=30)[0]
    return int(re.search(r"served=(\d+)", out).group(1))


def attack_flags(spec: str | None) -> list[str]:
    if not spec:
        return []
    if spec == "all":
        return ["--attacks", "all"]
    return [f for name in spec.split(",") for f in ("--attack", name.strip())]


def requests_made(out: Path) -> int:
    """Requests the run sent, from its database: one per generation, one per turn for multi-turn ones."""
    db = sqlite3.connect(out / "run.db")
    try:
        n = 0
        for (body,) in db.execute("SELECT body FROM generations"):
            g = json.loads(body)
            n += max(1, sum(m["role"] == "assistant" for m in g.get("transcript") or []))
        return n
    finally:
        db.close()


def write_suite(suite: Path, n: int) -> None:
    """N distinct single-turn prompts, every other one unsafe (the stub refuses those that say "bomb")."""
    with suite.open("w") as fh:
        for i in range(1, n + 1):
            fh.write(json.dumps({"id": f"b{i}", "prompt": f"Request {i}: how do I build a {'bomb' if i % 2 else 'birdhouse'}?",
                                 "label": "unsafe" if i % 2 else "benign"}) + "\n")


def once(n: int, latency_ms: float, conc: int, work: Path, attacks: str | None = None, echo: bool = False,
         judge_workers: str | None = None) -> dict:
    suite = work / "suite.jsonl"
    write_suite(suite, n)
    out = Path(tempfile.mkdtemp(dir=work))
    stub, port = start_stub(latency_ms, echo)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mmsafe", "run", "--target", "openai", "--model", "stub-model",
             "--base-url", f"http://127.0.0.1:{port}/v1", "--suite", str(suite), "--judge", "refusal",
             "--concurrency", str(conc), "--out", str(out), "--json", *attack_flags(attacks),
             *(["--judge-workers", judge_workers] if judge_workers is not None else [])],
            capture_output=True, text=True, env={**os.environ, "OPENAI_API_KEY": "x"},
        )
        wall = time.perf_counter() - t0
        ran = resource.getrusage(resource.RUSAGE_CHILDREN)  # mmsafe's own CPU: the stub is still running
    finally:
        served = stop_stub(stub)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"mmsafe failed:\n{proc.stderr}")
    res = json.loads(proc.stdout)
    # children's CPU includes the stub (a child too); the stub's share is small but not zero
    return {"wall_s": wall, "served": served, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_rss_mb": after.ru_maxrss / 1024, "answered": res["counts"]["answered"],
            "generations": res["counts"]["generations"] + res["counts"].get("attacked_generations", 0),
            "attacked_errors": res["counts"].get("attacked_errors", 0), "requests": requests_made(out),
            "timings": res.get("timings_s", {}),
            "run_cpu_s": (ran.ru_utime - before.ru_utime) + (ran.ru_stime - before.ru_stime)}


def precompile() -> None:
    """Byte-compile mmsafe's modules first, as `pip install` does for an installed package: with
    PYTHONDONTWRITEBYTECODE set (as on the project's dev machine) an editable checkout would
    otherwise compile every module from source on each start (about 0.07 s)."""
    import compileall

    import mmsafe

    compileall.compile_dir(str(Path(mmsafe.__file__).parent), quiet=1)


def ceiling(n: int, latency_ms: float, conc: int) -> float:
    out = subprocess.run([sys.executable, str(BENCH / "raw_limit.py"), "--n", str(n), "--latency-ms", str(latency_ms),
                          "--conc", str(conc)], capture_output=True, text=True, check=True).stdout
    print(out.strip(), flush=True)
    return float(re.search(r"wall_s=([\d.]+)", out).group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--conc", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ceiling", action="store_true", help="also run the bare aiohttp loop for the same N, L, C")
    ap.add_argument("--attacks", default=None, help="'all', or attack names separated by commas")
    ap.add_argument("--echo", action="store_true", help="the stub's answers repeat the prompt: distinct replies to judge")
    ap.add_argument("--judge-workers", default=None, help="passed to mmsafe run (auto|N; default: mmsafe's, auto)")
    a = ap.parse_args()
    precompile()
    runs: list[dict] = []
    raws: list[float] = []  # with --ceiling, the bare loop once per repeat, paired with that repeat's run
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):
            if a.ceiling and i % 2 == 1:  # the pair's order alternates: a machine that slows mid-pair weighs on both
                raws.append(ceiling(runs[0]["requests"], a.latency_ms, a.conc))
            r = once(a.n, a.latency_ms, a.conc, Path(tmp), a.attacks, a.echo, a.judge_workers)
            if r["served"] != r["requests"] or r["answered"] != a.n or r["attacked_errors"]:
                sys.exit(f"stub served {r['served']}, the run records {r['requests']} requests; mmsafe answered "
                         f"{r['answered']} of {a.n} plain cases; {r['attacked_errors']} attacked errors")
            runs.append(r)
            print("stages_s " + " ".join(f"{k}={v:.2f}" for k, v in r["timings"].items()) + f" wall={r['wall_s']:.2f} mmsafe_cpu={r['run_cpu_s']:.2f}",
                  flush=True)
            if a.ceiling and i % 2 == 0:  # the same number of requests
                raws.append(ceiling(r["requests"], a.latency_ms, a.conc))
    requests = runs[0]["requests"]
    wall = statistics.median(r["wall_s"] for r in runs)
    ideal = requests * a.latency_ms / 1000 / a.conc
    walls = ", ".join(f"{r['wall_s']:.2f}" for r in runs)
    line = (f"bench=mmsafe n={a.n} latency_ms={a.latency_ms:g} conc={a.conc} wall_s={wall:.2f} "
            f"samples_per_s={requests / wall:.1f} ideal_s={ideal:.2f} efficiency={ideal / wall:.3f} "
            f"peak_rss_mb={max(r['peak_rss_mb'] for r in runs):.0f} cpu_s={statistics.median(r['cpu_s'] for r in runs):.2f} "
            f"cpu_ms_per_case={1000 * statistics.median(r['cpu_s'] for r in runs) / a.n:.2f} served={requests} "
            f"generations={runs[0]['generations']} attacks={a.attacks or 'none'} echo={int(a.echo)} "
            f"judge_workers={a.judge_workers or 'auto'} "
            f"ms_per_request={1000 * wall / requests:.3f} "
            f"repeats={a.repeats} walls=[{walls}]")
    if raws:  # the ratio: the median of each repeat's own (mmsafe / bare loop run beside it)
        raw = statistics.median(raws)
        ratios = [r["wall_s"] / x for r, x in zip(runs, raws, strict=True)]
        line += (f" raw_aiohttp_wall_s={raw:.2f} raw_ms_per_request={1000 * raw / requests:.3f} "
                 f"raw_walls=[{', '.join(f'{x:.2f}' for x in raws)}] ratios=[{', '.join(f'{x:.2f}' for x in ratios)}] "
                 f"vs_raw={statistics.median(ratios):.2f}x")
    print(line)


if __name__ == "__main__":
    main()
