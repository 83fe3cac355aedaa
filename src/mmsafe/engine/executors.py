"""Where the generate stage runs: in this process (`--executor local`, `runner.generate`), or
sharded across a Ray cluster (`--executor ray`, this module).

The driver (the `mmsafe run` process) owns the run folder: it plans the pending cases exactly as
the local engine would (answers already stored are never asked again), splits them into one shard
per Ray worker, and writes what comes back. Each worker is a Ray actor that rebuilds the target
from its config and runs the same `runner.generate` on its shard, with its own share of the
concurrency budget (and of --max-rps), against a sink instead of the store; it streams the
Generation records back in batches (every BATCH records or INTERVAL_S seconds). Workers never
open the SQLite file, so the run folder may sit on the driver's local disk.

Killing the driver loses only the batches in flight (the next run asks for what is missing).
A worker that dies has the unanswered rest of its shard re-run once on a new worker; if that one
dies too, the rest stays pending for the next `mmsafe run` (a warning says how many).
Judges read the answers as the batches arrive (JudgeFeed), overlapping the generation, as in a
local run; the refusal and embedding judges are sharded across Ray actors too (ray_judges.py),
the others judge on the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mmsafe.engine import runner
from mmsafe.engine.progress import NullProgress
from mmsafe.engine.retry import RetryPolicy
from mmsafe.errors import UsageError
from mmsafe.schema import Case, Generation, generation_key
from mmsafe.targets.base import DEFAULT_MAX_REPLY_BYTES, TargetConfig

EXECUTORS = ("local", "ray")
BATCH = 200  # records per batch a worker sends back
INTERVAL_S = 1.0  # at most this long between batches while a worker has answers
RERUNS = 1  # times a dead worker's unfinished shard is given to a new worker within one run
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
NAME_PREFIX = "mmsafe-shard-"  # Ray actor names: mmsafe-shard-<driver pid>-<n>
_serial = itertools.count(1)


@dataclass(frozen=True)
class RayConfig:
    address: str | None = None  # None: start a local Ray instance for this run
    workers: int = 2
    batch: int = BATCH
    interval_s: float = INTERVAL_S


def check(executor: str, workers: int, attacks: Sequence[Any]) -> None:
    """Flag checks for plan(): a bad value names the flag, before anything is written."""
    if executor not in EXECUTORS:
        raise UsageError(f"--executor: {executor!r} is not one of {', '.join(EXECUTORS)}")
    if executor != "ray":
        return
    if workers < 1:
        raise UsageError(f"--ray-workers: expected 1 or more, got {workers}")
    if attacks:
        raise UsageError("--executor ray: attacks (--attack, --attack-family, --attacks) run with "
                         "--executor local in this release")
    if importlib.util.find_spec("ray") is None:
        raise UsageError("--executor ray needs Ray: pip install 'mmsafe[ray]'")


def init_ray(ray_cfg: RayConfig) -> bool:
    """Join the cluster (--ray-address) or start a local instance, unless this process already
    did; True when it was started here (the caller shuts it down). A local instance gets a CPU
    per worker at least (a shard's actor is one event loop, mostly waiting)."""
    import ray

    if ray.is_initialized():
        return False
    local = {} if ray_cfg.address else {"num_cpus": max(os.cpu_count() or 1, ray_cfg.workers)}
    ray.init(address=ray_cfg.address, include_dashboard=False, log_to_driver=False, configure_logging=False, **local)
    return True


@contextlib.contextmanager
def ray_session(ray_cfg: RayConfig) -> Iterator[None]:
    """Ray for the whole run (judge actors start before generation and end after judging)."""
    started = init_ray(ray_cfg)
    try:
        yield
    finally:
        if started:
            import ray

            ray.shutdown()


def key_env(cfg: TargetConfig) -> dict[str, str]:
    """The API key's variable for the workers' runtime_env, when the driver has it set (a worker
    otherwise reads its own environment). Only the NAME is ever shown; the value is not logged."""
    name = cfg.api_key_env or DEFAULT_KEY_ENV
    return {name: os.environ[name]} if os.environ.get(name) else {}


# -- the worker side ----------------------------------------------------------------------------

class ShardBlobs:
    """The blob store a worker's target sees: the images its cases name (sent with the shard), and
    the images the target makes, kept to send back with the next batch (the driver stores them)."""

    def __init__(self, images: dict[str, bytes]) -> None:
        self._have = dict(images)
        self.new: dict[str, bytes] = {}

    def get(self, sha: str) -> bytes:
        return self._have[sha]

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if sha not in self._have:
            self._have[sha] = self.new[sha] = data
        return sha

    def take_new(self) -> dict[str, bytes]:
        new, self.new = self.new, {}
        return new


class ShardSink:
    """What `runner.generate` writes to on a worker, in place of the store: nothing is done yet
    (the driver sent only pending cases), and every record waits for the next batch."""

    def __init__(self, batch: int) -> None:
        self.records: list[str] = []
        self.warnings: list[str] = []
        self._batch = batch
        self.full = asyncio.Event()

    def done_keys(self) -> set[str]:
        return set()

    def put_generation(self, g: Generation, body: str | None = None) -> None:
        self.records.append(body or g.model_dump_json())
        if len(self.records) >= self._batch:
            self.full.set()

    async def flush(self) -> None:
        return None

    async def room(self) -> None:  # the driver's store paces the batches
        return None

    def take(self, blobs: ShardBlobs | None) -> dict[str, Any]:
        out = {"records": self.records[: self._batch], "warnings": self.warnings,
               "blobs": blobs.take_new() if blobs is not None else {}}
        self.records, self.warnings = self.records[self._batch:], []
        if len(self.records) < self._batch:
            self.full.clear()
        return out


async def run_shard(target_name: str, cfg: TargetConfig, label: str, cases_json: list[str], concurrency: int,
                    policy: RetryPolicy, max_bytes: int | None, max_rps: float | None, images: dict[str, bytes],
                    batch: int = BATCH, interval_s: float = INTERVAL_S):
    """Answer one shard with the local engine, yielding batches {records, warnings, blobs}."""
    from mmsafe.engine.pacing import PacedTarget
    from mmsafe.targets import targets

    cases = [Case.model_validate_json(c) for c in cases_json]
    target = targets.get(target_name, "--target")(cfg)
    blobs = None
    if hasattr(target, "blobs"):
        target.blobs = blobs = ShardBlobs(images)
    paced = PacedTarget(target, max_rps) if max_rps else target
    sink = ShardSink(batch)
    task = asyncio.create_task(runner.generate(sink, paced, label, cases, concurrency, policy,
                                               max_bytes=max_bytes, warn=sink.warnings.append))
    try:
        while True:
            full = asyncio.create_task(sink.full.wait())
            await asyncio.wait({task, full}, timeout=interval_s, return_when=asyncio.FIRST_COMPLETED)
            full.cancel()
            if task.done():
                break
            if sink.records or sink.warnings:
                yield sink.take(blobs)
        task.result()  # a failure that stops the shard (the target cannot be reached) ends the stream
        while sink.records or sink.warnings or (blobs is not None and blobs.new):
            yield sink.take(blobs)
    finally:
        task.cancel()


_actor_cls = None


def _worker_class(ray):
    global _actor_cls
    if _actor_cls is None:
        @ray.remote(num_cpus=1, max_restarts=0)
        class ShardWorker:
            """One Ray actor per shard: runs `run_shard` on its own event loop."""

            async def run(self, *args, **kw):
                async for out in run_shard(*args, **kw):
                    yield out

        _actor_cls = ShardWorker
    return _actor_cls


# -- the driver side ----------------------------------------------------------------------------

def shards(todo: list[Case], n: int) -> list[list[Case]]:
    """`n` contiguous shards of near-equal size (suite order kept within each)."""
    n = max(1, min(n, len(todo)))
    size, extra = divmod(len(todo), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (i < extra)
        out.append(todo[start:end])
        start = end
    return out


def images_of(cases: list[Case], blobs: Any) -> dict[str, bytes]:
    shas = {p.image_sha256 for c in cases for m in c.turns for p in m.images if p.image_sha256}
    return {s: blobs.get(s) for s in shas}


async def generate(store: Any, target_name: str, cfg: TargetConfig, label: str, cases: list[Case],
                   concurrency: int, ray_cfg: RayConfig, policy: RetryPolicy | None = None, progress=None,
                   feed=None, max_bytes: int | None = DEFAULT_MAX_REPLY_BYTES, max_rps: float | None = None,
                   warn=lambda msg: None) -> runner.StageStats:
    """The generate stage across Ray workers (within ray_session); the same records as `runner.generate`
    reach the store."""
    import ray

    policy = policy or RetryPolicy()
    progress = progress or NullProgress()
    done = store.done_keys()
    stats = runner.StageStats(skipped=len(done))
    todo = [c for c in cases if generation_key(c.id, label, "none") not in done]
    stats.todo = len(todo)
    if not todo:
        return stats
    parts = shards(todo, ray_cfg.workers)
    each = max(1, concurrency // len(parts))
    rps = max_rps / len(parts) if max_rps else None
    env = key_env(cfg)
    Worker = _worker_class(ray)
    bar = progress.stage("generate", len(todo))
    actors: list[Any] = []

    async def receive(out: dict[str, Any], got: set[str], cases: dict[str, Case]) -> None:
        for sha, data in out["blobs"].items():
            store.blobs.put(data)
        for msg in out["warnings"]:
            warn(msg)
        for body in out["records"]:
            gen = Generation.model_validate_json(body)
            store.put_generation(gen, body)
            if feed is not None:
                await feed.put(cases[gen.case_id], gen)
            got.add(gen.case_id)
            stats.errors += gen.error is not None
            stats.done += 1
            bar.advance()
        await store.room()

    async def drive(shard: list[Case]) -> None:
        got: set[str] = set()
        by_id = {c.id: c for c in shard}
        for attempt in range(RERUNS + 1):
            left = [c for c in shard if c.id not in got]
            if not left:
                return
            name = f"{NAME_PREFIX}{os.getpid()}-{next(_serial)}"  # named: `ray list actors` shows them
            actor = Worker.options(name=name, runtime_env={"env_vars": env} if env else None).remote()
            actors.append(actor)
            stream = actor.run.options(num_returns="streaming").remote(
                target_name, cfg, label, [c.model_dump_json() for c in left], each, policy, max_bytes, rps,
                images_of(left, store.blobs), ray_cfg.batch, ray_cfg.interval_s)
            try:
                async for ref in stream:
                    await receive(await ref, got, by_id)
                return
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as exc:
                missing = sum(c.id not in got for c in shard)
                if attempt < RERUNS:
                    warn(f"a Ray worker died ({type(exc).__name__}); its {missing} unanswered case(s) go to a new worker")
                else:
                    warn(f"a Ray worker died again; {missing} case(s) stay pending: run the same command to resume")
            except ray.exceptions.RayTaskError as exc:  # the worker's own error (e.g. the target is unreachable)
                raise (exc.cause if isinstance(exc.cause, Exception) else exc) from None
            finally:
                ray.kill(actor, no_restart=True)

    tasks = [asyncio.create_task(drive(s)) for s in parts]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for a in actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # already gone
                pass
        await store.flush()
    return stats
