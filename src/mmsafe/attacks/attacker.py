"""The attacker model: any OpenAI-compatible chat endpoint (`--attacker-model`,
`--attacker-base-url`, key from `--attacker-api-key-env`) that language attacks translate with and
adaptive attacks (PAIR, TAP, attacker-driven crescendo) propose and score prompts with. It is
spoken to through the openai target, so it gets the same retries, caps and key handling."""

from __future__ import annotations

from typing import Any

from mmsafe.attacks.base import AttackFailed
from mmsafe.engine.retry import GiveUp, RetryPolicy
from mmsafe.schema import Case, Message, Part
from mmsafe.targets.base import TargetConfig, TargetError, TargetUnavailable


class Attacker:
    def __init__(self, model: str, base_url: str | None = None, api_key_env: str | None = None,
                 timeout_s: float = 120.0, temperature: float = 1.0, max_tokens: int = 1024,
                 max_attempts: int = 4, concurrency: int = 32) -> None:
        from mmsafe.targets.openai import OpenAITarget

        params: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens}
        cfg = TargetConfig(model=model, base_url=base_url, api_key_env=api_key_env, timeout_s=timeout_s,
                           params=params, concurrency=concurrency)
        self._target = OpenAITarget(cfg)
        self.model = model
        self.note = f"attacker {self._target.note}"
        self._policy = RetryPolicy(max_attempts=max_attempts)
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self._target.start()
            self._started = True

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self._target.close()

    async def chat(self, messages: list[tuple[str, str]] | str, system: str | None = None) -> str:
        """The attacker's reply to `messages` ((role, text) pairs, or one user text). Failure after
        retries is AttackFailed: the attacked case is recorded as an error, never as safe."""
        try:
            await self.start()
        except TargetUnavailable as exc:
            raise _told(exc, self.model) from None
        if isinstance(messages, str):
            messages = [("user", messages)]
        turns = [Message(role=r, parts=(Part(text=t),)) for r, t in messages]  # type: ignore[arg-type]
        if system:
            turns.insert(0, Message(role="system", parts=(Part(text=system),)))
        case = Case(id="attacker", turns=tuple(turns))
        try:
            reply, _ = await self._policy.run(lambda: self._target.generate(case))
        except (GiveUp, TargetError) as exc:
            raise AttackFailed(f"attacker model {self.model}: {exc}") from None
        except TargetUnavailable as exc:
            raise _told(exc, self.model) from None
        text = "\n".join(p.text for p in reply.output if p.type == "text" and p.text)
        if not text.strip():
            raise AttackFailed(f"attacker model {self.model} gave an empty reply"
                               + (" (blocked by its provider)" if reply.provider_refusal else ""))
        return text


def _told(exc: TargetUnavailable, model: str) -> TargetUnavailable:
    """The endpoint's message speaks of the target's flags: these are the attacker's."""
    from mmsafe.targets.openai import flags_for

    return TargetUnavailable(f"attacker model {model}: {flags_for(str(exc), 'attacker')}")
