"""One `mmsafe run` per run folder at a time: an exclusive, non-blocking flock on DIR/.lock.

The kernel drops the lock when the process ends, however it ends (kill -9 included), so a
stale lock never blocks a resume. Readers (`report`, `export`) never take it."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from mmsafe.errors import UsageError

LOCK_NAME = ".lock"


class RunLock:
    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:  # a link planted as .lock would have this process truncate whatever it points at
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            if self.path.is_symlink():
                raise UsageError(f"{self.path}: a link where the run's lock file goes; remove it") from None
            raise exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise UsageError(f"--out {self.path.parent} is in use by another mmsafe run ({holder}); "
                             "wait for it to end, or use another --out folder") from None
        except OSError:
            os.close(fd)
            raise
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing drops the flock; the file stays (its content is only informative)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {int(info['pid'])} on {str(info['host'])[:64]}, started {str(info['started'])[:32]}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said who it is"
