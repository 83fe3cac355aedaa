"""The suites the project wrote itself (package data under mmsafe/data/builtin)."""

from __future__ import annotations

from mmsafe.data.cases import load_cases
from mmsafe.schema import Case
from mmsafe.suites import BUILTIN


def quick() -> list[Case]:
    return load_cases(BUILTIN / "quick.jsonl", dataset="mmsafe-quick")
