"""Files written where the user says (`export -o`, `compare --markdown`): through a symlink to its
target, straight into a device or a pipe (`/dev/null`, `/dev/stdout`: never replaced by a file),
atomically anywhere else (a temporary file beside it, then renamed, so a failed write leaves the
old file whole), and never over a run's own files: its database and journals, its results and its
lock."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

from mmsafe.errors import UsageError
from mmsafe.store.lock import LOCK_NAME
from mmsafe.store.sqlite import DB_NAME

RESULTS = "results.json"
RUN_FILES = frozenset({DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", RESULTS, LOCK_NAME})
T = TypeVar("T")


def output_target(path: Path, flag: str) -> Path:
    """The file `path` names (symlinks followed), checked: not a folder, in a folder that exists,
    and not one of a run folder's own files."""
    target = path.resolve()
    if target.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name")
    if not target.parent.is_dir():
        raise UsageError(f"{flag} {path}: folder {target.parent} not found")
    if target.name in RUN_FILES and (target.parent / DB_NAME).exists():
        raise UsageError(f"{flag} {path} is {target.name} of the run in {target.parent}: writing it would destroy "
                         "the run; give another file name")
    return target


def write_output(path: Path, flag: str, fill: Callable[[TextIO], T], newline: str | None = None) -> T:
    """Open the checked target for writing, hand it to `fill`, and return what `fill` returns."""
    target = output_target(path, flag)
    try:
        if target.exists() and not target.is_file():  # a device or a pipe: written as it is
            with target.open("w", encoding="utf-8", newline=newline) as fh:
                return fill(fh)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
                out = fill(fh)
            if target.exists():  # keep the permissions of the file it replaces
                os.chmod(tmp, target.stat().st_mode & 0o7777)
            else:
                os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
            return out
        finally:
            Path(tmp).unlink(missing_ok=True)  # never leave half a file behind
    except OSError as exc:  # read-only, disk full
        raise UsageError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
