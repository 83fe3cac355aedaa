"""What the language benchmark loaders share: a published file's rows (JSONL, CSV, or the hub's
parquet copy), a required text field, unique ids. Registers no dataset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmsafe.data.rows import iter_rows
from mmsafe.errors import InputError, MissingDependency
from mmsafe.schema import Case


def rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, row) from a .jsonl or .csv file; from a .parquet file (a hub copy) the row number."""
    if path.suffix.lower() != ".parquet":
        yield from iter_rows(path)
        return
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependency(f"reading {path.name}", "unisafe", "pyarrow") from None
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=512)
        n = 0
        for batch in batches:
            for raw in batch.to_pylist():
                n += 1
                yield n, {k: v for k, v in raw.items() if v not in (None, "")}
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
        raise InputError(str(path), None, None, f"not a readable parquet file ({type(exc).__name__}: {exc})") from None


def text(row: dict[str, Any], path: Path, line: int, *fields: str, required: bool = True) -> str | None:
    """The first of `fields` the row has, as text (a number is read as its digits); missing or
    blank is an InputError naming the first field, unless not `required`."""
    for field in fields:
        value = row.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InputError(str(path), line, field, f"expected text, got {type(value).__name__}")
        value = str(value).strip()
        if value:
            return value
    if required:
        also = f" (or {', '.join(fields[1:])})" if len(fields) > 1 else ""
        raise InputError(str(path), line, fields[0], f"required{also}: missing or empty")
    return None


def unique(cases: list[Case], path: Path) -> list[Case]:
    """The cases, or an InputError at the second row that repeats an id; a file with none is one too."""
    if not cases:
        raise InputError(str(path), None, None, "no rows in file")
    seen: dict[str, int | None] = {}
    for c in cases:
        line = c.source.line if c.source else None
        if c.id in seen:
            raise InputError(str(path), line, "id", f"duplicate id {c.id!r} (first on line {seen[c.id]})")
        seen[c.id] = line
    return cases
