"""Where the generate stage runs: in this process (`--executor local`, `runner.generate`), or
sharded across a Ray cluster (`--executor ray`, this module).

The driver (the `mmsafe run` process) owns the run folder: it reads the pending cases exactly as
the local engine would (answers already stored are never asked again) and sends them to the Ray
workers a chunk at a time, as each has room, and writes what comes back. Each worker is a Ray actor
that rebuilds the target from its config and runs the same `runner.generate` on the cases as they
arrive (CaseFeed), with its own share of the concurrency budget (and of --max-rps), against a sink
instead of the store; it streams the Generation records back in batches (every BATCH records or
INTERVAL_S seconds). The driver holds only the cases sent and not yet answered (about two chunks
per worker), so its memory does not grow with the run. Workers never open the SQLite file, so the
run folder may sit on the driver's local disk.

Killing the driver loses only the batches in flight (the next run asks for what is missing).
A worker that dies is replaced once, and the cases it had unanswered go first to the next chunk a
worker takes; when a replacement dies too, the other workers go on. Whatever no worker is left to
answer ends the run with an error (WorkersLost: how many, and why the last worker died) rather than
with results of part of the run; what was answered is stored for the next `mmsafe run`.
Judges read the answers as the batches arrive (JudgeFeed), overlapping the generation, as in a
local run; the refusal and embedding judges are sharded across Ray actors too (ray_judges.py),
the others judge on the driver.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import hashlib
import importlib.util
import itertools
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mmsafe.attacks.base import Attack, attack_label
from mmsafe.engine import runner
from mmsafe.engine.progress import NullProgress
from mmsafe.engine.retry import RetryPolicy
from mmsafe.errors import MmsafeError, UsageError
from mmsafe.schema import Case, Generation
from mmsafe.targets.base import DEFAULT_MAX_REPLY_BYTES, TargetConfig

EXECUTORS = ("local", "ray")
BATCH = 200  # records per batch a worker sends back
CHUNK = 500  # cases per chunk the driver sends a worker
INTERVAL_S = 1.0  # at most this long between batches while a worker has answers
RERUNS = 1  # times a dead worker is replaced by a new one within one run
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
NAME_PREFIX = "mmsafe-shard-"  # Ray actor names: mmsafe-shard-<driver pid>-<n>
_serial = itertools.count(1)
# the pair a worker task is answering: set as CaseFeed hands the pair out (the task's context, which
# the threads it starts with asyncio.to_thread copy), so an image made for it is dropped with its answer
_PAIR: contextvars.ContextVar[str | None] = contextvars.ContextVar("mmsafe_shard_pair", default=None)


class WorkersLost(MmsafeError):
    """Ray workers died more often than they may be replaced and requests were left unanswered:
    what was answered is stored, and the same command resumes with the rest."""


@dataclass(frozen=True)
class RayConfig:
    address: str | None = None  # None: start a local Ray instance for this run
    workers: int = 2
    batch: int = BATCH
    interval_s: float = INTERVAL_S
    chunk: int | None = None  # None: CHUNK


def check(executor: str, workers: int, address: str | None = None) -> None:
    """Flag checks for plan(): a bad value names the flag, before anything is written. A cluster
    named by host and port must accept a connection (Ray itself would retry a dead address for
    minutes)."""
    if executor not in EXECUTORS:
        raise UsageError(f"--executor: {executor!r} is not one of {', '.join(EXECUTORS)}")
    if executor != "ray":
        return
    if workers < 1:
        raise UsageError(f"--ray-workers: expected 1 or more, got {workers}")
    if importlib.util.find_spec("ray") is None:
        raise UsageError("--executor ray needs Ray: pip install 'mmsafe[ray]'")
    if address:
        check_address(address)


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """`--ray-address host:port` or `ray://host:port`: the port answers, or a UsageError says why.
    `auto` and `local` are left to Ray (`init_ray` words its error)."""
    if address in ("auto", "local"):
        return
    where = address.removeprefix("ray://")
    host, colon, port = where.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in where:
        raise UsageError(f"--ray-address {address!r}: expected HOST:PORT (a head node's GCS), "
                         "ray://HOST:PORT (a Ray client server) or auto")
    try:
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s)
    except OSError as exc:
        raise UsageError(f"--ray-address {address}: cannot connect to {host}:{port} "
                         f"({exc.strerror or type(exc).__name__}); is the cluster up (`ray status` on its head node)?") from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("0", "false", "") and not speaks_grpc(sock):
            raise UsageError(f"--ray-address {address}: {host}:{port} accepts connections but does not answer as "
                             "Ray does (gRPC); give the head node's GCS port (6379 by default) or its Ray client "
                             "port as ray://HOST:10001")


def speaks_grpc(sock: socket.socket) -> bool:
    """Whether the server behind `sock` answers an HTTP/2 connection preface with a SETTINGS frame,
    as the gRPC servers of a Ray cluster (its GCS, its Ray client server) do; an HTTP/1 server, or
    anything else, does not."""
    try:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        head = b""
        while len(head) < 9 and (got := sock.recv(9 - len(head))):
            head += got
    except OSError:
        return False
    return len(head) == 9 and head[3] == 4  # a frame header: 3 bytes length, then the type (4: SETTINGS)


def init_ray(ray_cfg: RayConfig) -> bool:
    """Join the cluster (--ray-address) or start a local instance with this machine's CPUs, unless
    this process already did; True when it was started here (the caller shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    local = {} if ray_cfg.address else {"num_cpus": os.cpu_count() or 1}
    try:
        ray.init(address=ray_cfg.address, include_dashboard=False, log_to_driver=False, configure_logging=False, **local)
    except Exception as exc:  # Ray's own errors (no cluster at `auto`, a version mismatch): named for the flag
        ray.shutdown()
        what = f"--ray-address {ray_cfg.address}: cannot join the Ray cluster" if ray_cfg.address else \
            "--executor ray: cannot start a local Ray instance"
        raise UsageError(f"{what}: {type(exc).__name__}: {str(exc)[:500]}") from None
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


def usable_workers(requested: int, warn=lambda msg: None) -> int:
    """--ray-workers, or the Ray cluster's CPU count when it has fewer. Each worker's actor takes a
    CPU, so the extra ones would only start as others end, while every worker gets just
    --concurrency/N requests in flight: fewer in flight than asked for. Each worker also brings a
    judge actor per sharded judge, a process with its models."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 0))
    if requested <= cpus:
        return requested
    n = max(1, cpus)
    warn(f"--ray-workers {requested}: the Ray cluster has {cpus} CPU(s) and each worker takes one; using {n} "
         f"(with {requested}, the extra workers would wait for a CPU while each had --concurrency/{requested} in flight)")
    return n


def key_env(cfg: TargetConfig, recipe: Any = None) -> dict[str, str]:
    """The API keys' variables (the target's, and the attacker model's when attacks use one) for the
    workers' runtime_env, when the driver has them set (a worker otherwise reads its own
    environment). Only the NAMES are ever shown; the values are not logged."""
    attacker = recipe.attacker if recipe is not None else None  # (model, base URL, key variable, timeout)
    names = {cfg.api_key_env or DEFAULT_KEY_ENV, *([attacker[2] or DEFAULT_KEY_ENV] if attacker else [])}
    return {n: os.environ[n] for n in sorted(names) if os.environ.get(n)}


def pair_key(case_id: str, attack: str) -> str:
    """One (case, attack) pair's name between the driver and a worker (`none`: the plain case)."""
    return f"{case_id}\x00{attack}"


# -- the worker side ----------------------------------------------------------------------------

class ShardBlobs:
    """The blob store a worker's target and attacks see: the images its cases name (sent with each
    chunk) and the images the target or an attack makes for a pair (a typographic render, a generated
    picture), each kept until the last (case, attack) pair that names or made it is answered. A made
    image also waits in `new` until it is sent back with the next batch (the driver stores it)."""

    def __init__(self) -> None:
        self._have: dict[str, bytes] = {}
        self.new: dict[str, bytes] = {}
        self._named: dict[str, list[str]] = {}  # pair key -> the images it names or made, until it is answered
        self._users: dict[str, int] = {}  # image -> pairs sent that name it and are not answered yet

    def add(self, images: dict[str, bytes], named: dict[str, list[str]]) -> None:
        """The next chunk's images, and which of its pairs (by pair_key) name which."""
        self._have.update(images)
        for key, shas in named.items():
            for sha in shas:
                self._use(key, sha)

    def _use(self, key: str, sha: str) -> None:
        self._named.setdefault(key, []).append(sha)
        self._users[sha] = self._users.get(sha, 0) + 1

    def answered(self, key: str) -> None:
        """The pair's answer is recorded: an image no other waiting pair names is dropped."""
        for sha in self._named.pop(key, ()):
            self._users[sha] -= 1
            if not self._users[sha]:
                del self._users[sha]
                self._have.pop(sha, None)

    def get(self, sha: str) -> bytes:
        return self._have[sha]

    def put(self, data: bytes) -> str:
        """Keep an image made for the pair being answered (while it waits) and to send back."""
        sha = hashlib.sha256(data).hexdigest()
        if sha not in self._have:
            self._have[sha] = self.new[sha] = data
        if (key := _PAIR.get()) is not None:
            self._use(key, sha)
        return sha

    def take_new(self) -> dict[str, bytes]:
        new, self.new = self.new, {}
        return new


class ShardSink:
    """What `runner.generate` writes to on a worker, in place of the store: nothing is done yet
    (the driver sent only pending pairs), and every record, and every pair an attack turned out not
    to apply to, waits for the next batch."""

    def __init__(self, batch: int, blobs: ShardBlobs) -> None:
        self.blobs = blobs
        self.records: list[str] = []
        self.warnings: list[str] = []
        self.skipped: list[tuple[str, str]] = []  # (case id, attack label): not applicable, never stored
        self._batch = batch
        self.full = asyncio.Event()

    def done_keys(self) -> set[str]:
        return set()

    def put_generation(self, g: Generation, body: str | None = None) -> None:
        self.records.append(body or g.model_dump_json())
        self.blobs.answered(pair_key(g.case_id, g.attack))
        if len(self.records) >= self._batch:
            self.full.set()

    def skip(self, case: Case, attack: str) -> None:
        self.skipped.append((case.id, attack))
        self.blobs.answered(pair_key(case.id, attack))

    async def flush(self) -> None:
        return None

    async def room(self) -> None:  # the driver's store paces the batches
        return None

    def take(self) -> dict[str, Any]:
        out = {"records": self.records[: self._batch], "warnings": self.warnings, "blobs": self.blobs.take_new(),
               "skipped": self.skipped}
        self.records, self.warnings, self.skipped = self.records[self._batch:], [], []
        if len(self.records) < self._batch:
            self.full.clear()
        return out


class CaseFeed:
    """A worker's (case, attack) pairs as the driver sends them, a chunk at a time (`put`: the case's
    JSON and the attack's label, None for the plain case), taken one by one by `runner.generate`'s
    workers (an async iterator of (case, attack), the attack looked up in `attacks`, which the shard
    fills before it starts); `end` says no more will come.
    `put` returns once at most `keep` cases wait untaken, so the driver has the next chunk on its way
    before the worker runs dry, and neither side ever holds more than about two chunks."""

    def __init__(self) -> None:
        self.attacks: dict[str, Attack] = {}
        self._waiting: collections.deque[tuple[str, str | None]] = collections.deque()
        self._keep = 0
        self._ended = False
        self._more = asyncio.Event()
        self._taken = asyncio.Event()

    async def put(self, pairs: list[tuple[str, str | None]], keep: int) -> None:
        self._waiting.extend(pairs)
        self._keep = keep
        self._more.set()
        while len(self._waiting) > keep:
            self._taken.clear()
            await self._taken.wait()

    def end(self) -> None:
        self._ended = True
        self._more.set()

    def __aiter__(self) -> CaseFeed:
        return self

    async def __anext__(self) -> tuple[Case, Attack | None]:
        while not self._waiting:
            if self._ended:
                raise StopAsyncIteration
            self._more.clear()
            await self._more.wait()
        body, attack = self._waiting.popleft()
        if len(self._waiting) <= self._keep:  # wakes `put` once, not on every case taken
            self._taken.set()
        case = Case.model_validate_json(body)
        _PAIR.set(pair_key(case.id, attack or "none"))  # awaited by the task that answers it: its context
        return case, (self.attacks[attack] if attack is not None else None)


async def run_shard(target_name: str, cfg: TargetConfig, label: str, cases: CaseFeed, concurrency: int,
                    policy: RetryPolicy, max_bytes: int | None, max_rps: float | None, blobs: ShardBlobs,
                    batch: int = BATCH, interval_s: float = INTERVAL_S, recipe: Any = None):
    """Answer the pairs `cases` brings with the local engine, yielding batches {records, warnings,
    blobs, skipped}. The attacks are built again here from the driver's `recipe`, with this worker's
    blob store and its own attacker client."""
    from mmsafe.engine.pacing import PacedTarget
    from mmsafe.targets import targets

    target = targets.get(target_name, "--target")(cfg)
    if hasattr(target, "blobs"):
        target.blobs = blobs
    attacks, ctx = recipe.build(blobs) if recipe is not None else ([], None)
    cases.attacks = {a.label: a for a in attacks}
    paced = PacedTarget(target, max_rps) if max_rps else target
    sink = ShardSink(batch, blobs)
    task = asyncio.create_task(runner.generate(sink, paced, label, cases, concurrency, policy,
                                               max_bytes=max_bytes, warn=sink.warnings.append, on_skip=sink.skip))
    try:
        while True:
            full = asyncio.create_task(sink.full.wait())
            await asyncio.wait({task, full}, timeout=interval_s, return_when=asyncio.FIRST_COMPLETED)
            full.cancel()
            if task.done():
                break
            if sink.records or sink.warnings or sink.skipped:
                yield sink.take()
        task.result()  # a failure that stops the shard (the target cannot be reached) ends the stream
        while sink.records or sink.warnings or sink.skipped or blobs.new:
            yield sink.take()
    finally:
        task.cancel()
        if ctx is not None and ctx.attacker is not None:
            await ctx.attacker.close()


_actor_cls = None


def _worker_class(ray):
    global _actor_cls
    if _actor_cls is None:
        @ray.remote(num_cpus=1, max_restarts=0)
        class ShardWorker:
            """One Ray actor per worker: `run` answers, on the actor's event loop, the cases that
            `feed` brings (called while `run` streams), until `end`."""

            def __init__(self) -> None:
                self.cases = CaseFeed()
                self.blobs = ShardBlobs()

            async def feed(self, pairs: list[tuple[str, str | None]], images: dict[str, bytes],
                           named: dict[str, list[str]], keep: int) -> None:
                self.blobs.add(images, named)
                await self.cases.put(pairs, keep)

            async def end(self) -> None:
                self.cases.end()

            async def run(self, target_name: str, cfg: TargetConfig, label: str, concurrency: int,
                          policy: RetryPolicy, max_bytes: int | None, max_rps: float | None, batch: int,
                          interval_s: float, recipe: Any):
                async for out in run_shard(target_name, cfg, label, self.cases, concurrency, policy, max_bytes,
                                           max_rps, self.blobs, batch, interval_s, recipe):
                    yield out

        _actor_cls = ShardWorker
    return _actor_cls


# -- the driver side ----------------------------------------------------------------------------

async def images_of(pairs: list[tuple[Case, Attack | None]], blobs: Any) -> tuple[dict[str, bytes], dict[str, list[str]]]:
    """The bytes of the images the pairs' cases name (read from the blob store off the event loop),
    and which pair (by pair_key) names which."""
    named = {pair_key(c.id, attack_label(a)): shas for c, a in pairs
             if (shas := sorted({p.image_sha256 for m in c.turns for p in m.images if p.image_sha256}))}
    shas = {s for v in named.values() for s in v}
    return (await asyncio.to_thread(lambda: {s: blobs.get(s) for s in shas}) if shas else {}), named


async def generate(store: Any, target_name: str, cfg: TargetConfig, label: str, cases: Iterable[Case],
                   concurrency: int, ray_cfg: RayConfig, policy: RetryPolicy | None = None, progress=None,
                   feed=None, max_bytes: int | None = DEFAULT_MAX_REPLY_BYTES, max_rps: float | None = None,
                   warn=lambda msg: None, attacks: Sequence[Attack] = (), recipe: Any = None) -> runner.StageStats:
    """The generate stage across Ray workers (within ray_session); the same records as `runner.generate`
    reach the store. The (case, attack) pairs still to ask are read from `cases` (a CaseSpool streams
    them from disk) a chunk at a time, as workers have room: the driver holds the pairs it has sent
    and not yet had answered, at most about two chunks per worker, whatever the run's size. `attacks`
    were built from `recipe`, which the workers build them again from."""
    import ray

    policy = policy or RetryPolicy()
    progress = progress or NullProgress()
    done = store.done_keys()
    stats = runner.StageStats(skipped=len(done))
    stats.todo = runner.count_work(cases, label, attacks, done, stats.not_applicable)
    if not stats.todo:
        return stats
    n = max(1, min(ray_cfg.workers, stats.todo))
    each = max(1, concurrency // n)
    rps = max_rps / n if max_rps else None
    chunk = max(1, min(ray_cfg.chunk or CHUNK, -(-stats.todo // n)))  # a small run still reaches every worker
    pending = runner.work(cases, label, attacks, done, {})  # shared: each pair goes to one worker
    env = key_env(cfg, recipe)
    Worker = _worker_class(ray)
    bar = progress.stage("generate", stats.todo)
    actors: list[Any] = []

    redo: list[tuple[Case, Attack | None]] = []  # pairs a dead worker had, not answered: the next chunk any worker takes
    deaths: list[str] = []  # why each dead worker died, as Ray says

    def answered(key: str, sent: dict[str, tuple[Case, Attack | None]]) -> Case | None:
        stats.done += 1
        bar.advance()
        pair = sent.pop(key, None)
        return pair[0] if pair is not None else None

    async def receive(out: dict[str, Any], sent: dict[str, tuple[Case, Attack | None]]) -> None:
        if out["blobs"]:  # images the target made: written off the event loop, before the records naming them
            await asyncio.to_thread(lambda: [store.blobs.put(data) for data in out["blobs"].values()])
        for msg in out["warnings"]:
            warn(msg)
        for case_id, name in out["skipped"]:  # an attack found at transform time that it cannot be used here
            stats.not_applicable[name] = stats.not_applicable.get(name, 0) + 1
            answered(pair_key(case_id, name), sent)
        for body in out["records"]:
            gen = Generation.model_validate_json(body)
            store.put_generation(gen, body)
            case = answered(pair_key(gen.case_id, gen.attack), sent)
            if feed is not None and case is not None:
                await feed.put(case, gen)
            stats.errors += gen.error is not None
        await store.room()

    async def send(actor: Any, sent: dict[str, tuple[Case, Attack | None]]) -> None:
        """Chunks to one worker until the pairs run out: first what a dead worker left, then new ones."""
        while True:
            if redo:
                part, redo[:] = redo[:chunk], redo[chunk:]
            else:
                part = list(itertools.islice(pending, chunk))
            if not part:
                await actor.end.remote()
                return
            for c, a in part:
                sent[pair_key(c.id, attack_label(a))] = (c, a)
            images, named = await images_of(part, store.blobs)
            await actor.feed.remote([(c.model_dump_json(), a.label if a is not None else None) for c, a in part],
                                    images, named, chunk // 2)

    async def answers(stream: Any, sent: dict[str, tuple[Case, Attack | None]]) -> None:
        async for ref in stream:
            await receive(await ref, sent)

    async def drive() -> None:
        sent: dict[str, tuple[Case, Attack | None]] = {}  # sent to this slot's worker, not yet answered (by pair_key)
        for attempt in range(RERUNS + 1):
            name = f"{NAME_PREFIX}{os.getpid()}-{next(_serial)}"  # named: `ray list actors` shows them
            actor = Worker.options(name=name, runtime_env={"env_vars": env} if env else None).remote()
            actors.append(actor)
            stream = actor.run.options(num_returns="streaming").remote(
                target_name, cfg, label, each, policy, max_bytes, rps, ray_cfg.batch, ray_cfg.interval_s, recipe)
            both = [asyncio.create_task(answers(stream, sent)), asyncio.create_task(send(actor, sent))]
            try:
                await asyncio.wait(both, return_when=asyncio.FIRST_EXCEPTION)
                for t in both:  # the stream ends after `end`, once every case sent is answered
                    await t
                return
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as exc:
                redo.extend(sent.values())
                where = "a new worker" if attempt < RERUNS else "the other workers"
                why = " ".join(str(exc).split())  # Ray says why (killed, out of memory, an import that failed)
                for secret in env.values():  # its text may quote the runtime_env: never the keys in it
                    why = why.replace(secret, "***")
                why = why[:300]
                deaths.append(why)
                warn(f"a Ray worker died ({type(exc).__name__}: {why}); its {len(sent)} unanswered request(s) go to {where}")
                sent.clear()
            except ray.exceptions.RayTaskError as exc:  # the worker's own error (e.g. the target is unreachable)
                raise (exc.cause if isinstance(exc.cause, Exception) else exc) from None
            finally:
                for t in both:
                    t.cancel()
                await asyncio.gather(*both, return_exceptions=True)
                ray.kill(actor, no_restart=True)

    tasks = [asyncio.create_task(drive()) for _ in range(n)]
    try:
        await asyncio.gather(*tasks)
        if stats.done < stats.todo:  # workers died more often than they may be replaced
            raise WorkersLost(f"{stats.todo - stats.done} request(s) were not answered: {len(deaths)} Ray worker(s) "
                              f"died, more often than they may be replaced (the last: {deaths[-1] if deaths else '?'}). "
                              "What was answered is stored; run the same command to resume.")
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
