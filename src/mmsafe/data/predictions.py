"""Predictions produced elsewhere, for `--target replay`: one JSON object per line with the
case `id` and the model's `output` (also accepted: response, output_text, completion)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from mmsafe.data.rows import iter_rows, validate_row
from mmsafe.errors import InputError


class Prediction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    output: str | None = Field(default=None, validation_alias=AliasChoices("output", "response", "output_text", "completion"))
    refusal: bool = False
    error: str | None = None
    model: str | None = None


def load_predictions(path: Path) -> dict[str, Prediction]:
    by_id: dict[str, Prediction] = {}
    lines: dict[str, int] = {}
    for line, raw in iter_rows(path):
        p = validate_row(Prediction, raw, path, line)
        if p.output is None and not p.error and not p.refusal:
            raise InputError(str(path), line, "output", "missing: give output (or response/output_text), refusal or error")
        if p.id in by_id:
            raise InputError(str(path), line, "id", f"duplicate id {p.id!r} (first on line {lines[p.id]})")
        by_id[p.id], lines[p.id] = p, line
    if not by_id:
        raise InputError(str(path), None, None, "no predictions in file")
    return by_id
