"""The integrated protocol's suites: modality × mode, each a set of published datasets read from
`--data DIR` (or the hub by name when online).

  --suite language/benchmark            every protocol dataset of that modality and mode found under --data
  --suite language/benchmark:bbq,alert  just those datasets (a missing one is an error naming where to put it)
  --suite protocol                      every suite; with --data, the datasets found there

Without a selection, datasets absent from --data are skipped with a warning naming each and where
to put it; none found is an error. Language and vision-language adversarial modes are the attacks
(`--attacks`) over these suites."""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import Dataset, Incomplete, MissingData, load_all, read
from mmsafe.errors import MissingDependency, UsageError
from mmsafe.schema import Case

SUITES: dict[str, tuple[str, str]] = {
    "language/benchmark": ("language", "benchmark"),
    "language/multilingual": ("language", "multilingual"),
    "language/compliance": ("language", "compliance"),
    "vl/benchmark": ("vl", "benchmark"),
    "vl/multilingual": ("vl", "multilingual"),
    "vl/compliance": ("vl", "compliance"),
    "t2i/benchmark": ("t2i", "benchmark"),
    "t2i/adversarial": ("t2i", "adversarial"),
    "t2i/compliance": ("t2i", "compliance"),
}

warnings: list[str] = []  # datasets skipped by the last load (the CLI prints them)


def members(suite: str, every: bool = False) -> list[Dataset]:
    """The datasets of a suite (`protocol`: of every suite); `every` includes those run by name only."""
    sets = load_all()
    keys = set(SUITES.values()) if suite == "protocol" else {SUITES[suite]}
    return [d for d in sets.values() if (d.modality, d.mode) in keys and (every or d.in_protocol)]


def load(suite: str, sub: str, data: Path | None, images: dict[str, bytes]) -> tuple[str, list[Case]]:
    warnings.clear()
    pool = {d.name: d for d in members(suite, every=True)}
    if sub:
        names = [n.strip().lower() for n in sub.split(",") if n.strip()]
        bad = [n for n in names if n not in pool]
        if bad or not names:
            raise UsageError(f"--suite {suite}:{sub}: unknown dataset {', '.join(bad) or '(none)'}; "
                             f"choose from {', '.join(sorted(pool))}")
        chosen = [pool[n] for n in dict.fromkeys(names)]
        alone = len(chosen) == 1
        return f"{suite}:{','.join(d.name for d in chosen)}", [c for d in chosen for c in read(d, data, images, alone)]
    chosen = [d for d in members(suite) if data is not None or d.hub or not d.files]
    cases: list[Case] = []
    found = []
    for d in chosen:
        try:
            cases.extend(read(d, data, images))
            found.append(d.name)
        except (MissingData, Incomplete, UsageError, MissingDependency) as exc:  # not under --data, or no hub: skipped, said
            warnings.append(str(exc))
    if not cases:
        if data is None:
            raise UsageError(f"--suite {suite} reads published datasets: give their folder with --data DIR "
                             f"(datasets: {', '.join(sorted(pool))})")
        if not data.exists():
            raise UsageError(f"--data {data}: not found (the folder holding --suite {suite}'s datasets: "
                             f"{', '.join(sorted(pool))})")
        raise UsageError(f"--suite {suite}: none of its datasets ({', '.join(sorted(pool))}) is under --data {data}; "
                         + (warnings[0] if warnings else ""))
    return suite, cases


def suite_fn(suite: str):
    def fn(sub: str, data: Path | None, images: dict[str, bytes]) -> tuple[str, list[Case]]:
        return load(suite, sub, data, images)

    fn.data_suite = True  # type: ignore[attr-defined]
    fn.__doc__ = describe(suite)
    return fn


def describe(suite: str) -> str:
    """One line for `mmsafe list suites`: modality, mode, size and datasets."""
    ds = members(suite)
    if suite == "protocol":
        head = "every suite of the integrated protocol (modality × mode)"
    else:
        modality, mode = SUITES[suite]
        head = f"modality {modality}, mode {mode}"
    known = [d.size for d in ds if d.size]
    size = f"{sum(known)} cases" if ds and len(known) == len(ds) else ("size depends on --data" if ds else "no datasets yet")
    return f"{head}; {size}; --data DIR; datasets: {', '.join(d.name for d in ds) or '–'}"


protocol = suite_fn("protocol")
for _name in SUITES:
    globals()["suite_" + _name.replace("/", "_")] = suite_fn(_name)
