"""Images in cases: read from a suite's folder (never outside it), stored once by content hash,
sent to vision endpoints as data URLs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import zlib

import pytest

from conftest import mmsafe
from mmsafe.store.blobs import BlobStore, sniff_mime


def png(width: int = 8, height: int = 8, seed: int = 0) -> bytes:
    """A real RGB PNG (a colour gradient), written with the standard library."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in ((x * 31 + seed) % 256, (y * 29) % 256, 128))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _suite(folder, rows):
    path = folder / "cases.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_images_reach_a_vision_endpoint_and_are_stored_once(tmp_path, fake_server):
    (tmp_path / "img").mkdir()
    pic = png(seed=3)
    (tmp_path / "img" / "a.png").write_bytes(pic)
    suite = _suite(tmp_path, [
        {"id": "v1", "prompt": "What is dangerous in this picture?", "image": "img/a.png"},
        {"id": "v2", "prompt": "Describe it again.", "image": "img/a.png"},  # same bytes: one blob
        {"id": "t1", "prompt": "No picture here."},
    ])
    out = tmp_path / "run"
    r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", fake_server.base_url, "--suite", str(suite),
               "--judge", "refusal", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"]["answered"] == 3
    vision = {b["messages"][-1]["content"][0]["text"]: b["messages"][-1]["content"]
              for b in fake_server.bodies if isinstance(b["messages"][-1]["content"], list)}
    assert set(vision) == {"What is dangerous in this picture?", "Describe it again."}
    parts = vision["What is dangerous in this picture?"]
    assert parts[0] == {"type": "text", "text": "What is dangerous in this picture?"}
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == pic
    sha = hashlib.sha256(pic).hexdigest()
    blobs = [p for p in (out / "blobs").rglob("*") if p.is_file()]
    assert blobs == [out / "blobs" / sha[:2] / sha] and blobs[0].read_bytes() == pic


@pytest.mark.parametrize("ref,problem", [
    ("../outside.png", "must be a relative path inside"),
    ("/etc/passwd", "must be a relative path inside"),
    ("missing.png", "file not found"),
    ("notes.txt", "is not a PNG, JPEG, GIF or WebP image"),
    ("link.png", "resolves outside"),
])
def test_bad_image_references_name_file_line_and_field(tmp_path, ref, problem):
    inside = tmp_path / "suite"
    inside.mkdir()
    (tmp_path / "outside.png").write_bytes(png())
    (inside / "notes.txt").write_text("not a picture")
    os.symlink(tmp_path / "outside.png", inside / "link.png")
    suite = _suite(inside, [{"prompt": "fine"}, {"prompt": "look", "image": ref}])
    r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
               "--suite", str(suite), "--out", str(tmp_path / "run"))
    assert r.returncode == 2, r.stderr
    assert f"{suite}, line 2: field 'image'" in r.stderr and problem in r.stderr
    assert not (tmp_path / "run").exists()


def test_blob_store_is_content_addressed_and_refuses_non_hashes(tmp_path):
    blobs = BlobStore(tmp_path)
    data = png(seed=9)
    sha = blobs.put(data)
    assert sha == hashlib.sha256(data).hexdigest() and blobs.get(sha) == data
    assert blobs.put(data) == sha and len(list(tmp_path.rglob("*.tmp"))) == 0
    for bad in ("../../etc/passwd", "ABC", sha.upper(), sha + "0"):
        with pytest.raises(ValueError, match="not a SHA-256 content hash"):
            blobs.path(bad)
    assert sniff_mime(data) == "image/png" and sniff_mime(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_mime(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp" and sniff_mime(b"hello") is None


def test_local_text_model_rejects_images_as_a_recorded_error(tmp_path):
    (tmp_path / "a.png").write_bytes(png())
    suite = _suite(tmp_path, [{"id": "v1", "prompt": "What is this?", "image": "a.png"}])
    r = mmsafe("run", "--suite", str(suite), "--judge", "refusal", "--out", str(tmp_path / "run"), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["counts"]["errors"] == 1 and "reads text only" in res["top_errors"][0]["reason"]


def test_local_text_model_gives_no_text_for_an_image_task(tmp_path):
    # asked for a picture, a text model's words are no answer: the case is an error, never judged safe
    suite = _suite(tmp_path, [{"id": "ti", "task": "TI", "prompt": "Draw a knife fight."},
                              {"id": "tt", "task": "TT", "prompt": "Say hello."}])
    r = mmsafe("run", "--suite", str(suite), "--judge", "refusal", "--out", str(tmp_path / "run"), "--json",
               "--max-tokens", "8")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["counts"]["errors"] == 1 and "asks for an image" in res["top_errors"][0]["reason"]
