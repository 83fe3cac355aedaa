"""Named suites: what data makes up a run. `--suite` also takes a path to a user's own file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mmsafe.errors import UsageError
from mmsafe.registry import Registry
from mmsafe.schema import Case

BUILTIN = Path(__file__).resolve().parents[1] / "data" / "builtin"

suites: Registry[Callable[[], list[Case]]] = Registry("suite")
suites.lazy("quick", "mmsafe.suites.builtin:quick", "the project's own quick suite: 12 hazard categories, over-refusal probes, 10 languages")
suites.lazy("unisafe", "mmsafe.suites.unisafe:unisafe",
            "UniSAFE, seven image/text tasks (unisafe:TI,IE… picks tasks) from --data DIR or the hub")
suites.lazy("salad", "mmsafe.suites.salad:salad",
            "SaLAD, everyday hazards in image + question (salad:text-only without images, salad:both) from --data DIR or the hub")
# the integrated protocol: modality × mode over published datasets (suites/protocol.py); summaries
# are computed when listed (they count the registered datasets)
for _name in ("protocol", "language/benchmark", "language/multilingual", "language/compliance", "vl/benchmark",
              "vl/multilingual", "vl/compliance", "t2i/benchmark", "t2i/adversarial", "t2i/compliance"):
    suites.lazy(_name, "mmsafe.suites.protocol:" + ("protocol" if _name == "protocol" else "suite_" + _name.replace("/", "_")))


def file_suite(name: str) -> Path | None:
    """The user's own suite file `--suite` names, or None for a registered suite."""
    if not name.strip():
        raise UsageError("--suite: empty; give a suite name (see `mmsafe list suites`) or a .jsonl or .csv file")
    base = name.partition(":")[0]
    if base in suites.names() or name in suites.names():
        return None
    path = Path(name)
    return path if path.suffix.lower() in (".jsonl", ".ndjson", ".csv") or path.exists() else None


def resolve_suite(name: str, images: dict[str, bytes] | None = None, data: Path | None = None,
                  limit: int | None = None) -> tuple[str, list[Case]]:
    """Return (suite label stored in the run spec, cases). A path loads the user's own file (with
    `limit`, only its first `limit` cases are read); the bytes of the images its rows name are
    collected into `images` (hash -> bytes). A suite read from data (`data_suite`, e.g. unisafe)
    gets `data` (--data) and the part after "NAME:"."""
    images = {} if images is None else images
    base, colon, sub = name.partition(":")
    if base in suites.names():
        fn = suites.get(base, "--suite")
        if getattr(fn, "data_suite", False):
            return fn(sub, data, images)
        if colon:
            raise UsageError(f"--suite {base} takes no ':' selection")
    if data is not None:
        raise UsageError(f"--data is for suites read from a dataset (e.g. --suite unisafe), not --suite {name}")
    if name in suites.names():
        return name, suites.get(name, "--suite")()
    path = Path(name)
    if path.suffix.lower() in (".jsonl", ".ndjson", ".csv") or path.exists():
        from mmsafe.data.cases import load_cases

        return str(path.resolve()), load_cases(path, images=images, limit=limit)
    suites.get(name, "--suite")  # raises: unknown suite, with the choices
    raise AssertionError("unreachable")
