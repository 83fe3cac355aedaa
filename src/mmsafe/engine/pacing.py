"""Request pacing for endpoints with a rate limit: at most `rate` requests per second, evenly
spaced (retries count too), so a run stays under a provider's quota instead of bouncing off 429s."""

from __future__ import annotations

import asyncio
from typing import Any

from mmsafe.schema import Case
from mmsafe.targets.base import Reply, Target


class Pacer:
    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next)
        self._next = slot + self.interval  # reserve the slot before sleeping: no two callers share one
        if slot > now:
            await asyncio.sleep(slot - now)


class PacedTarget:
    """A target whose every request first waits for its slot."""

    def __init__(self, target: Target, rate: float) -> None:
        self._target, self._pacer = target, Pacer(rate)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    async def generate(self, case: Case) -> Reply:
        await self._pacer.wait()
        return await self._target.generate(case)
