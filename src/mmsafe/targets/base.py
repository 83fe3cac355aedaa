"""What every target (a model endpoint, a local model, a predictions file) provides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mmsafe.errors import MmsafeError
from mmsafe.schema import Case, Part


DEFAULT_MAX_REPLY_BYTES = 1 << 20  # 1 MiB of text per reply


class TargetError(Exception):
    """This case failed for a reason retrying won't fix (recorded as an error, never as safe)."""


class TargetUnavailable(MmsafeError):
    """The whole target is unusable (bad key, unknown model, missing file): stop the run."""


@dataclass(frozen=True)
class Reply:
    output: tuple[Part, ...]  # what reached the user
    provider_refusal: bool = False  # the provider blocked or flagged it, or the model used its refusal channel
    provider_message: str | None = None  # the provider's block message or the model's refusal-channel text
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    truncated_from: int | None = None  # the text's size in bytes before the engine cut it to the cap

    @classmethod
    def text(cls, text: str, **kw: Any) -> Reply:
        return cls(output=(Part(text=text),), **kw)


@dataclass(frozen=True)
class TargetConfig:
    model: str | None = None
    image_model: str | None = None  # the model for image-output tasks (TI, IE, IC, MT) where it differs
    image_api: str = "images"  # openai: image-output tasks go to the images endpoints, or to chat ("chat")
    base_url: str | None = None
    api_key_env: str | None = None
    predictions: Path | None = None
    concurrency: int = 100
    timeout_s: float = 120.0
    params: dict[str, Any] = field(default_factory=dict)
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES  # the cap on one reply's text (the engine cuts longer ones)
    samples: int = 1  # --samples: images asked for each text-to-image (TI) prompt
    slots: int | None = None  # --slots: sequences a local GGUF server decodes at once (None: its default)


def images_wanted(case: Case, samples: int) -> int:
    """How many images a target makes for this case: `samples` for the text-to-image prompts
    of t2i/benchmark (Case.image_risk), one for any other (UniSAFE and the adversarial and
    compliance suites score one picture; edits carry each turn's picture into the next)."""
    return samples if case.image_risk else 1


class Target(Protocol):
    model: str  # resolved model name, stored in the run spec
    max_concurrency: int | None  # a hard cap the target imposes (a local model runs one at a time)
    note: str  # what this model is, shown next to its numbers

    async def start(self) -> None: ...

    async def generate(self, case: Case) -> Reply:
        """Raise RetryableError for transient trouble, TargetError for a per-case failure."""
        ...

    async def close(self) -> None: ...
