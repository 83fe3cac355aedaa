"""The records every stage reads and writes: cases in, generations out, verdicts on them."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

Label = Literal["unsafe", "benign"]
Role = Literal["system", "user", "assistant"]
Task = Literal["chat", "TT", "IT", "MU", "TI", "IE", "IC", "MT"]
# UniSAFE's input/output configurations: what goes in, what must come out
TEXT_OUT_TASKS = frozenset({"TT", "IT", "MU"})  # text-to-text, image-to-text, multimodal understanding
IMAGE_OUT_TASKS = frozenset({"TI", "IE", "IC", "MT"})  # text-to-image, image edit, composition, multi-turn edit
UNISAFE_TASKS = TEXT_OUT_TASKS | IMAGE_OUT_TASKS
# replies scored by a rule on their text (the chosen option, true/false, a guard label), not by judges
RULE_SCORINGS = ("bbq", "choice", "truefalse", "guard")


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Part(Record):
    """One piece of a message: text, or an image held by content hash (bytes live in the blob store)."""

    type: Literal["text", "image"] = "text"
    text: str | None = None
    image_sha256: str | None = None
    mime: str | None = None


class Message(Record):
    role: Role
    parts: tuple[Part, ...]

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", parts=(Part(text=text),))

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.parts if p.type == "text" and p.text)

    @property
    def images(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.type == "image")


class Source(Record):
    dataset: str
    file: str | None = None
    line: int | None = None


class Case(Record):
    """One item to evaluate. Several tasks may project the same risk `target_id`."""

    id: str = Field(min_length=1)
    turns: tuple[Message, ...] = Field(min_length=1)
    task: Task = "chat"
    target_id: str | None = None
    category: str = "uncategorized"
    subcategory: str | None = None
    label: Label = "unsafe"
    language: str = "en"
    source: Source | None = None
    # reference fields for judges that need them (expected warning, rubric criteria, MCQ answer…)
    reference: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The last user turn's text (what refusal and classifier judges read as the request)."""
        for m in reversed(self.turns):
            if m.role == "user":
                return m.text
        return ""

    @property
    def rule_scored(self) -> bool:
        """Scored by a rule on the reply (BBQ, multiple choice, true/false, guard label): no judge
        reads it, it is not in the judged rates, and attacks leave it alone."""
        return self.reference.get("scoring") in RULE_SCORINGS

    @property
    def image_risk(self) -> bool:
        """A text-to-image prompt of t2i/benchmark (I2P, T2ISafety, template-built prompts): the
        target makes `--samples` images of it and its risk is the share judged unsafe."""
        return (self.task == "TI" and self.reference.get("scoring") == "image"
                and self.metadata.get("mode") == "benchmark")

    @property
    def input_images(self) -> tuple[Part, ...]:
        """Every image the case's user turns carry, in order (IE: the original; IC: both inputs)."""
        return tuple(p for m in self.turns if m.role == "user" for p in m.images)


class Generation(Record):
    """What a target produced for one case (under one attack). `error` set means no usable output."""

    case_id: str
    target: str
    attack: str = "none"
    output: tuple[Part, ...] = ()
    # the provider blocked or flagged the reply (a content-policy 400, finish_reason content_filter,
    # message.refusal). With no text it is a plain refusal; text that came back reached the user and
    # is judged like any other reply.
    provider_refusal: bool = False
    provider_message: str | None = None  # the block message, or the model's refusal-channel text
    truncated_from: int | None = None  # bytes the reply had (at least: an endless one) when cut to --max-reply-bytes
    error: str | None = None
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int = 1
    transcript: tuple[Message, ...] = ()  # multi-turn: the whole conversation, the target's replies included
    # what an attack sent and did: the attacked turns, an adaptive attack's attempts, the language
    # a translated request was in (the reply is judged in it)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return generation_key(self.case_id, self.target, self.attack)

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.output if p.type == "text" and p.text)

    @property
    def images(self) -> tuple[Part, ...]:
        return tuple(p for p in self.output if p.type == "image")

    def turn_images(self) -> tuple[Part, ...]:
        """The images the target produced, in turn order: every assistant turn's images when the
        transcript holds the conversation (multi-turn editing), else the final output's."""
        if self.transcript:
            return tuple(p for m in self.transcript if m.role == "assistant" for p in m.images)
        return self.images


class Verdict(Record):
    """One judge's reading of one generation. `unsafe` None means the judge could not decide."""

    generation_key: str
    case_id: str
    judge: str
    unsafe: bool | None = None
    refusal: bool | None = None
    risk: int | None = Field(default=None, ge=0, le=3)
    warns: bool | None = None
    passed: bool | None = None
    toxicity: float | None = Field(default=None, ge=0, le=1)
    score: float | None = None
    reason: str = ""
    error: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


class RunSpec(Record):
    """What a run evaluates. Its hash names what can be reused: same spec, same generations."""

    suite: str
    target: str  # registered target name
    model: str
    base_url: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)  # generation parameters (temperature, max_tokens…)
    limit: int | None = None
    system_prompt: str | None = None
    # what the input files hold, not where they are: an edited file is another run
    suite_sha256: str | None = None  # the loaded cases, all of them (--limit apart)
    predictions_sha256: str | None = None  # the predictions file's bytes (--target replay)
    image_model: str | None = None  # --image-model: another image model is another run
    image_api: str | None = None  # --image-api when not the default (images endpoints)
    samples: int | None = None  # --samples: images per text-to-image prompt when not 1 (another N is another run)

    @property
    def target_label(self) -> str:
        return f"{self.target}:{self.model}"

    def digest(self) -> str:
        """Names what generations can be reused: everything but `limit` (a longer or shorter
        run over the same suite, model and parameters shares its answers)."""
        unset = {k for k in NEWER_FIELDS if getattr(self, k) is None}  # runs made before them keep their hash
        return stable_hash(self.model_dump(mode="json", exclude={"limit", *unset}))


NEWER_FIELDS = ("image_model", "image_api", "samples")
CONTENT_FIELDS = {"suite_sha256": "suite file content", "predictions_sha256": "predictions file content"}


def spec_diff(stored: RunSpec, asked: RunSpec) -> str:
    """What differs between two specs, e.g. "model: stored 'a', asked 'b'"; content hashes shortened."""
    parts = []
    for k, old in stored:
        new = getattr(asked, k)
        if old == new or k == "limit":  # --limit may grow or shrink over the same run: never the difference
            continue
        if k in CONTENT_FIELDS:
            parts.append(f"{CONTENT_FIELDS[k]} changed: stored {str(old)[:12]}, asked {str(new)[:12]}")
        else:
            parts.append(f"{k}: stored {old!r}, asked {new!r}")
    return ", ".join(parts)


_STABLE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # built once: json.dumps
# with these options builds an encoder per call, a third of a key's cost


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(_STABLE.encode(obj).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=8192)  # a key is asked for several times per generation, close together
def generation_key(case_id: str, target: str, attack: str) -> str:
    # stable_hash([case_id, target, attack]), byte for byte (a list of strings has no keys to sort, and
    # pydantic-core writes strings as _STABLE does: a test checks every character), at half the cost
    return hashlib.sha256(to_json([case_id, target, attack])).hexdigest()[:16]
