"""The judge stage across Ray workers (`--executor ray`).

A judge that computes on the machine it runs on and reads text only (judges.base.movable: the refusal
detector, the embedding classifier) is replaced on the driver by a RayJudge: `--ray-workers`
Ray actors each build and load the same judge, and each batch the run would judge goes to an
idle actor, as JSON, and comes back as verdicts. The driver still owns the store: it writes
the verdicts, as in a local run, and the judge's id (what verdicts are stored under) is the
local judge's, so a run judged one way resumes the other way and reads the same verdicts.

Judges that are not sharded stay on the driver: one behind an endpoint spends its time waiting
on that endpoint (its `--judge-concurrency` already keeps many requests in flight), and one
that reads images reads them from the driver's blob store.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mmsafe.judges.base import Item, JudgeConfig, items_to_wire, judge_id, judge_wire, movable, verdicts_from_wire
from mmsafe.schema import Verdict

NAME_PREFIX = "mmsafe-judge-"


class RayJudge:
    """A judge whose batches are judged by Ray actors holding the same judge (see the module)."""

    def __init__(self, local: Any, cfg: JudgeConfig, workers: int) -> None:
        self._local, self._cfg, self._workers = local, cfg, max(1, workers)
        self.name, self.batch_size = local.name, local.batch_size
        self.concurrency = self.feed_consumers = self._workers  # a batch in flight per actor
        self._actors: list[Any] = []
        self._idle: asyncio.Queue[Any] | None = None

    def __getattr__(self, attr: str) -> Any:  # spec, model_version…: what names its verdicts stays the local judge's
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._local, attr)

    async def start(self) -> None:
        import os

        import ray

        cls = _judge_actor_class(ray)
        self._actors = [cls.options(name=f"{NAME_PREFIX}{self.name}-{os.getpid()}-{n}").remote(self._local.name, self._cfg)
                        for n in range(self._workers)]
        await asyncio.gather(*(a.start.remote() for a in self._actors))  # each loads its model
        self._idle = asyncio.Queue()
        for a in self._actors:
            self._idle.put_nowait(a)

    async def judge(self, items: list[Item]) -> list[Verdict]:
        assert self._idle is not None, "start() first"
        actor = await self._idle.get()
        try:
            out = await actor.judge.remote(items_to_wire(items))
        finally:
            self._idle.put_nowait(actor)
        return verdicts_from_wire(out)

    async def close(self) -> None:
        import ray

        for a in self._actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # already gone
                pass
        self._actors = []


_actor_cls = None


def _judge_actor_class(ray):
    global _actor_cls
    if _actor_cls is None:
        # no CPU reserved: a judge actor must never keep a shard's actor from starting (the judges
        # start first); Ray spreads them over the nodes
        @ray.remote(num_cpus=0, max_restarts=0, scheduling_strategy="SPREAD")
        class JudgeWorker:
            """One Ray actor holding one started judge."""

            def __init__(self, name: str, cfg: JudgeConfig) -> None:
                from mmsafe.judges import judges as registry
                from mmsafe.judges.base import build_judge

                self.judge_ = build_judge(registry.get(name, "--judge"), cfg)

            async def start(self) -> str:
                await self.judge_.start()
                return judge_id(self.judge_)

            async def judge(self, items: list[tuple[str, str]]) -> list[str]:
                return await judge_wire(self.judge_, items)

        _actor_cls = JudgeWorker
    return _actor_cls


def sharded(judges: list[Any], cfg: JudgeConfig, workers: int) -> list[Any]:
    """The run's judges with each movable one replaced by a RayJudge (same id, same verdicts)."""
    return [RayJudge(j, cfg, workers) if movable(j) else j for j in judges]
