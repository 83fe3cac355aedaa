"""How many connections this process may hold open: each request in flight needs a socket, and a
process past its file limit (ulimit -n) fails every new connection as if the server were down."""

from __future__ import annotations

import os

HEADROOM = 64  # files kept free for the run database, blobs, judges' models and the interpreter


def open_file_limit() -> int:
    """The soft limit, raised to the hard one first where the system allows it (as servers do)."""
    try:
        import resource
    except ImportError:  # not on POSIX: nothing to read
        return 1 << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        want = 1 << 16 if hard == resource.RLIM_INFINITY else hard
        if want > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
                soft = want
            except (ValueError, OSError):
                pass
    return soft


def open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 32


def connection_room() -> int:
    """Requests that may be in flight at once without running out of file handles."""
    return max(1, open_file_limit() - open_files() - HEADROOM)
