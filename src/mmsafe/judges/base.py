"""What every judge provides. Judges read (case, generation) pairs in batches and return
verdicts; a rule judge answers at once, a local model judge encodes a batch on a worker
thread, an LLM judge (later) fans a batch out to its endpoint."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from mmsafe.schema import Case, Generation, Verdict, stable_hash

Item = tuple[Case, Generation]
R = TypeVar("R")


@dataclass(frozen=True)
class JudgeConfig:
    """What a judge that needs settings is built from (`--judge-model`, `--judge-base-url`,
    `--judge-api-key-env`, `--judge-param KEY=VALUE`). Rule judges ignore it."""

    model: str | None = None  # the judge model: a name behind an endpoint, or a local path / hub name
    base_url: str | None = None  # an OpenAI-compatible endpoint serving the judge model
    api_key_env: str | None = None  # environment variable holding the judge endpoint's key
    concurrency: int = 32  # judge requests in flight
    timeout_s: float = 120.0
    max_attempts: int = 6
    options: dict[str, Any] = field(default_factory=dict)  # judge-specific settings
    calibrate: Path | None = None  # a user's labelled file to measure the judge on


class Judge(Protocol):
    name: str  # the registered name
    batch_size: int  # how many items one judge() call takes
    concurrency: int  # how many judge() calls may run at once
    # optional: `spec` (dict): everything that decides its verdicts (model, rubric version,
    # settings). Verdicts are stored under judge_id(), so another spec never reuses them.

    async def start(self) -> None: ...

    async def judge(self, items: list[Item]) -> list[Verdict]: ...

    async def close(self) -> None: ...


def judge_id(judge: Any) -> str:
    """The key verdicts are stored under: the name, plus a digest of the judge's spec when it has
    one (re-judging with another judge model or rubric never reuses the old verdicts)."""
    spec = getattr(judge, "spec", None)
    return judge.name if not spec else f"{judge.name}@{stable_hash(spec)[:8]}"


class _Noted(dict):
    """--judge-param options that note which keys the judges built from them read."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.read: set[str] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(key)  # type: ignore[arg-type]
        return super().__contains__(key)

    def items(self):  # handed on whole (a jury's members read them): every key counts as read
        self.read.update(self.keys())
        return super().items()


def build_judges(names: list[str], registry: Any, cfg: JudgeConfig) -> list[Any]:
    """The judges `names` (in order, each once), built from one config; a --judge-param none of
    them reads is an error (a typo, or a setting for another judge, had no effect without a word)."""
    import dataclasses

    options = _Noted(cfg.options)
    noted = dataclasses.replace(cfg, options=options)
    built = [build_judge(registry.get(n, "--judge"), noted) for n in dict.fromkeys(names)]
    from mmsafe.targets.local import require

    for judge in built:  # a missing package is said now, before any request is paid for or any folder made
        for what, extra, modules in getattr(judge, "requires", ()):
            require(what, extra, *modules)
    unread = sorted(k for k in cfg.options if k not in options.read)
    if unread:
        from mmsafe.errors import UsageError

        raise UsageError(f"--judge-param {unread[0]}: no selected judge reads it "
                         f"(judges: {', '.join(dict.fromkeys(names))}; see `mmsafe list judges`)")
    return built


def build_judge(cls: Any, cfg: JudgeConfig) -> Any:
    """A judge instance: classes whose constructor takes a config get it; rule judges take none."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    return cls(cfg) if params else cls()


def stamped(v: Verdict, judge: Any) -> Verdict:
    """The verdict filed under the judge's id, whatever name the judge wrote on it."""
    jid = judge_id(judge)
    return v if v.judge == jid else v.model_copy(update={"judge": jid})


async def all_or_none(coros: list[Awaitable[R]]) -> list[R]:
    """Run the requests of one batch concurrently; one failure that stops the run stops the others too."""
    import asyncio

    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


TEXT_ONLY = "the reply is an image and this judge reads text only: not judged (add a vision judge, e.g. --judge unisafe)"


def sees_images(judge: Any) -> bool:
    """A judge that reads images is given the run's blob store (it has a `blobs` attribute)."""
    return hasattr(judge, "blobs")


def as_judged(case: Case, gen: Generation) -> Case:
    """The case as a judge should read it with this generation: the original request (never the
    attack's rewriting of it), in the language the reply came in when an attack translated it."""
    lang = gen.metadata.get("language") if gen.metadata else None
    return case.model_copy(update={"language": lang}) if isinstance(lang, str) and lang != case.language else case


async def in_thread(judge: Any, fn: Callable[..., R], *args: Any) -> R:
    """fn(*args) on a worker thread, off the event loop; the CPU time that thread spends is added to
    `judge.cpu_s` (what judging takes from the GIL: judge_process moves a judge whose replies cost
    much of it to a process of its own)."""
    import asyncio
    import time

    def timed() -> R:
        began = time.thread_time()
        try:
            return fn(*args)
        finally:
            judge.cpu_s = getattr(judge, "cpu_s", 0.0) + time.thread_time() - began

    return await asyncio.to_thread(timed)


MOVABLE = frozenset({"refusal", "embedding"})  # judges that compute where they run and read text only


def movable(judge: Any) -> bool:
    """A judge that can judge its batches elsewhere, as well as here: it computes where it runs (no
    endpoint it waits on) and reads text only (not the run's blob store). judge_process moves such a
    judge to worker processes, ray_judges to Ray actors."""
    return getattr(judge, "name", None) in MOVABLE and not hasattr(judge, "blobs")


def items_to_wire(items: list[Item]) -> list[tuple[str, str]]:
    """A batch as (case JSON, generation JSON) pairs: how it crosses to a judge in another process
    (judge_process) or on another machine (ray_judges)."""
    return [(c.model_dump_json(), g.model_dump_json()) for c, g in items]


async def judge_wire(judge: Any, wire: list[tuple[str, str]]) -> list[str]:
    """The far side of items_to_wire: the judge's verdicts on the batch, as JSON."""
    batch = [(Case.model_validate_json(c), Generation.model_validate_json(g)) for c, g in wire]
    return [v.model_dump_json() for v in await judge.judge(batch)]


def verdicts_from_wire(out: list[str]) -> list[Verdict]:
    return [Verdict.model_validate_json(v) for v in out]


async def judge_items(judge: Any, items: list[Item]) -> list[Verdict]:
    """The judge's verdicts on a batch. A reply that holds only images (no text, no provider block)
    is never shown to a judge that reads text only: its verdict is undecided with the reason, so
    a picture a text judge cannot see is never counted safe. A translated request's reply is judged
    in its language (see as_judged)."""
    items = [(as_judged(c, g), g) for c, g in items]
    if sees_images(judge):
        return await judge.judge(items)
    blind = [not g.text.strip() and bool(g.images) and not g.provider_refusal for _, g in items]
    read = iter(await judge.judge([it for it, b in zip(items, blind, strict=True) if not b]) if not all(blind) else [])
    return [Verdict(generation_key=g.key, case_id=c.id, judge=judge_id(judge), error=TEXT_ONLY) if b else next(read)
            for (c, g), b in zip(items, blind, strict=True)]
