"""The finished runs a report is made of: each run folder's results (as results.json holds them,
recomputed from the store) and what the report needs to know about it (modality, label).

A run's modality is read from its cases: the protocol suites carry it in their metadata; other
suites are "unified" (UniSAFE's tasks), "t2i" (image out), "vl" (image in) or "language"."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmsafe.errors import printable
from mmsafe.schema import Case
from mmsafe.store import Store

IMAGE_OUT = {"TI", "IE", "IC", "MT"}


@dataclass
class Run:
    folder: Path
    results: dict[str, Any]
    modality: str = "language"
    label: str = ""  # the model, told apart from other runs of the same model by the folder name
    judges: list[str] = field(default_factory=list)
    attack_modality: str = "language"  # of the cases attacks ran on (a protocol run mixes modalities)

    @property
    def primary(self) -> str | None:
        return self.results.get("primary_judge")

    def block(self, judge: str | None = None) -> dict[str, Any]:
        return (self.results.get("judges") or {}).get(judge or self.primary or "") or {}

    def store(self) -> Store:
        return Store.open(self.folder, create=False)


def case_modality(case: Case) -> str:
    if case.metadata.get("modality"):
        return str(case.metadata["modality"])
    if case.task in IMAGE_OUT:
        return "t2i"
    return "vl" if any(p.type == "image" for m in case.turns for p in m.parts) else "language"


def modality_of(cases: Iterable[Case], sample: int = 2000) -> str:
    """The widest modality among (the first `sample` of) the cases: t2i over vl over language."""
    seen = {case_modality(c) for c in itertools.islice(cases, sample)}
    return next((m for m in ("t2i", "vl") if m in seen), "language")


def load_runs(folders: list[Path]) -> list[Run]:
    from mmsafe.evaluate import results_of

    runs = []
    for folder in folders:
        store = Store.open(folder, create=False)
        try:
            res = results_of(store, folder)
            unisafe = any("unisafe" in b for b in (res.get("judges") or {}).values())
            modality = "unified" if unisafe else modality_of(store.cases())
            attacked = store.attacked_sample()
            runs.append(Run(folder, res, modality, judges=list(res.get("judges") or {}),
                            attack_modality=modality_of(attacked) if attacked else modality))
        finally:
            store.close()
    models = [printable(str(r.results.get("model") or r.folder.name)) for r in runs]
    labels = [m if models.count(m) == 1 else f"{m} ({printable(r.folder.name)})" for r, m in zip(runs, models)]
    for i, (run, label) in enumerate(zip(runs, labels)):
        # two runs of one model (two versions, two configurations) are told apart by their folder,
        # and by their place on the command line when the folders' names are alike too
        run.label = label if labels.count(label) == 1 else f"{label} #{i + 1}"
    return runs
