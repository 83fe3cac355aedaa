"""UniSAFE's case format (../shared/data/unisafe/data-format.md): rows keyed by (id, scenario_type),
read from JSONL exports, the Hugging Face parquet layout, or the hub dataset.

Every row becomes a Case: id "TASK:id", target_id the shared risk id, task the scenario type,
reference {target, unsafe_trigger, instruction}. Turns: TT/TI one user message; IT/MU/IE
[instruction, image]; IC [instruction, image A, image B]; MT the four turns, the input image (if
any) with the first. An image is a path relative to its file's folder (it must stay inside it) or,
from parquet and the hub, a {"bytes", "path"} struct; either way it is size-capped and must be a
PNG, JPEG, GIF or WebP."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mmsafe.data.cases import bytes_part, image_part
from mmsafe.data.rows import iter_rows, validate_row
from mmsafe.errors import InputError
from mmsafe.schema import UNISAFE_TASKS, Case, Message, Part, Source

ORDER = ("TT", "IT", "MU", "TI", "IE", "IC", "MT")  # how tasks are listed in messages
NEEDS_IMAGE = frozenset({"IT", "MU", "IE", "IC"})
MT_TURNS = 4


class UniRow(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1)
    scenario_type: str
    category: str | None = None
    subcategory: str | None = None
    unsafe_trigger: str | None = None
    target: str | None = None
    instruction: str | None = None
    turns: list[str] | None = None


Row = tuple[str, int, dict[str, Any], Path | None]  # (file shown in errors, line or row, row, file if any)


def load_rows(rows: Iterable[Row], tasks: frozenset[str], images: dict[str, bytes]) -> list[Case]:
    """Validate every row (whatever its task) and build the cases of the tasks asked for."""
    cases: list[Case] = []
    seen: dict[tuple[str, str], str] = {}
    for where, line, raw, file in rows:
        if raw.get("id") in (None, ""):
            raise InputError(where, line, "id", "required: the shared risk-target identifier")
        st = raw.get("scenario_type")
        if isinstance(st, str):  # " tt" is TT, as UniSAFE's own reader takes it
            st = st.strip().upper()
            raw = {**raw, "scenario_type": st}
        if not isinstance(st, str) or st not in UNISAFE_TASKS:
            raise InputError(where, line, "scenario_type", f"unknown {st!r}; one of {', '.join(ORDER)}")
        row = validate_row(UniRow, {k: v for k, v in raw.items() if k not in IMAGE_FIELDS}, Path(where), line)
        key = (row.id, row.scenario_type)
        if key in seen:
            raise InputError(where, line, "id", f"duplicate (id, scenario_type) {key!r} (first at {seen[key]})")
        seen[key] = f"{where}, line {line}"
        check(row, raw, where, line)
        if row.scenario_type in tasks:
            cases.append(build(row, raw, where, line, file, images))
    return cases


IMAGE_FIELDS = ("input_image", "input_image_b")


def check(row: UniRow, raw: dict[str, Any], where: str, line: int) -> None:
    st = row.scenario_type
    if st != "MT" and not row.instruction:
        raise InputError(where, line, "instruction", f"required: the instruction sent for task {st}")
    if st in NEEDS_IMAGE and raw.get("input_image") in (None, ""):
        raise InputError(where, line, "input_image", f"required: task {st} takes an input image")
    if st == "IC" and raw.get("input_image_b") in (None, ""):
        raise InputError(where, line, "input_image_b", "required: task IC composes two input images")
    if st == "MT":
        turns = row.turns or []
        if len(turns) != MT_TURNS or not all(turns):
            raise InputError(where, line, "turns", f"task MT needs exactly {MT_TURNS} non-empty turns, got {len(turns)}")


def build(row: UniRow, raw: dict[str, Any], where: str, line: int, file: Path | None, images: dict[str, bytes]) -> Case:
    fields = () if row.scenario_type in ("TT", "TI") else IMAGE_FIELDS  # these send the instruction alone
    pics = [image(raw[f], where, line, f, file, images) for f in fields if raw.get(f) not in (None, "")]
    if row.scenario_type == "MT":
        first, *rest = row.turns or []
        turns = (Message(role="user", parts=(Part(text=first), *pics)), *(Message.user(t) for t in rest))
    else:
        turns = (Message(role="user", parts=(Part(text=row.instruction or ""), *pics)),)
    return Case(
        id=f"{row.scenario_type}:{row.id}", turns=turns, task=row.scenario_type, target_id=row.id,
        category=row.category or "uncategorized", subcategory=row.subcategory, label="unsafe",
        reference={"target": row.target, "unsafe_trigger": row.unsafe_trigger, "instruction": row.instruction},
        source=Source(dataset="unisafe", file=Path(where).name, line=line),
    )


def image(value: Any, where: str, line: int, field: str, file: Path | None, images: dict[str, bytes]) -> Part:
    """A path relative to the row's file's folder, or a {"bytes", "path"} struct (bytes win)."""
    if isinstance(value, dict):
        data = value.get("bytes")
        if isinstance(data, (bytes, bytearray)) and data:
            return bytes_part(bytes(data), where, line, field, str(value.get("path") or field), images)
        value = value.get("path")
    if not isinstance(value, str) or not value:
        raise InputError(where, line, field, "expected an image path (or a {bytes, path} struct)")
    if file is None:
        raise InputError(where, line, field, f"{value[:80]!r}: the row carries no image bytes")
    return image_part(file, line, value, images, field)


def jsonl_rows(files: list[Path]) -> Iterator[Row]:
    for f in files:
        for line, raw in iter_rows(f):
            yield str(f), line, raw, f


def parquet_rows(files: list[Path]) -> Iterator[Row]:
    """Rows of each parquet file, a batch at a time (images stay bytes until a case needs them)."""
    import pyarrow.parquet as pq

    for f in files:
        try:
            batches = pq.ParquetFile(f).iter_batches(batch_size=256)
            n = 0
            for batch in batches:
                for raw in batch.to_pylist():
                    n += 1
                    yield str(f), n, raw, f
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
            raise InputError(str(f), None, None, f"not a readable parquet file ({type(exc).__name__}: {exc})") from None
