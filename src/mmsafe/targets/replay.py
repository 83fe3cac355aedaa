"""Score outputs produced elsewhere: a predictions JSONL file keyed by case id (or UniSAFE's
(id, scenario_type)); the images it names are read into the run's blob store when replayed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mmsafe.data.cases import read_image
from mmsafe.data.predictions import Prediction, load_predictions
from mmsafe.errors import InputError, UsageError
from mmsafe.schema import Case, Part
from mmsafe.store.blobs import BlobStore, sniff_mime
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
        self.blobs: BlobStore | None = None  # set by the run before it starts

    def find(self, case: Case) -> Prediction | None:
        """The row answering `case`: keyed by its id, or by (id, its task) as UniSAFE keys rows."""
        return self._by_id.get(case.id) or self._by_id.get(f"{case.task}:{case.id}")

    def unmatched(self, cases: list[Case]) -> int:
        """How many rows answer none of `cases`."""
        used = {id(p) for c in cases if (p := self.find(c)) is not None}
        return sum(id(p) not in used for p in self._by_id.values())

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def generate(self, case: Case) -> Reply:
        p = self.find(case)
        if p is None:
            raise TargetError(f"no prediction for case {case.id!r} in {self.path}")
        if p.error:
            raise TargetError(f"the predictions file records an error: {p.error}")
        images = [await asyncio.to_thread(self._image, f, ref) for f, ref in zip(p.files, p.image_refs)]
        if not images:
            return Reply.text(p.output or "", provider_refusal=bool(p.refusal))
        text = (Part(text=p.output),) if p.output else ()
        return Reply(output=(*text, *images), provider_refusal=bool(p.refusal))

    def _image(self, file: Path, ref: str) -> Part:
        if self.blobs is None:
            raise TargetError("replayed images need the run's blob store")
        try:
            data = read_image(file, str(self.path), None, "output_image", ref)
        except InputError as exc:  # changed since the file was checked
            raise TargetError(str(exc)) from None
        mime = sniff_mime(data)
        if mime is None:
            raise TargetError(f"{ref!r} is no longer a PNG, JPEG, GIF or WebP image")
        return Part(type="image", image_sha256=self.blobs.put(data), mime=mime)
