"""CPU-bound local judges in their own processes (`--judge-workers auto|N`, default auto).

The refusal detector and the embedding classifier compute in Python (regexes, n-gram models,
tokenizing): on a thread beside the event loop they hold the GIL the requests in flight need.
Each is wrapped here in a ProcessJudge. With N workers, N processes each build and load the same
judge, and each batch the run would judge goes to one of them as JSON and comes back as verdicts.

With `auto` the judge starts in the run's process. When its batches show that it costs more than
SLOW_S of compute per reply (the median of the last SUSTAINED batches: distinct replies the judge
has not seen, as real models give), one process starts and takes the batches from then on. Cheap
judging (a stub's two canned replies, read once each) stays in the process, where shipping batches
would cost more than judging them. A judge that costs on every reply (`costly`: the embedding
judge's encoder) gets its process from the start, and the run never loads it itself.

The run's process writes every verdict, under the local judge's id, so a run judged in processes
resumes in-process and reads the same verdicts (and the other way round). The processes load
their models while the run goes on; the first batch sent to them waits for that. A process that
dies (killed, out of memory) stops the run with that reason, never a hang. Judges behind an
endpoint (they wait on it, with many requests in flight) and judges that read images (from the
run's blob store) stay in the run's process (judges.base.movable)."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import signal
import statistics
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from mmsafe.judges.base import Item, JudgeConfig, items_to_wire, judge_wire, movable, verdicts_from_wire
from mmsafe.schema import Verdict

SLOW_S = 100e-6  # auto: a judge costing more than this per reply moves to a process
MIN_BATCH = 32  # auto: the smallest batch whose cost is read (a few replies cost mostly overhead)
SUSTAINED = 3  # auto: batches whose median cost decides


class ProcessJudge:
    """A judge whose batches are judged in worker processes holding the same judge (see the module)."""

    def __init__(self, local: Any, cfg: JudgeConfig, workers: int | None) -> None:
        self._local, self._cfg = local, cfg
        self._auto = workers is None  # None: auto, one process once the judge proves slow
        self._workers = 1 if workers is None else max(1, workers)
        self.name, self.batch_size = local.name, local.batch_size
        self.concurrency = self.feed_consumers = self._workers  # a batch in flight per process
        self._pool: ProcessPoolExecutor | None = None
        self._loaded: asyncio.Future | None = None
        self._local_started = False
        self._moved = False  # its batches went to processes (kept after close, for the record)
        self._costs: list[float] = []  # auto: CPU per reply of the last SUSTAINED batches judged here

    def __getattr__(self, attr: str) -> Any:  # spec, model_version…: what names its verdicts stays the local judge's
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._local, attr)

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def in_process(self) -> bool:
        """Judged in the run's process only (auto, no batch proved slow)."""
        return not self._moved

    async def start(self) -> None:
        """Auto: load the judge here. Else start the processes; they load the judge while the run
        goes on (the first batch waits)."""
        if self._auto and not getattr(self._local, "costly", False):
            await self._local.start()
            self._local_started = True
        else:  # N processes, or auto for a judge that costs on every reply: the run never loads it here
            self._start_pool()

    def _start_pool(self) -> None:
        self._moved = True
        # spawn, not fork: the run's process has threads (the store's writer), which fork does not copy safely
        self._pool = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_load, initargs=(self._local.name, self._cfg))
        self._loaded = asyncio.get_running_loop().run_in_executor(self._pool, _ready)

    async def judge(self, items: list[Item]) -> list[Verdict]:
        if self._pool is None:
            assert self._local_started, "start() first"
            began = getattr(self._local, "cpu_s", None)  # CPU its thread spent judging (judges.base.in_thread)
            out = await self._local.judge(items)
            if began is not None and len(items) >= MIN_BATCH and self._pool is None:
                self._costs = [*self._costs[1 - SUSTAINED:], (self._local.cpu_s - began) / len(items)]
                # the median of the last few batches: one slow batch (a garbage collection that ran on the
                # judge's thread, a first batch that warms up) moves nothing
                if len(self._costs) == SUSTAINED and statistics.median(self._costs) > SLOW_S:
                    self._start_pool()
            return out
        assert self._loaded is not None
        try:
            await asyncio.shield(self._loaded)  # a judge that cannot load fails here, with its own error
            out = await asyncio.get_running_loop().run_in_executor(self._pool, _judge, items_to_wire(items))
        except BrokenProcessPool:
            raise RuntimeError(f"judge {self.name}: its worker process died (killed, or out of memory); "
                               "run again to resume, or judge in this process with --judge-workers 0") from None
        return verdicts_from_wire(out)

    async def close(self) -> None:
        if self._local_started:
            self._local_started = False
            await self._local.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)


def offloaded(judges: list[Any], cfg: JudgeConfig, workers: int | None) -> list[Any]:
    """The run's judges with each movable one in `workers` processes (same id, same verdicts);
    None: auto (see the module); 0 keeps them all in this process."""
    if workers == 0:
        return judges
    return [ProcessJudge(j, cfg, workers) if movable(j) else j for j in judges]


# -- in the worker process -------------------------------------------------------------------
_judge_obj: Any = None
_loop: asyncio.AbstractEventLoop | None = None
_load_error: BaseException | None = None


def _load(name: str, cfg: JudgeConfig) -> None:
    """Build and start the judge. A failure is kept and raised by every call that follows, so the
    run reports the judge's own error (an initializer that raises only breaks the pool)."""
    global _judge_obj, _loop, _load_error
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle: it closes the pool
    try:
        from mmsafe.judges import judges as registry
        from mmsafe.judges.base import build_judge

        _loop = asyncio.new_event_loop()
        judge = build_judge(registry.get(name, "--judge"), cfg)
        _loop.run_until_complete(judge.start())
        _judge_obj = judge
    except Exception as exc:  # noqa: BLE001 - sent to the run as it is, if it crosses processes
        _load_error = exc if _crosses(exc) else RuntimeError(f"judge {name} could not load: {type(exc).__name__}: {exc}")


def _crosses(exc: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(exc))
        return True
    except Exception:  # noqa: BLE001 - an exception class that does not pickle
        return False


def _ready() -> bool:
    if _load_error is not None:
        raise _load_error
    return True


def _judge(wire: list[tuple[str, str]]) -> list[str]:
    _ready()
    assert _loop is not None
    return _loop.run_until_complete(judge_wire(_judge_obj, wire))
