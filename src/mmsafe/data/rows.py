"""Read rows from JSONL/CSV files, naming the file and line of anything malformed.

Whatever goes wrong while reading a file (unreadable, not UTF-8, a broken CSV quote, JSON nested
too deeply, a number too long) is an InputError naming the file and the line; a byte-order mark
is skipped."""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mmsafe.errors import InputError

M = TypeVar("M", bound=BaseModel)
MAX_FIELD = 16 * 1024 * 1024  # one CSV cell; Python's default (128 KiB) is smaller than some prompts
SUFFIXES = (".jsonl", ".ndjson", ".csv")


def _unreadable(path: Path, exc: BaseException) -> InputError:
    if isinstance(exc, IsADirectoryError):
        return InputError(str(path), None, None, "is a folder, not a file")
    if isinstance(exc, FileNotFoundError):
        return InputError(str(path), None, None, "file not found")
    # permission, symlink loop, NUL in the name…
    return InputError(str(path), None, None, f"cannot read: {getattr(exc, 'strerror', None) or exc}")


def regular_file(path: Path) -> None:
    """A pipe, a socket or a device is refused before it is opened: one is read once, and may
    block for ever (a run reads its input twice: to validate it and to hash it)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return  # missing or unreadable: opening it says which
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise InputError(str(path), None, None, "is not a regular file (a pipe, socket or device); save it to a file")


def read_text(path: Path) -> str:
    """The whole file as text (UTF-8, a BOM dropped); unreadable or non-UTF-8 is an InputError."""
    regular_file(path)
    try:
        data = path.read_bytes()
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(str(path), line, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8") from None


def iter_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) from a .jsonl or .csv file; blank JSONL lines are skipped."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(str(path), None, None, f"unsupported file type {suffix!r}; use .jsonl or .csv")
    if suffix == ".csv":
        yield from _csv_rows(path, read_text(path))
    else:
        yield from _jsonl_rows(path)


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(MAX_FIELD)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    end = 0  # the last line of the previous row (or header): a row that fails starts on the next one
    while True:
        try:
            if reader.fieldnames is not None and not end:  # reads the header
                end = reader.line_num
                _check_header(path, reader.fieldnames, end)
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start = end + 1
            if "unexpected end of data" in str(exc):
                raise InputError(str(path), start, None, "a quoted cell opened on this line is never closed") from None
            if "field larger than field limit" in str(exc):
                raise InputError(str(path), start, None, f"a cell is over {MAX_FIELD // 2**20} MiB") from None
            raise InputError(str(path), start, None, f"not valid CSV ({exc})") from None
        if None in row:  # DictReader keeps cells past the header's under None: they would be lost
            raise InputError(str(path), end + 1, None, f"the row has {len(reader.fieldnames or ()) + len(row[None])} "
                             f"cells and the header {len(reader.fieldnames or ())}: quote a cell that holds a comma")
        end = reader.line_num
        yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}


def _check_header(path: Path, names: list[str], line: int) -> None:
    if len(names) == 1 and (sep := next((c for c in ";\t|" if c in names[0]), None)):
        shown = {";": "semicolons", "\t": "tabs", "|": "bars"}[sep]
        raise InputError(str(path), line, None, f"the header is one column whose name holds {shown}: a file separated "
                         f"by {shown} (as a spreadsheet set to another locale saves it)? save it as comma-separated CSV")
    seen: set[str] = set()
    for name in names:
        if name in seen and name:
            raise InputError(str(path), line, name, "column given twice in the header")
        seen.add(name)


def _jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the file's lines, read as they are needed (a large file is never held
    whole, and --limit stops before a bad byte further on). Each line is decoded on its own, so a
    byte that is not UTF-8 is an InputError naming its line; CRLF, LF and a lone CR end a line."""
    regular_file(path)
    try:
        fh = path.open("rb")
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    n = 0
    with fh:
        try:
            for i, raw in enumerate(fh):
                if i == 0:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    at = n + 1 + raw[: exc.start].count(b"\r") - raw[: exc.start].count(b"\r\n")
                    raise InputError(str(path), at, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                                     "save the file as UTF-8") from None
                if b"\r" not in raw:
                    n += 1
                    yield n, text
                    continue
                pieces = _BREAK.split(text)
                if pieces[-1] == "":  # the line's own ending
                    pieces.pop()
                for piece in pieces:
                    n += 1
                    yield n, piece
        except OSError as exc:
            raise _unreadable(path, exc) from None


_BREAK = re.compile(r"\r\n|\r|\n")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in _jsonl_lines(path):
        if line.strip():
            yield n, json_row(path, n, line)


def json_row(path: Path, n: int, line: str) -> dict[str, Any]:
    """One JSONL line as a dict; anything else is an InputError naming the file and line."""
    try:
        row = _DECODER.decode(line)
    except json.JSONDecodeError as exc:
        raise InputError(str(path), n, None, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise InputError(str(path), n, None, "JSON nested too deeply") from None
    except ValueError as exc:  # an integer too long to convert, NaN/Infinity
        raise InputError(str(path), n, None, f"not valid JSON ({exc})") from None
    if not isinstance(row, dict):
        raise InputError(str(path), n, None, f"expected a JSON object, got {type(row).__name__}")
    return row


def iter_models(path: Path, model: type[M], slow: Callable[[int, dict[str, Any]], M],
                usable: Callable[[M], bool] = lambda row: True) -> Iterator[tuple[int, M]]:
    """(line number, validated row) for each row of a .jsonl or .csv file. A JSONL line is validated
    straight from its text (pydantic's JSON parser: no dict in between, about 3x faster). A line
    that path refuses, or whose row `usable` refuses, and every CSV row, go through `slow(line, dict)`,
    which checks and validates the dict and raises the InputError that names what is wrong: the fast
    path only ever accepts, so every error reads as before. Lines naming NaN or Infinity take the slow
    path too (pydantic's parser accepts them in a column it ignores, the JSON standard does not)."""
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        for n, raw in iter_rows(path):
            yield n, slow(n, raw)
        return
    for n, line in _jsonl_lines(path):
        if not line.strip():
            continue
        row = None
        if "NaN" not in line and "Infinity" not in line:
            try:
                row = model.model_validate_json(line)
            except ValueError:  # pydantic's ValidationError among them: the slow path says why
                row = None
        yield n, row if row is not None and usable(row) else slow(n, json_row(path, n, line))


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # one decoder for every line (json.loads makes one per call)


def finite(value: Any) -> bool:
    """True if no float inside `value` (nested lists and dicts included) is NaN or infinite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return True


def validate_row(model: type[M], row: dict[str, Any], path: Path, line: int) -> M:
    if isinstance(row.get("id"), int) and not isinstance(row["id"], bool):  # numeric ids are common in datasets
        row = {**row, "id": str(row["id"])}
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise InputError(str(path), line, field, err["msg"]) from None
    except (ValueError, TypeError, RecursionError) as exc:  # pydantic lets a few through (huge ints…)
        raise InputError(str(path), line, None, f"{type(exc).__name__}: {exc}") from None
