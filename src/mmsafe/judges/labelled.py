"""Labelled (prompt, response) rows that judges are measured on: the shipped set
(judges/data/labelled/<lang>.jsonl) and users' own files (`--data`, `--calibrate`).

A row's `label` is the prompt's (unsafe/benign); `refusal`, `harmful` and `warns` describe the
response and are optional: a label is evaluated only on rows that carry it. The shipped set is
split by a stable hash of the id: the held-out part measures judges, training code only ever
sees train_rows()."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mmsafe.data.rows import iter_rows, validate_row
from mmsafe.errors import InputError
from mmsafe.schema import Label

LABELLED_DIR = Path(__file__).with_name("data") / "labelled"
HELDOUT_PERCENT = 30
GOLD = ("refusal", "harmful", "warns")  # the response labels a row may carry


class LabelledRow(BaseModel):
    """One labelled reply; `id` defaults to "<file stem>-<line>"."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1)
    prompt: str
    response: str
    label: Label
    language: str = Field(default="en", min_length=1)
    refusal: bool | None = None
    harmful: bool | None = None
    warns: bool | None = None
    kind: str = Field(default="unspecified", min_length=1)
    category: str | None = None


def read_labelled(path: Path) -> list[LabelledRow]:
    """Every row of a .jsonl/.csv labelled file; a bad row or a repeated id is an InputError
    naming the file, the line and the field."""
    rows: list[LabelledRow] = []
    seen: dict[str, int] = {}
    for line, raw in iter_rows(path):
        row = validate_row(LabelledRow, {"id": f"{path.stem}-{line}", **raw}, path, line)
        if not row.response.strip():  # a run records an empty reply as an error and never judges it
            raise InputError(str(path), line, "response", "empty: a run never gives a judge an empty reply (it is "
                             "an error there, never counted safe), so this row cannot measure one; leave it out")
        if row.id in seen:
            raise InputError(str(path), line, "id", f"{row.id!r} repeats the id on line {seen[row.id]}")
        seen[row.id] = line
        rows.append(row)
    return rows


def shipped_files() -> list[Path]:
    return sorted(LABELLED_DIR.glob("*.jsonl")) if LABELLED_DIR.is_dir() else []


def shipped_rows() -> list[LabelledRow]:
    """All shipped rows, file by file in name order; empty while the set has not landed."""
    return [r for f in shipped_files() for r in read_labelled(f)]


def is_heldout(row_id: str) -> bool:
    """The same rows are held out on every machine and every run."""
    return int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT


def heldout_rows() -> list[LabelledRow]:
    return [r for r in shipped_rows() if is_heldout(r.id)]


def train_rows() -> list[LabelledRow]:
    """The only shipped rows training code may use."""
    return [r for r in shipped_rows() if not is_heldout(r.id)]


def split(rows: list[LabelledRow], which: str) -> list[LabelledRow]:
    """`heldout`, `train` or `all` of `rows`, by the same hash split as the shipped set."""
    if which == "all":
        return rows
    return [r for r in rows if is_heldout(r.id) == (which == "heldout")]


def digest(rows: list[LabelledRow]) -> str:
    """Names what a set of rows holds (text and labels), for caches."""
    h = hashlib.sha256()
    for r in rows:
        h.update(r.model_dump_json().encode())
        h.update(b"\n")
    return h.hexdigest()[:16]
