"""Judging while generating: each judge consumes generations as they are stored, in batches
of whatever has arrived (up to its batch size), so judging overlaps the wait on the target.
When generation ends, a progress bar per judge shows what is left to judge. The judge stage
that follows only catches up on what this did not see (a resumed run, a judge added later)."""

from __future__ import annotations

import asyncio

from mmsafe.engine.progress import NullProgress
from mmsafe.judges.base import Judge, judge_id, judge_items, stamped
from mmsafe.schema import Case, Generation
from mmsafe.store import Store

_END = None
LINGER_S = 0.05  # how long a judge waits for more replies before judging a part-filled batch


class JudgeFeed:
    def __init__(self, store: Store, judges: list[Judge], cases: dict[str, Case], progress=None) -> None:
        self._store, self._cases, self._judges = store, cases, judges
        self._progress = progress or NullProgress()
        self._queues: list[asyncio.Queue[Generation | None]] = [asyncio.Queue() for _ in judges]
        self._left = [0 for _ in judges]  # put but not yet judged
        self._bars: list = [None for _ in judges]
        self._tasks = [asyncio.create_task(self._consume(i)) for i in range(len(judges))]

    def put(self, gen: Generation) -> None:
        if gen.error is None and not self._cases[gen.case_id].rule_scored:  # a rule scores those, not judges
            for i, q in enumerate(self._queues):
                q.put_nowait(gen)
                self._left[i] += 1

    async def _consume(self, i: int) -> None:
        judge, q = self._judges[i], self._queues[i]
        ended = False
        while not ended:
            batch = [g] if (g := await q.get()) is not _END else []
            ended = g is _END
            if not ended and q.qsize() + 1 < judge.batch_size:
                # let a batch gather for a moment: one judge call per batch costs far less per reply
                # than one per reply (the learned models are vectorised), and judging is never urgent
                await asyncio.sleep(LINGER_S)
            while not ended and len(batch) < judge.batch_size and not q.empty():
                g = q.get_nowait()
                ended = g is _END
                if not ended:
                    batch.append(g)
            if batch:
                for v in await judge_items(judge, [(self._cases[g.case_id], g) for g in batch]):
                    self._store.put_verdict(stamped(v, judge))
                self._left[i] -= len(batch)
                if self._bars[i] is not None:
                    self._bars[i].advance(len(batch))

    async def finish(self) -> None:
        """Generation is over: show what each judge still has to read, and wait for it."""
        for i, q in enumerate(self._queues):
            if self._left[i]:
                self._bars[i] = self._progress.stage(f"judge:{judge_id(self._judges[i])}", self._left[i])
            q.put_nowait(_END)
        await asyncio.gather(*self._tasks)

    def cancel(self) -> None:
        for t in self._tasks:
            t.cancel()
