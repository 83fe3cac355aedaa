"""Judging while generating: each judge consumes generations as they are stored, in batches
of whatever has arrived (up to its batch size), so judging overlaps the wait on the target.
The judge stage that follows only catches up on what this did not see (a resumed run, a
judge added later)."""

from __future__ import annotations

import asyncio

from mmsafe.judges.base import Judge, stamped
from mmsafe.schema import Case, Generation
from mmsafe.store import Store

_END = None


class JudgeFeed:
    def __init__(self, store: Store, judges: list[Judge], cases: dict[str, Case]) -> None:
        self._store, self._cases = store, cases
        self._queues: list[asyncio.Queue[Generation | None]] = [asyncio.Queue() for _ in judges]
        self._tasks = [asyncio.create_task(self._consume(j, q)) for j, q in zip(judges, self._queues, strict=True)]

    def put(self, gen: Generation) -> None:
        if gen.error is None:
            for q in self._queues:
                q.put_nowait(gen)

    async def _consume(self, judge: Judge, q: asyncio.Queue[Generation | None]) -> None:
        ended = False
        while not ended:
            batch = [g] if (g := await q.get()) is not _END else []
            ended = g is _END
            while not ended and len(batch) < judge.batch_size and not q.empty():
                g = q.get_nowait()
                ended = g is _END
                if not ended:
                    batch.append(g)
            if batch:
                for v in await judge.judge([(self._cases[g.case_id], g) for g in batch]):
                    self._store.put_verdict(stamped(v, judge))

    async def finish(self) -> None:
        for q in self._queues:
            q.put_nowait(_END)
        await asyncio.gather(*self._tasks)

    def cancel(self) -> None:
        for t in self._tasks:
            t.cancel()
