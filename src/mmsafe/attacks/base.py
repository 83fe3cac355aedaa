"""What every attack is: a named `Case → Case` transform (or, for adaptive attacks, a small loop
against the target) that says which modalities it takes and gives.

A static attack rewrites the case (its last user turn, a system message, extra turns, images) and
the engine asks the target as usual. An adaptive attack (`adaptive = True`) gets `ask`, which
sends one case to the target (with the run's retry policy) and returns the engine's Outcome; it
keeps every attempt and returns the one it judged best.

Attacks never raise on a case they cannot use: `applies()` says why (a text attack on an image
task, a translator that is not installed) and the run counts the pair as not applicable."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mmsafe.schema import IMAGE_OUT_TASKS, Case, Message, Part

TEXT_IN, IMAGE_IN = "text", "image+text"
TEXT_OUT, IMAGE_OUT = "text", "image"


class NotApplicable(Exception):
    """This attack cannot be used on this case; the message says why (counted, never an error)."""


class AttackFailed(Exception):
    """The attack itself could not be carried out for this case (its attacker endpoint failed):
    recorded as that generation's error, never as safe. `attempts`: what an adaptive search had
    already tried when it stopped (Attempt.as_dict() each), kept with the error."""

    def __init__(self, message: str, attempts: list[dict] | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts or []


def case_input(case: Case) -> str:
    """The modality a case's input has: text, or image+text."""
    return IMAGE_IN if case.input_images else TEXT_IN


def case_output(case: Case) -> str:
    """The modality a case asks for: text, or image (UniSAFE's TI, IE, IC, MT)."""
    return IMAGE_OUT if case.task in IMAGE_OUT_TASKS else TEXT_OUT


def attack_label(attack: Attack | None) -> str:
    """The label a (case, attack) pair is stored under: the attack's, `none` for the plain case."""
    return attack.label if attack is not None else "none"


@dataclass
class AttackContext:
    """What attacks may use beyond the case: the run's blob store (for images they render), an
    attacker model (language and adaptive attacks), a budget of target queries per case (adaptive),
    and the attack parameters given with --attack-param."""

    blobs: Any = None  # mmsafe.store.blobs.BlobStore
    attacker: Any = None  # mmsafe.attacks.attacker.Attacker, when --attacker-model is given
    budget: int = 20  # --attack-budget: most target queries one adaptive attack may make per case
    params: dict[str, Any] = field(default_factory=dict)  # --attack-param KEY=VALUE (all attacks see them)
    seed: int = 0
    modes: frozenset[str] | None = None  # attack only cases of these protocol modes (--suite protocol: benchmark)

    def put_image(self, data: bytes, mime: str = "image/png") -> Part:
        """Store an image the attack made; the part that names it by content hash."""
        if self.blobs is None:
            raise AttackFailed("this attack makes images but the run has no blob store")
        return Part(type="image", image_sha256=self.blobs.put(data), mime=mime)

    def rng(self, case: Case, attack: str) -> random.Random:
        """A random generator fixed by (seed, case, attack): the same run makes the same prompts."""
        digest = hashlib.sha256(f"{self.seed}\0{case.id}\0{attack}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class Attempt:
    """One query an adaptive attack made: the prompt it sent, what came back, the score it gave."""

    prompt: str
    reply: str
    score: float | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "reply": self.reply, "score": self.score, "note": self.note}


@dataclass
class AdaptiveResult:
    """What an adaptive attack ends with: the case it kept (sent last, or judged best), the engine's
    outcome for it, and every attempt in order."""

    case: Case
    outcome: Any  # mmsafe.engine.conversation.Outcome
    attempts: list[Attempt]
    success: bool = False


Ask = Callable[[Case], Awaitable[Any]]  # sends one case to the target; returns engine Outcome


class Attack:
    """Base class. Subclasses set the class attributes and override `transform` (or `run`)."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    inputs: ClassVar[frozenset[str]] = frozenset({TEXT_IN, IMAGE_IN})  # case inputs it can rewrite
    outputs: ClassVar[frozenset[str]] = frozenset({TEXT_OUT})  # what the case must ask for
    gives: ClassVar[str | None] = None  # the input modality the attacked case has (None: as it was)
    adaptive: ClassVar[bool] = False
    cpu_bound: ClassVar[bool] = False  # transform renders images: run off the event loop
    defaults: ClassVar[dict[str, Any]] = {}  # its parameters and their defaults (--attack-param NAME.KEY=V)

    def __init__(self, ctx: AttackContext | None = None, **params: Any) -> None:
        self.ctx = ctx or AttackContext()
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ValueError(f"attack {self.name}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"it takes {', '.join(sorted(self.defaults)) or 'none'}")
        self.params = {**self.defaults, **{k: _like(self.defaults[k], v, f"{self.name}.{k}") for k, v in params.items()}}

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @property
    def label(self) -> str:
        """What its generations are stored under: the name, plus any parameter not at its default
        (another many-shot count is another attack, never a reuse of the stored answers)."""
        changed = {k: v for k, v in self.params.items() if v != self.defaults.get(k)}
        if not changed:
            return self.name
        return f"{self.name}[{','.join(f'{k}={changed[k]}' for k in sorted(changed))}]"

    def applies(self, case: Case) -> str | None:
        """None when the attack can be used on this case, else why not."""
        if case.rule_scored:
            return f"its reply is scored by rule ({case.reference.get('scoring')}), not judged: not attacked"
        if self.ctx.modes is not None and case.metadata.get("mode") not in self.ctx.modes:
            return f"attacks run on {' and '.join(sorted(self.ctx.modes))} cases only here"
        if case_input(case) not in self.inputs:
            return f"takes {' or '.join(sorted(self.inputs))} input, the case has {case_input(case)}"
        if case_output(case) not in self.outputs:
            return f"for {' or '.join(sorted(self.outputs))} output, the case asks for {case_output(case)}"
        return None

    def transform(self, case: Case, rng: random.Random) -> Case:
        raise NotImplementedError

    async def run(self, case: Case, ask: Ask) -> AdaptiveResult:
        raise NotImplementedError

    def attacked(self, case: Case) -> Case:
        """The transformed case (static attacks), the attack's label recorded in its metadata."""
        out = self.transform(case, self.ctx.rng(case, self.label))
        return out.model_copy(update={"metadata": {**out.metadata, "attack": self.label}})


class Rewrite(Attack):
    """An attack that rewrites the request's text (the last user turn), images kept: subclasses
    give `rewrite(text, rng)`; a case with no request text is not applicable."""

    def applies(self, case: Case) -> str | None:
        why = super().applies(case)
        if why is None and not request(case).strip():
            return "the case has no request text to rewrite"
        return why

    def rewrite(self, text: str, rng: random.Random) -> str:
        raise NotImplementedError

    def transform(self, case: Case, rng: random.Random) -> Case:
        text = request(case)
        if not text.strip():
            raise NotApplicable("the case has no request text to rewrite")
        return replace_request(case, self.rewrite(text, rng))


def _like(default: Any, value: Any, name: str = "value") -> Any:
    """A --attack-param value in its default's type ("64" → 64); ValueError naming `name` (the
    attack and key) when it is not one: 2.5 or true for a whole number, "abc" for a number."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ValueError(f"{name}: expected true or false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise ValueError(f"{name}: expected a whole number, got {value!r}") from None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name}: expected a whole number, got {value!r}")
        return value
    if isinstance(default, float):
        try:
            value = float(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else value
        except ValueError:
            raise ValueError(f"{name}: expected a number, got {value!r}") from None
        if not isinstance(value, float) or value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{name}: expected a finite number, got {value!r}")
        return value
    return value


# -- helpers attacks share -------------------------------------------------------------------------
def request(case: Case) -> str:
    """The request an attack wraps: the last user turn's text."""
    return case.prompt


def last_user(case: Case) -> int:
    for i in range(len(case.turns) - 1, -1, -1):
        if case.turns[i].role == "user":
            return i
    raise NotApplicable("the case has no user turn")


def replace_request(case: Case, text: str, images: tuple[Part, ...] | None = None) -> Case:
    """The case with its last user turn's text replaced (its images kept, or replaced when given)."""
    i = last_user(case)
    old = case.turns[i]
    kept = old.images if images is None else images
    turn = Message(role="user", parts=(Part(text=text), *kept))
    return case.model_copy(update={"turns": (*case.turns[:i], turn, *case.turns[i + 1:])})


def with_system(case: Case, text: str) -> Case:
    """The case with `text` as its system message (before any system message it had)."""
    if case.turns[0].role == "system":
        merged = f"{text}\n\n{case.turns[0].text}" if case.turns[0].text else text
        first = Message(role="system", parts=(Part(text=merged),))
        return case.model_copy(update={"turns": (first, *case.turns[1:])})
    return case.model_copy(update={"turns": (Message(role="system", parts=(Part(text=text),)), *case.turns)})


def before_request(case: Case, turns: list[Message]) -> Case:
    """The case with `turns` (faux history) put just before its last user turn."""
    i = last_user(case)
    return case.model_copy(update={"turns": (*case.turns[:i], *turns, *case.turns[i:])})


def assistant(text: str) -> Message:
    return Message(role="assistant", parts=(Part(text=text),))


def user(text: str, *images: Part) -> Message:
    return Message(role="user", parts=(Part(text=text), *images))
