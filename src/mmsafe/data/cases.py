"""A user's own file of cases (JSONL or CSV): at least a `prompt`; optional id, label,
category, subcategory, language and system columns. The built-in suites use the same format."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mmsafe.data.rows import iter_rows, validate_row
from mmsafe.errors import InputError
from mmsafe.schema import Case, Label, Message, Part, Source


class CaseRow(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    prompt: str = Field(min_length=1)
    id: str | None = Field(default=None, min_length=1)
    label: Label = "unsafe"
    category: str = "uncategorized"
    subcategory: str | None = None
    language: str = "en"
    system: str | None = None


def load_cases(path: str | Path, dataset: str | None = None) -> list[Case]:
    """Read and validate the whole file before anything runs; ids must be unique."""
    path = Path(path)
    name = dataset or path.stem
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for line, raw in iter_rows(path):
        row = validate_row(CaseRow, raw, path, line)
        case_id = row.id or f"{name}-{line}"
        if case_id in seen:
            raise InputError(str(path), line, "id", f"duplicate id {case_id!r} (first on line {seen[case_id]})")
        seen[case_id] = line
        turns = (Message(role="system", parts=(Part(text=row.system),)),) if row.system else ()
        cases.append(
            Case(
                id=case_id,
                turns=(*turns, Message.user(row.prompt)),
                category=row.category,
                subcategory=row.subcategory,
                label=row.label,
                language=row.language,
                source=Source(dataset=name, file=path.name, line=line),
            )
        )
    if not cases:
        raise InputError(str(path), None, None, "no cases in file")
    return cases
