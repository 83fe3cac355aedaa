"""Multi-turn cases: the target answers each user turn in order, seeing its own earlier replies.

A user turn already followed by an assistant message in the case (a transcript supplied by the
dataset) is history, not a question; the target answers every other user turn. A provider block
ends the conversation there: the block is the answer."""

from __future__ import annotations

from dataclasses import dataclass

from mmsafe.engine.retry import GiveUp, RetryPolicy
from mmsafe.schema import Case, Message
from mmsafe.targets.base import Reply, Target


@dataclass
class Outcome:
    reply: Reply
    attempts: int
    transcript: tuple[Message, ...] = ()  # the whole conversation, when the target spoke more than once


def asks(case: Case) -> list[int]:
    """Indexes of the user turns the target must answer."""
    t = case.turns
    return [i for i, m in enumerate(t) if m.role == "user" and (i + 1 == len(t) or t[i + 1].role != "assistant")]


async def converse(target: Target, case: Case, policy: RetryPolicy) -> Outcome:
    points = asks(case)
    # the common case, one request; and a target that replays recorded answers has only the last
    if len(points) <= 1 or getattr(target, "replays_recorded", False):
        reply, attempts = await policy.run(lambda: target.generate(case))
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
            reply, n = await policy.run(lambda step=step: target.generate(step))
        except GiveUp as exc:
            raise GiveUp(f"turn {len(history)}: {exc}", attempts + exc.attempts) from exc
        attempts += n
        prompt_tokens += reply.prompt_tokens or 0
        completion_tokens += reply.completion_tokens or 0
        history.append(Message(role="assistant", parts=reply.output))
        if reply.provider_refusal:
            break
    assert reply is not None
    total = Reply(reply.output, reply.provider_refusal, prompt_tokens or None, completion_tokens or None)
    return Outcome(total, attempts, tuple(history))
