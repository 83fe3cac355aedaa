"""A user's own file of cases (JSONL or CSV): at least a `prompt`; optional id, label,
category, subcategory, language, system and image columns. The built-in suites use the same format.
`image` is a path relative to the file's folder (it must stay inside it); the picture goes with
the last user turn (MT: the first). `image_b` is a second picture (IC: the second input).
A JSONL row may give `turns` instead of `prompt` for a multi-turn case: a list of user turns
(strings), or of {"role", "content"} messages where assistant messages are fixed history.
`task` (default chat) names what goes in and what must come out (TT, IT, MU, TI, IE, IC, MT) and
what the row must give: IT/MU/IE an image, IC `image` and `image_b`, MT `turns` with at least two
user turns; TT and TI take no image. `target_id` names the risk several tasks' rows share."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import to_json

from mmsafe.data.rows import iter_models, validate_row
from mmsafe.errors import InputError, UsageError
from mmsafe.schema import Case, Label, Message, Part, Source, Task
from mmsafe.store.blobs import sniff_mime

T = TypeVar("T")


class TurnRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"] = "user"
    content: str = Field(min_length=1)

    @field_validator("content")
    @classmethod
    def _not_blank(cls, v: str) -> str:  # kept as written (spacing may matter in history), but never blank
        if not v.strip():
            raise ValueError("a turn's content is blank")
        return v


class CaseRow(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    prompt: str | None = Field(default=None, min_length=1)
    turns: list[TurnRow | str] | None = Field(default=None, min_length=1)
    id: str | None = Field(default=None, min_length=1)
    label: Label = "unsafe"
    category: str = "uncategorized"
    subcategory: str | None = None
    language: str = "en"
    system: str | None = None
    image: str | None = Field(default=None, min_length=1)
    image_b: str | None = Field(default=None, min_length=1)
    task: Task = "chat"
    target_id: str | None = Field(default=None, min_length=1)

    @field_validator("turns")
    @classmethod
    def _no_blank_turn(cls, turns: list[TurnRow | str] | None) -> list[TurnRow | str] | None:
        for i, t in enumerate(turns or ()):
            if isinstance(t, str) and not t:  # (strings arrive stripped)
                raise ValueError(f"turn {i + 1} is blank")
        return turns

    def messages(self) -> tuple[Message, ...]:
        head = (Message(role="system", parts=(Part(text=self.system),)),) if self.system else ()
        if self.prompt is not None:
            return (*head, Message.user(self.prompt))
        body = tuple(
            Message.user(t) if isinstance(t, str) else Message(role=t.role, parts=(Part(text=t.content),))
            for t in self.turns or ()
        )
        return (*head, *body)


def load_cases(path: str | Path, dataset: str | None = None, images: dict[str, bytes] | None = None,
               limit: int | None = None) -> list[Case]:
    """Read and validate the whole file (with `limit`, its first `limit` cases: rows after them are
    not parsed) before anything runs; ids must be unique. Image bytes are collected into `images`
    (hash -> bytes) for the run's blob store."""
    cases = list(iter_cases(path, dataset, images, limit))
    if not cases:
        raise InputError(str(path), None, None, "no cases in file")
    return cases


def iter_cases(path: str | Path, dataset: str | None = None, images: dict[str, bytes] | None = None,
               limit: int | None = None) -> Iterator[Case]:
    """The file's cases one at a time, each validated as it is read (an InputError names the file,
    line and field); see load_cases. Only the ids seen so far are kept, to refuse a duplicate."""
    return _read(path, dataset, images, limit, _plain_case, lambda case: case)


def iter_case_json(path: str | Path, dataset: str | None = None, images: dict[str, bytes] | None = None,
                   limit: int | None = None) -> Iterator[tuple[str, str, str]]:
    """(id, task, JSON) of the file's cases, the JSON as `Case.model_dump_json()` writes it, checked
    as iter_cases checks them: what a CaseSpool keeps. A one-prompt row's JSON is written straight
    from its validated row, without building the Case (a third of the cost)."""
    return _read(path, dataset, images, limit, _plain_json, lambda c: (c.id, c.task, c.model_dump_json()))


def _plain_case(fields: dict, system: str | None, prompt: str) -> Case:
    # the whole case validated in one call (4x faster than model by model)
    sys_turn = [{"role": "system", "parts": [{"text": system}]}] if system else []
    return Case.model_validate({**fields, "turns": [*sys_turn, {"role": "user", "parts": [{"text": prompt}]}]})


def _message(role: str, text: str) -> dict:
    return {"role": role, "parts": [{"type": "text", "text": text, "image_sha256": None, "mime": None}]}


def _plain_json(fields: dict, system: str | None, prompt: str) -> tuple[str, str, str]:
    """_plain_case(...).model_dump_json(), field for field in Case's order (a test holds the two
    equal for every character and field): the row model has checked every value already."""
    turns = [*([_message("system", system)] if system else []), _message("user", prompt)]
    body = {"id": fields["id"], "turns": turns, **{k: fields[k] for k in _AFTER_TURNS}, "reference": {}, "metadata": {}}
    return fields["id"], fields["task"], to_json(body).decode()  # the serializer model_dump_json uses


_AFTER_TURNS = ("task", "target_id", "category", "subcategory", "label", "language", "source")


def _read(path: str | Path, dataset: str | None, images: dict[str, bytes] | None, limit: int | None,
          plain: Callable[[dict, str | None, str], T], full: Callable[[Case], T]) -> Iterator[T]:
    """What iter_cases and iter_case_json share: each row checked, then a one-prompt row given to
    `plain(fields, system, prompt)` and any other built as a Case and given to `full`."""
    path = Path(path)
    images = {} if images is None else images
    name = dataset or path.stem
    count = 0
    seen: dict[str, int] = {}
    file = path.name

    def checked(line: int, raw: dict) -> CaseRow:
        if raw.get("prompt") in (None, "") and not raw.get("turns"):
            raise InputError(str(path), line, "prompt", "required: the text to send (or `turns` for a multi-turn case)")
        if raw.get("prompt") not in (None, "") and raw.get("turns"):
            raise InputError(str(path), line, "turns", "give either `prompt` or `turns`, not both")
        return validate_row(CaseRow, raw, path, line)

    # a row with neither or both of prompt and turns goes to `checked`, which says which
    for line, row in iter_models(path, CaseRow, checked, lambda r: (r.prompt is None) != (not r.turns)):
        case_id = row.id or f"{name}-{line}"
        if case_id in seen:
            raise InputError(str(path), line, "id", f"duplicate id {case_id!r} (first on line {seen[case_id]})")
        seen[case_id] = line
        fields = {"id": case_id, "task": row.task, "target_id": row.target_id, "category": row.category,
                  "subcategory": row.subcategory, "label": row.label, "language": row.language,
                  "source": {"dataset": name, "file": file, "line": line}}
        if row.prompt is not None and row.image is None and row.task != "MT":  # the common row, one prompt
            check_task(row, 1, path, line)
            yield plain(fields, row.system, row.prompt)
        else:
            turns = row.messages()
            if turns[-1].role != "user":
                raise InputError(str(path), line, "turns", "the last turn must be a user turn (the one the model answers)")
            check_task(row, sum(m.role == "user" for m in turns), path, line)
            pics = [image_part(path, line, ref, images, f) for f, ref in (("image", row.image), ("image_b", row.image_b))
                    if ref is not None]
            if pics:
                turns = with_images(turns, pics, first=row.task == "MT")
            yield full(Case(**{**fields, "turns": turns, "source": Source(**fields["source"])}))
        count += 1
        if limit is not None and count >= limit:
            break  # the rows after these are not read


NEEDS_IMAGE = frozenset({"IT", "MU", "IE", "IC"})


def check_task(row: CaseRow, users: int, path: Path, line: int) -> None:
    """A row gives what its task needs: the input images, the turns (`users`: how many user turns)."""
    if row.image_b is not None and row.image is None:
        raise InputError(str(path), line, "image", "required with `image_b` (the first input image)")
    if row.task in NEEDS_IMAGE and row.image is None:
        raise InputError(str(path), line, "image", f"required: task {row.task} takes an input image")
    if row.task == "IC" and row.image_b is None:
        raise InputError(str(path), line, "image_b", "required: task IC composes two input images")
    if row.task in ("TT", "TI") and row.image is not None:
        raise InputError(str(path), line, "image", f"task {row.task} takes no input image (IT, MU or IE do)")
    if row.task == "MT" and users < 2:
        raise InputError(str(path), line, "turns", "task MT needs `turns` with at least 2 user turns")


def with_images(turns: tuple[Message, ...], pics: list[Part], first: bool = False) -> tuple[Message, ...]:
    """The turns with `pics` added to the last user turn (or the first, for multi-turn editing)."""
    users = [i for i, m in enumerate(turns) if m.role == "user"]
    i = users[0] if first else users[-1]
    return (*turns[:i], Message(role="user", parts=(*turns[i].parts, *pics)), *turns[i + 1:])


MAX_IMAGE_ENV = "MMSAFE_MAX_IMAGE_MB"
DEFAULT_MAX_IMAGE_MB = 20


def max_image_bytes() -> int:
    """The largest image file a case may name: 20 MiB, or $MMSAFE_MAX_IMAGE_MB."""
    raw = os.environ.get(MAX_IMAGE_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_IMAGE_MB * 2**20
    try:
        mb = float(raw)
    except ValueError:
        mb = math.nan
    if not math.isfinite(mb) or mb <= 0:
        raise UsageError(f"${MAX_IMAGE_ENV}: expected a positive number of MiB, got {raw!r}")
    return int(mb * 2**20)


def image_part(suite: Path, line: int, ref: str, images: dict[str, bytes], field: str = "image") -> Part:
    """Read an image named by a suite row; the path must stay inside the suite file's folder and
    the file must not exceed max_image_bytes() (checked before reading)."""
    base = suite.resolve().parent
    if "\0" in ref or len(ref) > 1024:
        raise InputError(str(suite), line, field, f"{ref[:80]!r}… is not a usable file name")
    rel = Path(ref)
    if rel.is_absolute() or ".." in rel.parts:
        raise InputError(str(suite), line, field, f"{ref!r} must be a relative path inside {base}")
    try:
        file = (base / rel).resolve(strict=True)
    except FileNotFoundError:
        raise InputError(str(suite), line, field, f"file not found: {base / rel}") from None
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loop, name too long, unreadable
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(str(suite), line, field, f"cannot read {ref!r}: {reason}") from None
    if not file.is_relative_to(base):  # e.g. a symlink pointing out of the folder
        raise InputError(str(suite), line, field, f"{ref!r} resolves outside {base}")
    return bytes_part(read_image(file, str(suite), line, field, ref), str(suite), line, field, ref, images)


def read_image(file: Path, where: str, line: int | None, field: str, ref: str) -> bytes:
    """The bytes of a regular file of at most max_image_bytes() (checked before and while reading)."""
    cap = max_image_bytes()
    try:
        if not file.exists():
            raise InputError(where, line, field, f"file not found: {file}")
        if not file.is_file():
            raise InputError(where, line, field, f"not a file: {file}")
        size = file.stat().st_size
        if size > cap:
            raise InputError(where, line, field, f"{ref!r} is {size / 2**20:.1f} MiB, over the "
                             f"{cap / 2**20:g} MiB limit per image (raise it with ${MAX_IMAGE_ENV})")
        with file.open("rb") as fh:
            data = fh.read(cap + 1)
    except FileNotFoundError:
        raise InputError(where, line, field, f"file not found: {file}") from None
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loop, name too long, unreadable
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(where, line, field, f"cannot read {ref!r}: {reason}") from None
    if len(data) > cap:  # grew after stat()
        raise InputError(where, line, field, f"{ref!r} is over the {cap / 2**20:g} MiB limit per image")
    return data


def bytes_part(data: bytes, where: str, line: int | None, field: str, ref: str, images: dict[str, bytes]) -> Part:
    """An image part for bytes that are a PNG, JPEG, GIF or WebP within the size cap; the bytes are
    collected into `images` (hash -> bytes)."""
    cap = max_image_bytes()
    if len(data) > cap:
        raise InputError(where, line, field, f"{ref!r} is {len(data) / 2**20:.1f} MiB, over the "
                         f"{cap / 2**20:g} MiB limit per image (raise it with ${MAX_IMAGE_ENV})")
    mime = sniff_mime(data)
    if mime is None:
        raise InputError(where, line, field, f"{ref!r} is not a PNG, JPEG, GIF or WebP image")
    sha = hashlib.sha256(data).hexdigest()
    images[sha] = data
    return Part(type="image", image_sha256=sha, mime=mime)
