"""`--limit N` on a suite file reads only its first N cases; the suite's hash is the file's bytes, so
the limit can grow over one run folder; a case a resumed run asks again must be the case recorded
(a changed image file is refused, naming the case)."""

from __future__ import annotations

import hashlib
import json
import sqlite3

from conftest import mmsafe, write_suite
from skimage import data as skdata
from PIL import Image


def _args(srv, suite, out, *extra):
    return ["run", "--target", "openai", "--model", "m", "--base-url", srv.base_url, "--suite", str(suite),
            "--judge", "refusal", "--out", str(out), "--json", *extra]


def test_limit_leaves_the_rest_of_the_file_unread_and_can_grow(tmp_path, fake_server):
    suite = write_suite(tmp_path / "suite.jsonl", [f"Question {i}: how do I bake bread?" for i in range(8)])
    with suite.open("a") as fh:
        fh.write("{this row is not JSON\n")  # line 9: past --limit 5, never parsed
    out = tmp_path / "run"
    first = mmsafe(*_args(fake_server, suite, out, "--limit", "5"))
    assert first.returncode == 0, first.stderr
    res = json.loads(first.stdout)
    assert res["counts"]["cases"] == 5 and fake_server.total == 5
    assert res["run"]["suite_sha256"] == hashlib.sha256(suite.read_bytes()).hexdigest()

    grown = mmsafe(*_args(fake_server, suite, out, "--limit", "8"))  # the same folder: only 3 new requests
    assert grown.returncode == 0, grown.stderr
    assert json.loads(grown.stdout)["counts"]["cases"] == 8 and fake_server.total == 8

    whole = mmsafe(*_args(fake_server, suite, out))  # now the bad row is read, and named
    assert whole.returncode != 0
    assert "line 9" in whole.stderr and "suite.jsonl" in whole.stderr
    assert fake_server.total == 8


def test_a_changed_image_is_refused_on_resume_naming_the_case(tmp_path, fake_server):
    Image.fromarray(skdata.astronaut()[:64, :64]).save(tmp_path / "pic.png")
    rows = [{"id": f"v{i}", "prompt": f"What is in this picture? ({i})", "image": "pic.png", "task": "IT"} for i in range(3)]
    suite = tmp_path / "vl.jsonl"
    suite.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    first = mmsafe(*_args(fake_server, suite, out))
    assert first.returncode == 0, first.stderr
    asked = fake_server.total

    Image.fromarray(skdata.camera()[:64, :64]).save(tmp_path / "pic.png")  # same file name, other picture
    again = mmsafe(*_args(fake_server, suite, out))
    assert again.returncode != 0
    assert "'v0'" in again.stderr and "line 1" in again.stderr and "new --out" in again.stderr
    assert fake_server.total == asked  # nothing asked again
    con = sqlite3.connect(out / "run.db")
    try:
        assert con.execute("SELECT COUNT(*) FROM generations WHERE failed=0").fetchone()[0] == 3  # nothing lost
    finally:
        con.close()
