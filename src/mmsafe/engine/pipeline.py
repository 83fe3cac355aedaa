"""Judging while generating: each judge consumes generations as they are stored, in batches
of whatever has arrived (up to its batch size), so judging overlaps the wait on the target.
When generation ends, a progress bar per judge shows what is left to judge. The judge stage
that follows only catches up on what this did not see (a resumed run, a judge added later).

Each judge's queue holds at most MAX_WAITING replies: when a judge falls behind, the workers that
generate wait for it, so memory stays flat however long the run and the answers wait in the store,
never in memory."""

from __future__ import annotations

import asyncio
import contextlib

from mmsafe.engine.progress import NullProgress
from mmsafe.judges.base import Judge, judge_id, judge_items, stamped
from mmsafe.schema import Case, Generation
from mmsafe.store import Store

_END = None
LINGER_S = 0.05  # how long a judge waits for more replies before judging a part-filled batch
MAX_WAITING = 2048  # replies a judge may have waiting before generation waits for it


class JudgeFeed:
    def __init__(self, store: Store, judges: list[Judge], progress=None, max_waiting: int = MAX_WAITING) -> None:
        self._store, self._judges = store, judges
        self._progress = progress or NullProgress()
        self._queues: list[asyncio.Queue[tuple[Case, Generation] | None]] = [
            asyncio.Queue(max(max_waiting, j.batch_size)) for j in judges]
        self._left = [0 for _ in judges]  # put but not yet judged
        # per judge id, the keys whose verdict did not stand (an error, a jury member missing): the
        # judge stage of this run does not ask them again (the next run does)
        self.tried: dict[str, set[str]] = {judge_id(j): set() for j in judges}
        self._bars: list = [None for _ in judges]
        self._ending = asyncio.Event()  # set when generation is over: a batch no longer waits to fill
        # one reader per judge, or one per batch it can judge at once (a judge sharded across Ray actors)
        self._tasks = [[asyncio.create_task(self._consume(i)) for _ in range(max(1, getattr(j, "feed_consumers", 1)))]
                       for i, j in enumerate(judges)]

    async def put(self, case: Case, gen: Generation) -> None:
        """Hand one stored answer to every judge; waits while a judge has MAX_WAITING waiting."""
        if gen.error is None and not case.rule_scored:  # a rule scores those, not judges
            for i in range(len(self._queues)):
                self._left[i] += 1
                await self._put(i, (case, gen))

    async def _put(self, i: int, item) -> None:
        q, tasks = self._queues[i], self._tasks[i]
        if not q.full():
            q.put_nowait(item)
            return
        putter = asyncio.ensure_future(q.put(item))  # wait for room, or for the judge to fail
        done, _ = await asyncio.wait({putter, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        if putter not in done:
            putter.cancel()
            for t in done:
                t.result()  # the judge's error
            raise RuntimeError(f"judge {judge_id(self._judges[i])} stopped reading")

    async def _consume(self, i: int) -> None:
        judge, q = self._judges[i], self._queues[i]
        ended = False
        while not ended:
            batch = [g] if (g := await q.get()) is not _END else []
            ended = g is _END
            if not ended and q.qsize() + 1 < judge.batch_size and not self._ending.is_set():
                # let a batch gather for a moment: one judge call per batch costs far less per reply
                # than one per reply (the learned models are vectorised), and judging is never urgent,
                # until generation ends: then nothing more is coming, and the run waits for the judges
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ending.wait(), LINGER_S)
            while not ended and len(batch) < judge.batch_size and not q.empty():
                g = q.get_nowait()
                ended = g is _END
                if not ended:
                    batch.append(g)
            if batch:
                for v in await judge_items(judge, batch):
                    self._store.put_verdict(stamped(v, judge))
                    if v.error is not None or v.raw.get("incomplete"):
                        self.tried[judge_id(judge)].add(v.generation_key)
                self._left[i] -= len(batch)
                if self._bars[i] is not None:
                    self._bars[i].advance(len(batch))

    async def finish(self) -> None:
        """Generation is over: show what each judge still has to read, and wait for it."""
        self._ending.set()
        for i in range(len(self._queues)):
            if self._left[i]:
                self._bars[i] = self._progress.stage(f"judge:{judge_id(self._judges[i])}", self._left[i])
        for i in range(len(self._queues)):
            for _ in self._tasks[i]:  # one end mark per reader
                await self._put(i, _END)
        await asyncio.gather(*(t for tasks in self._tasks for t in tasks))

    def cancel(self) -> None:
        for tasks in self._tasks:
            for t in tasks:
                t.cancel()
