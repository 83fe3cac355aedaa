"""Named suites: what data makes up a run. `--suite` also takes a path to a user's own file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mmsafe.registry import Registry
from mmsafe.schema import Case

BUILTIN = Path(__file__).resolve().parents[1] / "data" / "builtin"

suites: Registry[Callable[[], list[Case]]] = Registry("suite")
suites.lazy("quick", "mmsafe.suites.builtin:quick", "the project's own quick suite: 12 hazard categories, over-refusal probes, 10 languages")


def resolve_suite(name: str, images: dict[str, bytes] | None = None) -> tuple[str, list[Case]]:
    """Return (suite label stored in the run spec, cases). A path loads the user's own file; the
    bytes of the images its rows name are collected into `images` (hash -> bytes)."""
    if name in suites.names():
        return name, suites.get(name, "--suite")()
    path = Path(name)
    if path.suffix.lower() in (".jsonl", ".ndjson", ".csv") or path.exists():
        from mmsafe.data.cases import load_cases

        return str(path.resolve()), load_cases(path, images=images)
    suites.get(name, "--suite")  # raises: unknown suite, with the choices
    raise AssertionError("unreachable")
