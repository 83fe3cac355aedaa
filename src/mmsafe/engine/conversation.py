"""Multi-turn cases: the target answers each user turn in order, seeing its own earlier replies.

A user turn already followed by an assistant message in the case (a transcript supplied by the
dataset) is history, not a question; the target answers every other user turn. A provider block
ends the conversation there: the block is the answer."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mmsafe.engine.replies import check_reply, tidy
from mmsafe.engine.retry import GiveUp, RetryPolicy
from mmsafe.schema import Case, Message
from mmsafe.targets.base import DEFAULT_MAX_REPLY_BYTES, Reply, Target


@dataclass
class Outcome:
    reply: Reply
    attempts: int
    transcript: tuple[Message, ...] = ()  # the whole conversation, when the target spoke more than once


def asks(case: Case) -> list[int]:
    """Indexes of the user turns the target must answer."""
    t = case.turns
    return [i for i, m in enumerate(t) if m.role == "user" and (i + 1 == len(t) or t[i + 1].role != "assistant")]


async def ask(target: Target, case: Case, max_bytes: int | None) -> Reply:
    """One request; an empty reply fails (retried where asking again may help), the rest is tidied."""
    reply = check_reply(await target.generate(case), retry=getattr(target, "retries_help", True))
    return tidy(reply, max_bytes)


async def converse(target: Target, case: Case, policy: RetryPolicy, max_bytes: int | None = DEFAULT_MAX_REPLY_BYTES) -> Outcome:
    points = asks(case)
    # the common case, one request; and a target that replays recorded answers has only the last
    if len(points) <= 1 or getattr(target, "replays_recorded", False):
        reply, attempts = await policy.run(lambda: ask(target, case, max_bytes))
        return Outcome(reply, attempts)
    history: list[Message] = []
    attempts = prompt_tokens = completion_tokens = 0
    start = 0
    reply: Reply | None = None
    for stop in points:
        history.extend(case.turns[start : stop + 1])
        start = stop + 1
        step = case.model_copy(update={"turns": tuple(history)})
        try:
            reply, n = await policy.run(lambda step=step: ask(target, step, max_bytes))
        except GiveUp as exc:
            raise GiveUp(f"turn {len(history)}: {exc}", attempts + exc.attempts) from exc
        attempts += n
        prompt_tokens += reply.prompt_tokens or 0
        completion_tokens += reply.completion_tokens or 0
        history.append(Message(role="assistant", parts=reply.output))
        if reply.provider_refusal:
            break
    assert reply is not None
    total = replace(reply, prompt_tokens=prompt_tokens or None, completion_tokens=completion_tokens or None)
    return Outcome(total, attempts, tuple(history))
