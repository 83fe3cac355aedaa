"""The finished runs a report is made of: each run folder's results (as results.json holds them,
recomputed from the store) and what the report needs to know about it (modality, label).

A run's modality is read from its cases: the protocol suites carry it in their metadata; other
suites are "unified" (UniSAFE's tasks), "t2i" (image out), "vl" (image in) or "language"."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmsafe.errors import printable
from mmsafe.store import Store

IMAGE_OUT = {"TI", "IE", "IC", "MT"}


@dataclass
class Run:
    folder: Path
    results: dict[str, Any]
    modality: str = "language"
    label: str = ""  # the model, told apart from other runs of the same model by the folder name
    judges: list[str] = field(default_factory=list)

    @property
    def primary(self) -> str | None:
        return self.results.get("primary_judge")

    def block(self, judge: str | None = None) -> dict[str, Any]:
        return (self.results.get("judges") or {}).get(judge or self.primary or "") or {}

    def store(self) -> Store:
        return Store.open(self.folder, create=False)


def modality_of(store: Store, results: dict[str, Any], sample: int = 2000) -> str:
    if any("unisafe" in b for b in (results.get("judges") or {}).values()):
        return "unified"
    image_in = image_out = False
    for i, case in enumerate(store.cases()):
        if i >= sample:
            break
        image_out |= case.task in IMAGE_OUT
        image_in |= any(p.type == "image" for m in case.turns for p in m.parts)
    return "t2i" if image_out else "vl" if image_in else "language"


def load_runs(folders: list[Path]) -> list[Run]:
    from mmsafe.evaluate import results_of

    runs = []
    for folder in folders:
        store = Store.open(folder, create=False)
        try:
            res = results_of(store, folder)
            runs.append(Run(folder, res, modality_of(store, res), judges=list(res.get("judges") or {})))
        finally:
            store.close()
    models = [printable(str(r.results.get("model") or r.folder.name)) for r in runs]
    labels = [m if models.count(m) == 1 else f"{m} ({printable(r.folder.name)})" for r, m in zip(runs, models)]
    for i, (run, label) in enumerate(zip(runs, labels)):
        # two runs of one model (two versions, two configurations) are told apart by their folder,
        # and by their place on the command line when the folders' names are alike too
        run.label = label if labels.count(label) == 1 else f"{label} #{i + 1}"
    return runs
