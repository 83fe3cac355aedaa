"""Read rows from JSONL/CSV files, naming the file and line of anything malformed."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mmsafe.errors import InputError

M = TypeVar("M", bound=BaseModel)


def iter_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) from a .jsonl or .csv file; blank JSONL lines are skipped."""
    if not path.is_file():
        raise InputError(str(path), None, None, "file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if k is not None and v not in (None, "")}
        return
    if suffix not in (".jsonl", ".ndjson"):
        raise InputError(str(path), None, None, f"unsupported file type {suffix!r}; use .jsonl or .csv")
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(str(path), n, None, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(row, dict):
                raise InputError(str(path), n, None, f"expected a JSON object, got {type(row).__name__}")
            yield n, row


def validate_row(model: type[M], row: dict[str, Any], path: Path, line: int) -> M:
    if isinstance(row.get("id"), int) and not isinstance(row["id"], bool):  # numeric ids are common in datasets
        row = {**row, "id": str(row["id"])}
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise InputError(str(path), line, field, err["msg"]) from None
