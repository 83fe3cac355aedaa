"""Run folders changed outside mmsafe (copied, shared, tampered with): whatever reads them writes
nowhere else, changes nothing, and says which file is damaged instead of showing wrong numbers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from conftest import mmsafe


def made_run(tmp_path: Path, with_images: bool = False) -> Path:
    """A finished run of three cases (replay target, offline judge); with an output image per case."""
    suite, preds = tmp_path / "suite.jsonl", tmp_path / "preds.jsonl"
    rows, answers = [], []
    for i in range(3):
        rows.append({"id": f"c{i}", "prompt": f"draw thing {i}" if with_images else f"how do I do thing {i}?",
                     "label": "unsafe", **({"task": "TI"} if with_images else {})})
        if with_images:
            Image.new("RGB", (8, 8), (40 * i, 90, 200)).save(tmp_path / f"o{i}.png")
            answers.append({"id": f"c{i}", "scenario_type": "TI", "model": "m", "output_image": f"o{i}.png"})
        else:
            answers.append({"id": f"c{i}", "output": "I can't help with that." if i else "Sure, step one is easy."})
    suite.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    preds.write_text("".join(json.dumps(a) + "\n" for a in answers), encoding="utf-8")
    out = tmp_path / "run"
    judge = ("--judge", "nsfw") if with_images else ("--judge", "refusal")
    r = mmsafe("run", "--target", "replay", "--predictions", str(preds), "--suite", str(suite), *judge,
               "--out", str(out), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def refused(r, *says: str) -> None:
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    for s in says:
        assert s in " ".join(r.stderr.split()), r.stderr[-2000:]


def test_links_planted_in_a_run_folder_never_lead_writes_outside_it(tmp_path):
    out = made_run(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (victim / name).write_text("precious\n")
    (out / "cases.csv").symlink_to(victim / "a.txt")
    refused(mmsafe("export", str(out), "--format", "csv"), "a link in the run folder")
    (out / "results.tmp").symlink_to(victim / "b.txt")  # where results.json used to be written first
    (out / ".lock").unlink(missing_ok=True)
    (out / ".lock").symlink_to(victim / "c.txt")
    r = mmsafe("report", str(out))
    assert r.returncode == 0, r.stderr
    refused(mmsafe("run", "--target", "replay", "--predictions", str(tmp_path / "preds.jsonl"), "--suite",
                   str(tmp_path / "suite.jsonl"), "--judge", "refusal", "--out", str(out)), "a link where the run's lock")
    (out / ".lock").unlink()
    r = mmsafe("run", "--target", "replay", "--predictions", str(tmp_path / "preds.jsonl"), "--suite",
               str(tmp_path / "suite.jsonl"), "--judge", "refusal", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert all((victim / n).read_text() == "precious\n" for n in ("a.txt", "b.txt", "c.txt"))
    assert (out / "results.json").is_file() and not (out / "results.json").is_symlink()
    assert oct((out / "results.json").stat().st_mode)[-3:] == "644"


def test_stored_images_are_read_only_from_the_store_and_only_if_they_are_what_their_hash_says(tmp_path):
    out = made_run(tmp_path, with_images=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET host file")
    blobs = sorted(p for p in (out / "blobs").rglob("*") if p.is_file())
    assert len(blobs) == 3
    blobs[0].unlink()
    blobs[0].symlink_to(secret)  # a link out of the store, under an image's hash
    for d in "xyz":
        (tmp_path / d).mkdir()
    r = mmsafe("export", str(out), "--format", "unisafe", "-o", str(tmp_path / "x" / "p.jsonl"))
    refused(r, "run database is damaged", "image", blobs[0].name[:16])
    assert "SECRET" not in "".join(p.read_text(errors="replace") for p in (tmp_path / "x").rglob("*") if p.is_file())
    blobs[0].unlink()
    blobs[0].write_bytes(blobs[1].read_bytes())  # bytes that are not what the name says
    refused(mmsafe("export", str(out), "--format", "unisafe", "-o", str(tmp_path / "y" / "p.jsonl")),
            "does not match its hash")
    blobs[0].unlink()  # missing: named as the run's image, not as a failure to write the output
    r = mmsafe("export", str(out), "--format", "unisafe", "-o", str(tmp_path / "z" / "p.jsonl"))
    refused(r, "run database is damaged", "image")
    assert "--output" not in r.stderr
    html = mmsafe("report", str(out), "--out", str(tmp_path / "html"))  # a missing picture: the row says so
    assert html.returncode == 0, html.stderr
    assert len(list((tmp_path / "html" / "img").glob("*.png"))) == 2


def _edit(out: Path, sql: str, *args) -> None:
    con = sqlite3.connect(out / "run.db")
    with con:
        con.execute(sql, args)
    con.close()


def test_a_verdict_field_that_is_not_true_or_false_is_damage_not_a_rate(tmp_path):
    out = made_run(tmp_path)
    _edit(out, "UPDATE verdicts SET body = json_set(body, '$.unsafe', 'no')")
    for cmd in (("report", str(out)), ("compare", str(out), str(out))):
        refused(mmsafe(*cmd), "run database is damaged", "'unsafe' is 'no'")


@pytest.mark.parametrize("table", ["generations", "verdicts", "cases"])
def test_readers_never_change_the_folder_and_a_missing_table_is_named(tmp_path, table):
    out = made_run(tmp_path)
    _edit(out, f"DROP TABLE {table}")
    for cmd in (("report", str(out)), ("export", str(out), "-o", str(tmp_path / "e.jsonl")),
                ("compare", str(out), str(out))):
        refused(mmsafe(*cmd), "run database is damaged", f"table '{table}' is missing")
    con = sqlite3.connect(out / "run.db")
    tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert table not in tables  # not re-created by a reader


@pytest.mark.parametrize("sql, readers, resume", [
    ("UPDATE meta SET value = 'nope' WHERE key = 'judges'", ("report", "compare"), False),  # a resume writes it anew
    ("INSERT OR REPLACE INTO meta VALUES ('quality', '[1]')", ("report",), True),  # compare reads no quality
    ("UPDATE runs SET judges = 'nope'", ("report", "compare"), True),
])
def test_stored_settings_that_do_not_read_are_named(tmp_path, sql, readers, resume):
    out = made_run(tmp_path)
    _edit(out, sql)
    for cmd in readers:
        refused(mmsafe(cmd, str(out), *((str(out),) if cmd == "compare" else ())), "run database is damaged")
    r = mmsafe("run", "--target", "replay", "--predictions", str(tmp_path / "preds.jsonl"), "--suite",
               str(tmp_path / "suite.jsonl"), "--judge", "refusal", "--out", str(out))
    if resume:
        refused(r, "run database is damaged")
    else:
        assert r.returncode == 0 and mmsafe("report", str(out)).returncode == 0, r.stderr
