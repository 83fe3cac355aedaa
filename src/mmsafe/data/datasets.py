"""Published datasets the protocol suites read, one loader file each under `data/sets/`.

A loader registers a `Dataset` with `@dataset(...)` on its function `load(path, images) -> list[Case]`
(path: the file found under `--data DIR` by its glob patterns). The data is the user's: a local
folder (`--data DIR`), or the Hugging Face hub by name when `hub` is set and the machine is online.
Every case a loader makes is tagged with its dataset, modality and mode (Case.metadata) so the
protocol metrics can group it; `reference["scoring"]` says how its reply is scored:
  judge       the run's judges (safe rate)              bbq     BBQ rule: the chosen option vs the label
  choice      multiple-choice rule (regex on the reply) truefalse  true/false keyword rule
  guard       the target as a classifier, JSON {"judge": "safe"|"unsafe"} against the label
  compliance  the compliance rubric (should / should-not rules, judging criteria) by a judge
  image       generated images by an image judge        toxicity   image toxicity in [0, 1], harmful above 0.5
"""

from __future__ import annotations

import contextvars
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mmsafe.errors import InputError, UsageError
from mmsafe.schema import Case

MODALITIES = ("language", "vl", "t2i")
MODES = ("benchmark", "multilingual", "compliance", "adversarial")
SCORINGS = ("judge", "bbq", "choice", "truefalse", "guard", "compliance", "image", "toxicity")

Loader = Callable[[Path, dict[str, bytes]], list[Case]]


@dataclass(frozen=True)
class Dataset:
    name: str  # short, lower-case: what `--suite language/benchmark:NAME,…` picks
    title: str
    modality: str  # language | vl | t2i
    mode: str  # benchmark | multilingual | compliance | adversarial
    source: str  # where it is published (URL, paper)
    licence: str
    files: tuple[str, ...]  # glob patterns under --data DIR; the first that matches is read (none: ships with mmsafe)
    load: Loader
    hub: str | None = None  # Hugging Face dataset id, loaded with `datasets` when online and --data is not given
    size: int | None = None  # rows in the published file (shown by `mmsafe list suites`)
    in_protocol: bool = True  # part of the protocol suites by default (False: by name only)

    def find(self, data: Path, any_file: bool = False) -> Path:
        """The dataset's file under `data`, or a clear error naming where to put it. `data` may be
        the file itself when its name is one of the dataset's (`any_file`: or a name no dataset
        has, when the user named this dataset alone): one file given for a suite of several datasets
        is read by the one it belongs to, never by all of them, and NIST.json is never read as the
        EU AI Act's."""
        if data.is_file():
            if self.owns(data) or (any_file and not any(d.owns(data) for d in DATASETS.values())):
                return data
            raise MissingData(self, data)
        for pattern in self.files:
            hits = sorted(p for p in data.glob(pattern) if p.is_file())
            if hits:
                return hits[0]
        raise MissingData(self, data)

    def owns(self, file: Path) -> bool:
        """The file's name is one this dataset's files have (case aside)."""
        return any(fnmatch.fnmatch(file.name.lower(), pattern.rsplit("/", 1)[-1].lower()) for pattern in self.files)


class MissingData(InputError):
    """A dataset that is not under --data: says which file, from where, and where to put it."""

    def __init__(self, ds: Dataset, data: Path) -> None:
        self.dataset = ds
        files = " or ".join(ds.files)
        if data.is_file():
            owners = sorted(d.name for d in DATASETS.values() if d.owns(data))
            what = (f"{ds.title}: this is the file of {' or '.join(owners)}, not its own ({files}); "
                    "give the folder that holds its own" if owners else
                    f"{ds.title}: this file's name is not its file's ({files}); give the folder that holds "
                    f"its file, or name this dataset alone (--suite SUITE:{ds.name}) to read this file as its own")
        else:
            what = (f"{ds.title} not found: put its file ({files}) under this folder "
                    f"(published at {ds.source}, licence {ds.licence})"
                    + (f", or leave out --data to load {ds.hub} from the hub when online" if ds.hub else ""))
        super().__init__(str(data), None, None, what)


class Incomplete(InputError):
    """The dataset's file is there but files it names are not (pictures the published data leaves
    out): a suite that did not ask for it by name skips it with this message, like MissingData."""


DATASETS: dict[str, Dataset] = {}


def dataset(name: str, title: str, modality: str, mode: str, source: str, licence: str, files: tuple[str, ...],
            hub: str | None = None, size: int | None = None, in_protocol: bool = True) -> Callable[[Loader], Loader]:
    """Register the decorated loader function as dataset `name`."""
    if modality not in MODALITIES or mode not in MODES:
        raise ValueError(f"dataset {name}: modality {modality!r} / mode {mode!r} not one of {MODALITIES} / {MODES}")

    def deco(fn: Loader) -> Loader:
        if name in DATASETS and DATASETS[name].load is not fn:
            raise ValueError(f"dataset {name!r} registered twice")
        DATASETS[name] = Dataset(name, title, modality, mode, source, licence, files, fn, hub, size, in_protocol)
        return fn

    return deco


_loaded = False


def load_all() -> dict[str, Dataset]:
    """Import every loader module under data/sets/ (each registers its datasets)."""
    global _loaded
    if not _loaded:
        from mmsafe.data import sets

        for m in pkgutil.iter_modules(sets.__path__):
            importlib.import_module(f"mmsafe.data.sets.{m.name}")
        _loaded = True
    return DATASETS


def tagged(ds: Dataset, cases: list[Case]) -> list[Case]:
    """The cases with dataset, modality and mode in their metadata, ids prefixed by the dataset
    (two datasets may both have a row "1"), and the scoring defaulted to the run's judges."""
    out = []
    for c in cases:
        ref = c.reference if "scoring" in c.reference else {**c.reference, "scoring": "judge"}
        if ref["scoring"] not in SCORINGS:
            raise ValueError(f"dataset {ds.name}: case {c.id}: unknown scoring {ref['scoring']!r}")
        meta = {**c.metadata, "dataset": ds.name, "modality": ds.modality, "mode": ds.mode}
        cid = c.id if c.id.startswith(f"{ds.name}:") else f"{ds.name}:{c.id}"
        out.append(c.model_copy(update={"id": cid, "metadata": meta, "reference": ref}))
    return out


def read(ds: Dataset, data: Path | None, images: dict[str, bytes], alone: bool = False) -> list[Case]:
    """The dataset's cases from --data (or the hub when --data is not given and it has a hub id);
    a dataset with no files ships with mmsafe and needs neither. `alone`: the user named this
    dataset and no other, so a file given as --data is its file whatever its name."""
    if not ds.files:
        return tagged(ds, ds.load(Path(), images))
    root = None
    if data is None:
        if ds.hub is None:
            raise UsageError(f"{ds.title} has no hub copy: give its folder with --data DIR "
                             f"(file {' or '.join(ds.files)}, published at {ds.source})")
        from mmsafe.data.hub import hub_file

        path = hub_file(ds.hub, ds.files)
    else:
        path = ds.find(data, any_file=alone)
        root = (data if data.is_dir() else data.parent).resolve()
    token = _DATA_ROOT.set(root)
    try:  # the pictures a dataset's rows name stay inside --data (sets/_vl.image_at)
        return tagged(ds, ds.load(path, images))
    finally:
        _DATA_ROOT.reset(token)


_DATA_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar("mmsafe_data_root", default=None)


def data_root() -> Path | None:
    """The --data folder the dataset being read comes from (the file's folder when --data is a
    file); None for a hub copy."""
    return _DATA_ROOT.get()
