"""What every judge provides. Judges read (case, generation) pairs in batches and return
verdicts; a rule judge answers at once, a local model judge encodes a batch on a worker
thread, an LLM judge (later) fans a batch out to its endpoint."""

from __future__ import annotations

from typing import Protocol

from mmsafe.schema import Case, Generation, Verdict

Item = tuple[Case, Generation]


class Judge(Protocol):
    name: str
    batch_size: int  # how many items one judge() call takes
    concurrency: int  # how many judge() calls may run at once

    async def start(self) -> None: ...

    async def judge(self, items: list[Item]) -> list[Verdict]: ...

    async def close(self) -> None: ...
