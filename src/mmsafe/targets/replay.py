"""Score outputs produced elsewhere: a predictions JSONL file keyed by case id."""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.predictions import Prediction, load_predictions
from mmsafe.errors import UsageError
from mmsafe.schema import Case
from mmsafe.targets.base import Reply, TargetConfig, TargetError


class ReplayTarget:
    """Answers each case from the predictions file; a case with no prediction is an error."""

    max_concurrency = None
    replays_recorded = True  # a multi-turn case gets its recorded final answer, not one per turn
    retries_help = False  # the file says the same thing every time: an empty output is an error at once

    def __init__(self, cfg: TargetConfig) -> None:
        if cfg.predictions is None:
            raise UsageError("--predictions FILE.jsonl is required with --target replay")
        self.path = Path(cfg.predictions)
        self._by_id: dict[str, Prediction] = load_predictions(self.path)  # validated whole, up front
        models = {p.model for p in self._by_id.values() if p.model}
        self.model = cfg.model or (models.pop() if len(models) == 1 else self.path.stem)
        self.note = f"predictions replayed from {self.path.name}"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def generate(self, case: Case) -> Reply:
        p = self._by_id.get(case.id)
        if p is None:
            raise TargetError(f"no prediction for case {case.id!r} in {self.path}")
        if p.error:
            raise TargetError(f"the predictions file records an error: {p.error}")
        return Reply.text(p.output or "", provider_refusal=bool(p.refusal))
