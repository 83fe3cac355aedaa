"""`--suite unisafe[:TASK[,TASK]]`: the UniSAFE benchmark from `--data DIR` (its JSONL exports,
predictions files beside them skipped, or the Hugging Face parquet layout), a single `--data FILE.jsonl`, or without --data the hub
dataset segyulee/UniSAFE (needs `datasets` and a connection; HF_TOKEN from the environment)."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

from mmsafe.data.unisafe import ORDER, IMAGE_FIELDS, Row, jsonl_rows, load_rows, parquet_rows
from mmsafe.errors import InputError, MissingDependency, UsageError
from mmsafe.schema import UNISAFE_TASKS, Case

HUB_ID = "segyulee/UniSAFE"


def parse_tasks(sub: str) -> tuple[str, frozenset[str]]:
    """(suite label, tasks) for the part after "unisafe:"; empty means all seven."""
    if not sub:
        return "unisafe", UNISAFE_TASKS
    asked = [t.strip().upper() for t in sub.split(",") if t.strip()]
    bad = [t for t in asked if t not in UNISAFE_TASKS]
    if bad or not asked:
        raise UsageError(f"--suite unisafe:{sub}: unknown task {', '.join(bad) or '(none)'}; "
                         f"choose from {', '.join(ORDER)} (comma-separated)")
    chosen = [t for t in ORDER if t in asked]
    return "unisafe:" + ",".join(chosen), frozenset(chosen)


def unisafe(sub: str, data: Path | None, images: dict[str, bytes]) -> tuple[str, list[Case]]:
    label, tasks = parse_tasks(sub)
    rows = local_rows(data) if data is not None else hub_rows()
    cases = load_rows(rows, tasks, images)
    if not cases:
        where = str(data) if data is not None else HUB_ID
        raise InputError(where, None, None, f"no UniSAFE cases for task(s) {', '.join(t for t in ORDER if t in tasks)}")
    return label, cases


unisafe.data_suite = True  # resolve_suite passes it the :TASK part, --data and the image collector


def local_rows(data: Path) -> Iterator[Row]:
    if data.is_file():
        if data.suffix.lower() == ".parquet":
            return parquet_rows([data]) if _has_pyarrow() else _no_pyarrow()
        return jsonl_rows([data])
    if not data.is_dir():
        raise UsageError(f"--data {data}: not found (give the folder holding UniSAFE's .jsonl or .parquet files)")
    jsonl = sorted(p for p in data.glob("*.jsonl") if p.is_file() and not is_predictions(p))
    parquet = sorted(p for p in data.rglob("*.parquet") if p.is_file())
    if not jsonl and not parquet:
        raise UsageError(f"--data {data}: no .jsonl or .parquet files in this folder")
    if parquet and not _has_pyarrow():
        _no_pyarrow()
    return _chain(jsonl_rows(jsonl), parquet_rows(parquet)) if parquet else jsonl_rows(jsonl)


def is_predictions(path: Path) -> bool:
    """A UniSAFE predictions file (first row has `model` and no `instruction` or `turns`): it may
    sit next to the cases; it is not read as cases."""
    try:
        with path.open("rb") as fh:
            first = next((ln for ln in fh if ln.strip()), b"")
        row = json.loads(first)
    except (OSError, ValueError, RecursionError):
        return False  # the loader reports what is wrong with it
    return isinstance(row, dict) and "model" in row and not {"instruction", "turns"} & row.keys()


def _chain(*its: Iterator[Row]) -> Iterator[Row]:
    for it in its:
        yield from it


def _has_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def _no_pyarrow():
    raise MissingDependency("reading UniSAFE's parquet files", "unisafe", "pyarrow")




def hub_rows() -> Iterator[Row]:
    """Rows of every split of the hub dataset, images as {bytes, path} structs."""
    if importlib.util.find_spec("datasets") is None:
        raise UsageError(f"--suite unisafe needs --data DIR: a folder of UniSAFE's .jsonl (or .parquet) files "
                         f"(or pip install 'mmsafe[unisafe]' to load {HUB_ID} from the Hugging Face hub)")
    import datasets

    try:
        dd = datasets.load_dataset(HUB_ID, token=os.environ.get("HF_TOKEN") or None)
        splits = {}
        for name, split in dd.items():
            for col in IMAGE_FIELDS:
                if col in split.column_names:
                    split = split.cast_column(col, datasets.Image(decode=False))
            splits[name] = split
    except Exception as exc:  # noqa: BLE001 - offline, gated, renamed: all mean the same to the user
        raise UsageError(f"--suite unisafe: could not load {HUB_ID} from the Hugging Face hub "
                         f"({type(exc).__name__}: {str(exc)[:300]}); pass --data DIR with a local copy") from None
    return ((f"{HUB_ID} ({name})", n, dict(row), None) for name, split in splits.items()
            for n, row in enumerate(split, 1))
