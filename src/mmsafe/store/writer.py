"""A background thread that owns the write connection and commits in batches.

The event loop only enqueues; the thread groups whatever is waiting into one transaction
(up to `batch` rows, at most `interval` seconds after the first), so an answer is durable
within ~interval
of arriving and the loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

from mmsafe.errors import MmsafeError

_STOP = object()
MAX_BACKLOG = 4096  # rows waiting for the writer before the event loop waits for it (Writer.room)


class StoreError(MmsafeError):
    """The run database cannot be written (disk full, read-only, locked): what is committed stays."""


class Writer:
    def __init__(self, conn: sqlite3.Connection, batch: int = 512, interval: float = 0.02) -> None:
        self._conn, self._batch, self._interval = conn, batch, interval
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._draining: asyncio.Future | None = None
        self._pending: list[tuple[str, Sequence[Any]]] = []  # this loop pass's rows (put on the loop's thread)
        self._sent = 0  # rows handed to the writer (counted on the putting side, under _count)
        self._count = threading.Lock()  # puts from other threads count beside the loop's hand-overs
        self._written = 0  # rows committed or dropped on an error (counted by the writer's thread)
        self._thread = threading.Thread(target=self._loop, name="mmsafe-store-writer", daemon=True)
        self._thread.start()

    def put(self, sql: str, params: Sequence[Any]) -> None:
        """Queue one row. On an event loop's thread the rows of one pass of the loop go to the
        writer together when the pass ends: one hand-over (and one wake-up of the writer's thread,
        which then wants the GIL) per pass instead of per row."""
        if self.error:
            raise StoreError(f"cannot write to the run database: {self.error}") from self.error
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on a loop's thread: straight to the writer
            self._queue([(sql, params)])
            return
        if not self._pending:
            loop.call_soon(self._hand_over)
        self._pending.append((sql, params))

    def _hand_over(self) -> None:
        if self._pending:
            rows, self._pending = self._pending, []
            self._queue(rows)

    def _queue(self, rows: list[tuple[str, Sequence[Any]]]) -> None:
        with self._count:
            self._sent += len(rows)
        self._q.put(rows)

    def backlog(self) -> int:
        """Rows queued and not yet committed."""
        return self._sent + len(self._pending) - self._written

    async def room(self, most: int = MAX_BACKLOG) -> None:
        """With `most` rows or more not yet committed, wait until the writer is down to half of that
        (a writer behind the loop would otherwise hold every answer of a long run in memory). The
        loop goes on as soon as there is room, rather than waiting for everything to be written."""
        if self.backlog() < most:
            return
        if self._draining is None or self._draining.done():
            self._draining = asyncio.ensure_future(self._drain(most // 2))
        await asyncio.shield(self._draining)

    async def _drain(self, low: int) -> None:
        self._hand_over()
        while self.backlog() > low and self._thread.is_alive() and not self.error:
            await asyncio.sleep(0.002)
        if self.error:
            raise StoreError(f"cannot write to the run database: {self.error}") from self.error

    def barrier(self) -> threading.Event:
        """An event set once every row queued before it is committed (rows waiting for the end of
        the loop's pass go first)."""
        self._hand_over()
        done = threading.Event()
        self._q.put(done)
        return done

    async def flush(self) -> None:
        """Wait (without blocking the loop) until everything enqueued so far is committed."""
        done = self.barrier()
        await asyncio.get_running_loop().run_in_executor(None, done.wait)
        if self.error:
            raise StoreError(f"cannot write to the run database: {self.error}") from self.error

    def close(self) -> None:
        self._hand_over()
        self._q.put(_STOP)
        self._thread.join()
        if self.error:
            raise StoreError(f"cannot write to the run database: {self.error}") from self.error

    def _loop(self) -> None:
        stop = False
        while not stop:
            item = self._q.get()
            deadline = time.monotonic() + self._interval  # commit at least every `interval` seconds
            rows, events = [], []
            while True:
                if item is _STOP:
                    stop = True
                    break
                if isinstance(item, threading.Event):  # someone waits for what came before it: commit now
                    events.append(item)
                    break
                else:
                    rows.extend(item)
                left = deadline - time.monotonic()
                if len(rows) >= self._batch or left <= 0:
                    break
                try:
                    item = self._q.get(timeout=left)
                except queue.Empty:
                    break
            if rows and not self.error:
                try:
                    # one transaction, one call per statement: each statement writes its own table, so
                    # rows of different statements commit together in any order (a statement's own rows
                    # keep theirs: a later row for the same key still wins)
                    groups: dict[str, list[Sequence[Any]]] = {}
                    for sql, params in rows:
                        groups.setdefault(sql, []).append(params)
                    with self._conn:
                        for sql, group in groups.items():
                            self._conn.executemany(sql, group)
                except BaseException as exc:  # surfaced on the next put/flush/close
                    self.error = exc
            self._written += len(rows)
            for ev in events:
                ev.set()
