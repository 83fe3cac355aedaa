"""What every target (a model endpoint, a local model, a predictions file) provides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mmsafe.errors import MmsafeError
from mmsafe.schema import Case, Part


class TargetError(Exception):
    """This case failed for a reason retrying won't fix (recorded as an error, never as safe)."""


class TargetUnavailable(MmsafeError):
    """The whole target is unusable (bad key, unknown model, missing file): stop the run."""


@dataclass(frozen=True)
class Reply:
    output: tuple[Part, ...]
    provider_refusal: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @classmethod
    def text(cls, text: str, **kw: Any) -> Reply:
        return cls(output=(Part(text=text),), **kw)


@dataclass(frozen=True)
class TargetConfig:
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    predictions: Path | None = None
    concurrency: int = 100
    timeout_s: float = 120.0
    params: dict[str, Any] = field(default_factory=dict)


class Target(Protocol):
    model: str  # resolved model name, stored in the run spec
    max_concurrency: int | None  # a hard cap the target imposes (a local model runs one at a time)
    note: str  # what this model is, shown next to its numbers

    async def start(self) -> None: ...

    async def generate(self, case: Case) -> Reply:
        """Raise RetryableError for transient trouble, TargetError for a per-case failure."""
        ...

    async def close(self) -> None: ...
