"""Content-addressed files for images: stored once under `DIR/blobs/ab/abcd…` (SHA-256 of the
bytes); records hold only the hash. A hash is checked before it becomes a path, so nothing a
dataset or a model supplies can name a file."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

_HEX64 = re.compile(r"[0-9a-f]{64}")
MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif", b"GIF89a": "image/gif"}


def sniff_mime(data: bytes) -> str | None:
    """The image type by its first bytes (PNG, JPEG, GIF, WebP), or None."""
    for magic, mime in MAGIC.items():
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha: str) -> Path:
        if not _HEX64.fullmatch(sha):
            raise ValueError(f"not a SHA-256 content hash: {sha[:80]!r}")
        return self.root / sha[:2] / sha

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.path(sha)
        if not path.exists() or path.is_symlink():
            self._inside(path.parent, create=True)
            tmp = path.with_name(f"{sha}.{os.getpid()}.{uuid.uuid4().hex}.tmp")  # one per writer: two threads may store the same bytes at once
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)  # atomic: a reader never sees half a file; a planted link is replaced, not followed
        return sha

    def get(self, sha: str) -> bytes:
        """The stored bytes: a regular file inside blobs/ (never a link out of it) whose SHA-256 is
        its name; anything else is a BlobError (the folder was changed outside mmsafe)."""
        path = self.path(sha)
        self._inside(path.parent)
        try:
            fd = os.open(path, os.O_RDONLY | NOFOLLOW)
        except OSError as exc:
            raise BlobError(f"{path}: cannot read the stored image ({exc.strerror or exc})") from None
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != sha:
            raise BlobError(f"{path}: the stored image does not match its hash (changed outside mmsafe)")
        return data

    def _inside(self, folder: Path, create: bool = False) -> None:
        """blobs/ and its two-letter folder are real folders here, not links to elsewhere."""
        for f in (self.root, folder):
            if f.is_symlink():
                raise BlobError(f"{f}: a link in the run's image store (it would read or write outside it)")
            if create:
                f.mkdir(exist_ok=True)


class BlobError(OSError):
    """A stored image that is missing, a link, or not what its name says."""


NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
