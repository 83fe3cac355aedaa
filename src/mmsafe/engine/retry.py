"""Bounded retries with exponential backoff and full jitter that honour Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_RNG = random.Random()


class RetryableError(Exception):
    """A failure worth another try (429, 5xx, timeout, dropped connection)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class GiveUp(Exception):
    """Retries exhausted; carries the last reason and how many attempts were made."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.attempts = attempts


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # nan and inf are no delay a client can honour: ignored, the usual backoff applies
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0  # a server asking for longer than this is treated as a failure

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        """Delay before attempt `attempt + 1` (attempt counts from 1)."""
        backoff = (rng or _RNG).uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
        if retry_after is not None:
            return max(retry_after, backoff * 0.1)  # honour the server, add a little jitter on top
        return backoff

    async def run(self, fn: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        """Call fn until it succeeds or the budget is spent; returns (result, attempts)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await fn(), attempt
            except RetryableError as exc:
                if attempt >= self.max_attempts:
                    raise GiveUp(f"{exc} (gave up after {attempt} attempts)", attempt) from exc
                if exc.retry_after is not None and exc.retry_after > self.max_retry_after:
                    raise GiveUp(f"{exc} (server asked to wait {exc.retry_after:.0f}s)", attempt) from exc
                await asyncio.sleep(self.delay(attempt, exc.retry_after))
