"""What the vision-language loaders share: rows with their line numbers from a JSON array/object,
a CSV, JSONL or parquet file; an image named by a row, resolved inside the dataset's own folder;
an image carried as bytes; the one-turn image+text case.

Image paths: a row's image reference is a path relative to a base folder (the data file's folder,
or the folder the published layout puts the images in) and must stay inside the dataset's root
folder, a folder the dataset's glob pattern matched under --data (so inside --data): an absolute
path, a `..` part or a symlink leading out is an InputError naming the file, the line and the
field. The bytes are read with `cases.read_image` / `cases.bytes_part` (size cap, PNG/JPEG/GIF/WebP
magic numbers)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmsafe.data.cases import bytes_part, read_image
from mmsafe.data.datasets import data_root
from mmsafe.data.rows import iter_rows, read_text
from mmsafe.errors import InputError, MissingDependency
from mmsafe.schema import Case, Label, Message, Part, Source

_ws = " \t\r\n"


def json_items(path: Path) -> Iterator[tuple[int, str | None, Any]]:
    """(line, key, item) for each element of a JSON file holding a top-level array (key None) or
    object (key: the member name); a .jsonl file gives its rows (key None). The line is where the
    element starts, so an error in a row names it."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for line, row in iter_rows(path):
            yield line, None, row
        return
    text = read_text(path)
    dec = json.JSONDecoder()
    i, n, line, counted = 0, len(text), 1, 0

    def at(pos: int) -> int:  # the line of position pos (positions only move forward)
        nonlocal line, counted
        line += text.count("\n", counted, pos)
        counted = pos
        return line

    def skip(pos: int) -> int:
        while pos < n and text[pos] in _ws:
            pos += 1
        return pos

    def value(pos: int) -> tuple[Any, int]:
        try:
            return dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputError(str(path), exc.lineno, None, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise InputError(str(path), at(pos), None, "JSON nested too deeply") from None

    i = skip(i)
    if i >= n or text[i] not in "[{":
        raise InputError(str(path), at(i), None, "expected a JSON array or object of rows")
    close = "]" if text[i] == "[" else "}"
    i = skip(i + 1)
    if i < n and text[i] == close:
        return
    while True:
        key = None
        if close == "}":
            if i >= n or text[i] != '"':
                raise InputError(str(path), at(i), None, "not valid JSON (expected a member name)")
            key, i = value(i)
            i = skip(i)
            if i >= n or text[i] != ":":
                raise InputError(str(path), at(i), None, "not valid JSON (expected ':')")
            i = skip(i + 1)
        start = at(i)
        item, i = value(i)
        yield start, key, item
        i = skip(i)
        if i < n and text[i] == ",":
            i = skip(i + 1)
            continue
        if i < n and text[i] == close:
            return
        raise InputError(str(path), at(min(i, n)), None, f"not valid JSON (expected ',' or '{close}')")


def csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, row) of a CSV file (empty cells left out), whatever its suffix says."""
    if path.suffix.lower() != ".csv":
        raise InputError(str(path), None, None, "expected a .csv file")
    yield from iter_rows(path)


def parquet_rows(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number from 1, row) of a parquet file, a batch at a time; needs pyarrow."""
    if importlib.util.find_spec("pyarrow") is None:
        raise MissingDependency(f"reading {what}'s parquet files", "unisafe", "pyarrow")
    import pyarrow.parquet as pq

    n = 0
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=256)
        for batch in batches:
            for raw in batch.to_pylist():
                n += 1
                yield n, raw
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
        raise InputError(str(path), n + 1 if n else None, None,
                         f"not a readable parquet file ({type(exc).__name__}: {exc})") from None


def row_dict(item: Any, path: Path, line: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InputError(str(path), line, None, f"expected a JSON object, got {type(item).__name__}")
    return item


def text(row: dict[str, Any], field: str, path: Path, line: int, required: bool = True) -> str | None:
    """A string field, stripped; required ones must be non-empty. Numbers are read as text."""
    v = row.get(field)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(v)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise InputError(str(path), line, field, "required, missing or empty")
        return None
    if not isinstance(v, str):
        raise InputError(str(path), line, field, f"expected text, got {type(v).__name__}")
    return v.strip()


def image_at(root: Path, base: Path, ref: str, path: Path, line: int, field: str, images: dict[str, bytes]) -> Part:
    """The image `ref` names, relative to `base`; it must resolve inside `root` (the dataset's folder)
    and inside the --data folder the dataset was read from (datasets.data_root), whichever is narrower."""
    root_r = root.resolve()
    bound = data_root()
    if bound is not None and not root_r.is_relative_to(bound):
        root_r = bound
    if "\0" in ref or len(ref) > 1024:
        raise InputError(str(path), line, field, f"{ref[:80]!r} is not a usable file name")
    rel = Path(ref)
    if rel.is_absolute() or ref.startswith(("/", "\\")) or ".." in rel.parts or ".." in Path(ref.replace("\\", "/")).parts:
        raise InputError(str(path), line, field, f"{ref!r} must be a relative path inside {root_r}")
    try:
        file = (base / rel).resolve(strict=True)
    except FileNotFoundError:
        raise InputError(str(path), line, field, f"image file not found: {base / rel}") from None
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loop, name too long, unreadable
        raise InputError(str(path), line, field, f"cannot read {ref!r}: {getattr(exc, 'strerror', None) or exc}") from None
    if not file.is_relative_to(root_r):  # a symlink pointing out of the dataset's folder
        raise InputError(str(path), line, field, f"{ref!r} resolves outside {root_r}")
    return bytes_part(read_image(file, str(path), line, field, ref), str(path), line, field, ref, images)


def first_base(bases: list[Path], ref: str) -> Path:
    """The first of `bases` under which `ref` exists (the first when none has it, for the error)."""
    for b in bases:
        try:
            if (b / ref).exists():
                return b
        except (OSError, ValueError):
            break
    return bases[0]


def embedded_image(value: Any, path: Path, line: int, field: str, images: dict[str, bytes]) -> Part:
    """An image a parquet row carries: raw bytes, or the hub's {"bytes", "path"} struct."""
    if isinstance(value, dict):
        value = value.get("bytes")
    if isinstance(value, (bytes, bytearray)) and value:
        return bytes_part(bytes(value), str(path), line, field, field, images)
    raise InputError(str(path), line, field, "required: the image's bytes (or a {bytes, path} struct with them)")


def vl_case(cid: str, prompt: str, pics: list[Part], dataset: str, path: Path, line: int, category: str,
            subcategory: str | None = None, label: Label = "unsafe", reference: dict[str, Any] | None = None,
            metadata: dict[str, Any] | None = None) -> Case:
    """One user turn: the text, then the images."""
    return Case(
        id=cid, turns=(Message(role="user", parts=(Part(text=prompt), *pics)),), category=category or "uncategorized",
        subcategory=subcategory, label=label, language="en", source=Source(dataset=dataset, file=str(path), line=line),
        reference=reference or {}, metadata=metadata or {},
    )


SAFE_WORDS = frozenset({"safe", "benign", "harmless", "false", "no"})


def label_from(row: dict[str, Any], fields: tuple[str, ...]) -> Label:
    """benign when the first of `fields` the row has says safe/benign (a bool False counts), else unsafe."""
    for f in fields:
        v = row.get(f)
        if v is None or v == "":
            continue
        if isinstance(v, bool):
            return "unsafe" if v else "benign"
        return "benign" if str(v).strip().lower() in SAFE_WORDS else "unsafe"
    return "unsafe"


class Ids:
    """Unique case ids within one dataset, a repeat naming both lines."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def add(self, cid: str, path: Path, line: int, field: str) -> str:
        if cid in self.seen:
            raise InputError(str(path), line, field, f"duplicate id {cid!r} (first at {self.seen[cid]})")
        self.seen[cid] = f"{path.name}, line {line}"
        return cid


def nonempty(cases: list[Case], path: Path) -> list[Case]:
    if not cases:
        raise InputError(str(path), None, None, "no rows in file")
    return cases
