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
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{sha}.{os.getpid()}.{uuid.uuid4().hex}.tmp")  # one per writer: two threads may store the same bytes at once
            tmp.write_bytes(data)
            tmp.replace(path)  # atomic: a reader never sees half a file
        return sha

    def get(self, sha: str) -> bytes:
        return self.path(sha).read_bytes()
