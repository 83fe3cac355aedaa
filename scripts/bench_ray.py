#!/usr/bin/env python3
"""Speed benchmark for `--executor ray`: the whole `mmsafe run` CLI with 1 and 2 Ray workers (and
the local executor) against ../shared/bench/stub_server.py, in one run with the bare aiohttp loop
(../shared/bench/raw_limit.py) for the same N, L, C.

This script starts one local Ray instance (num_cpus = --ray-cpus) and every `mmsafe run` joins it
with --ray-address, as it would join an existing cluster: Ray's own start-up (printed once, as
ray_start_s) is left out of the per-run figures. The total concurrency C is the same in every run
(each of N workers gets C/N in flight). The stub must have served exactly --n requests per run.

Usage: scripts/bench_ray.py [--n 2000] [--latency-ms 50] [--conc 100] [--repeats 2] [--ray-cpus 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ceiling, start_stub, stop_stub, write_suite  # noqa: E402  (the same stub and ceiling as scripts/bench.py)


def once(n: int, latency_ms: float, conc: int, work: Path, executor: list[str]) -> dict:
    suite = work / "suite.jsonl"
    if not suite.exists():
        write_suite(suite, n)
    out = Path(tempfile.mkdtemp(dir=work))
    stub, port = start_stub(latency_ms)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mmsafe", "run", "--target", "openai", "--model", "stub-model",
             "--base-url", f"http://127.0.0.1:{port}/v1", "--suite", str(suite), "--judge", "refusal",
             "--concurrency", str(conc), "--out", str(out), "--json", *executor],
            capture_output=True, text=True, env={**os.environ, "OPENAI_API_KEY": "x"},
        )
        wall = time.perf_counter() - t0
    finally:
        served = stop_stub(stub)
    if proc.returncode != 0:
        sys.exit(f"mmsafe failed:\n{proc.stderr}")
    res = json.loads(proc.stdout)
    if served != n or res["counts"]["answered"] != n:
        sys.exit(f"stub served {served}, mmsafe answered {res['counts']['answered']} of {n}")
    return {"wall_s": wall, "generate_s": res["timings_s"]["generate"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--conc", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--ray-cpus", type=int, default=2)
    a = ap.parse_args()
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=a.ray_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    print(f"ray_start_s={time.perf_counter() - t0:.1f}", flush=True)
    address = ray.get_runtime_context().gcs_address
    modes = {"local": ["--executor", "local"]}
    modes.update({f"ray{w}": ["--executor", "ray", "--ray-address", address, "--ray-workers", str(w)] for w in (1, 2)})
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(a.repeats):  # interleaved, so a busy moment on a shared machine hits every mode
                for m, flags in modes.items():
                    runs[m].append(once(a.n, a.latency_ms, a.conc, Path(tmp), flags))
    finally:
        ray.shutdown()
    raw = ceiling(a.n, a.latency_ms, a.conc)
    med = {m: statistics.median(r["wall_s"] for r in rs) for m, rs in runs.items()}
    gen = {m: statistics.median(r["generate_s"] for r in rs) for m, rs in runs.items()}
    for m, rs in runs.items():
        walls = ", ".join(f"{r['wall_s']:.2f}" for r in rs)
        print(f"bench=mmsafe-{m} n={a.n} latency_ms={a.latency_ms:g} conc={a.conc} wall_s={med[m]:.2f} "
              f"generate_s={gen[m]:.2f} walls=[{walls}] "
              f"vs_raw={med[m] / raw:.2f}x", flush=True)
    print(f"speedup_1_to_2_workers wall={med['ray1'] / med['ray2']:.2f}x generate={gen['ray1'] / gen['ray2']:.2f}x "
          f"raw_aiohttp_wall_s={raw:.2f}")


if __name__ == "__main__":
    main()
