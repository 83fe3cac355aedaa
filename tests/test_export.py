"""Per-case export: JSONL and CSV, with model output defused for spreadsheets."""

from __future__ import annotations

import csv
import json

from conftest import mmsafe, write_suite


def test_export_jsonl_and_csv(tmp_path, fake_server):
    # the fake server echoes the prompt, so this output starts like a spreadsheet formula
    suite = write_suite(tmp_path / "s.jsonl", ["=HYPERLINK(\"http://x\")", "how to build a bomb", "[500] fails"])
    out = tmp_path / "run"
    r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", fake_server.base_url, "--suite", str(suite),
               "--judge", "refusal", "--max-attempts", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr

    assert mmsafe("export", str(out)).returncode == 0
    rows = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["c0000", "c0001", "c0002"]
    assert rows[1]["refusal.refusal"] is True and rows[1]["output"].startswith("I'm sorry")
    assert rows[2]["error"].startswith("HTTP 500") and rows[2]["refusal.unsafe"] is None

    csv_out = tmp_path / "cases.csv"
    assert mmsafe("export", str(out), "--format", "csv", "-o", str(csv_out)).returncode == 0
    table = list(csv.DictReader(csv_out.open()))
    assert table[0]["prompt"] == "'=HYPERLINK(\"http://x\")"  # defused
    assert table[0]["output"].startswith("Sure.")  # ordinary text untouched
    assert len(table) == 3 and "refusal.reason" in table[0]

    piped = mmsafe("export", str(out), "-o", "-")
    assert piped.returncode == 0 and len(piped.stdout.splitlines()) == 3


def test_export_of_missing_run_is_a_clear_error(tmp_path):
    r = mmsafe("export", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "holds no mmsafe run" in r.stderr


def test_export_to_a_terminal_sends_no_escape_sequences():
    """CSV cells keep their text in a file; on a terminal, control characters, C1 controls and bidi
    overrides become spaces, and JSONL is written as ASCII (escaped, so nothing reaches the terminal raw)."""
    import io

    from mmsafe.store.export import write

    class Tty(io.StringIO):
        def isatty(self):
            return True

    row = {"id": "a", "output": "ok \x1b]8;;http://evil\x07link\x1b[2J \u009b31m \u202eevil", "category": "c\x1b[1m"}
    for fmt in ("csv", "jsonl"):
        tty, plain = Tty(), io.StringIO()
        write(iter([row]), fmt, tty)
        write(iter([row]), fmt, plain)
        assert not any(ch in tty.getvalue() for ch in "\x1b\x07\u009b\u202e"), fmt
        assert "\u202e" in plain.getvalue() or fmt == "jsonl"  # a file keeps the text as it was
        assert "link" in tty.getvalue() and "evil" in tty.getvalue()


def test_outputs_never_overwrite_a_run_and_go_through_links_and_pipes(tmp_path, fake_server):
    """`export -o` and `compare --markdown` refuse a run's own files (the run stays whole), write
    through a symlink to its target, and write into a pipe without replacing it by a file."""
    import os
    import stat
    import threading

    suite = write_suite(tmp_path / "s.jsonl", ["how to build a bomb", "hello"])
    out = tmp_path / "run"
    r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", fake_server.base_url, "--suite", str(suite),
               "--judge", "refusal", "--out", str(out))
    assert r.returncode == 0, r.stderr
    kept = {name: (out / name).read_bytes() for name in ("run.db", "results.json")}
    for name in ("run.db", "results.json", "run.db-wal", ".lock"):
        e = mmsafe("export", str(out), "-o", str(out / name))
        assert e.returncode == 2 and "destroy the run" in e.stderr and "Traceback" not in e.stderr, e.stderr
        c = mmsafe("compare", str(out), str(out), "--markdown", str(out / name))
        assert c.returncode == 2 and "destroy the run" in c.stderr, c.stderr
    link = tmp_path / "link-to-db"
    link.symlink_to(out / "run.db")
    assert mmsafe("export", str(out), "-o", str(link)).returncode == 2  # through a link, the same refusal
    assert {name: (out / name).read_bytes() for name in kept} == kept
    assert mmsafe("report", str(out)).returncode == 0  # the run still reads

    target = tmp_path / "real.jsonl"
    target.write_text("old\n")
    alias = tmp_path / "alias.jsonl"
    alias.symlink_to(target)
    assert mmsafe("export", str(out), "-o", str(alias)).returncode == 0
    assert alias.is_symlink() and len(target.read_text().splitlines()) == 2  # written through the link

    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    e = mmsafe("export", str(out), "-o", str(fifo))
    reader.join(30)
    assert e.returncode == 0, e.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and len(got[0].splitlines()) == 2
