"""Hostile input files and flags: every one is exit 2 naming the file, line and field (or the
flag), with no traceback and nothing written; whatever came from a file or a server reaches the
terminal as plain text."""

from __future__ import annotations

import json
import os

import pytest

from conftest import mmsafe, write_suite
from mmsafe.data import cases as cases_mod
from mmsafe.data import rows as rows_mod
from mmsafe.errors import InputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(fake_server, suite, out, *extra):
    return mmsafe("run", "--target", "openai", "--model", "m", "--base-url", fake_server.base_url,
                  "--suite", str(suite), "--judge", "refusal", "--out", str(out), *extra)


def _refused(r, out, fake_server, where, field=None, problem=""):
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and where in r.stderr, r.stderr
    if field:
        assert f"field {field!r}" in r.stderr, r.stderr
    assert problem in r.stderr, r.stderr
    assert not out.exists() and fake_server.total == 0


# (name, file bytes, line, field, problem): the suite file's own content is hostile
SUITE_FILES = [
    ("s.jsonl", b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n', 2, None, "not UTF-8"),
    ("s.csv", b"prompt\nok\ncaf\xe9\n", 3, None, "not UTF-8"),
    ("s.jsonl", b'{"prompt": "ok"}\n{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", 2, None, "nested too deeply"),
    ("s.jsonl", b'{"prompt": "ok", "id": ' + b"7" * 5000 + b"}\n", 1, None, "not valid JSON"),
    ("s.jsonl", b'{"prompt": "ok", "temperature": NaN}\n', 1, None, "NaN"),
    ("s.csv", b'prompt,label\nhello,unsafe\n"oops,unsafe\nnext,benign\n', 3, None, "never closed"),
    ("s.csv", b'prompt,label\n"a"b,unsafe\n', 2, None, "not valid CSV"),
    ("s.jsonl", b'{"prompt": 123}\n', 1, "prompt", "string"),
    ("s.jsonl", b'{"prompt": {"text": "hi"}}\n', 1, "prompt", "string"),
    ("s.jsonl", b'{"prompt": "ok", "category": 5}\n', 1, "category", "string"),
    ("s.jsonl", b'{"prompt": "ok", "language": ["en"]}\n', 1, "language", "string"),
    ("s.jsonl", b'{"turns": [{"role": "user", "content": 7}]}\n', 1, None, "field 'turns.0"),
]


@pytest.mark.parametrize("name,data,line,field,problem", SUITE_FILES)
def test_hostile_suite_file_is_a_clear_error(tmp_path, fake_server, name, data, line, field, problem):
    suite = tmp_path / name
    suite.write_bytes(data)
    out = tmp_path / "run"
    _refused(_run(fake_server, suite, out), out, fake_server, f"{suite}, line {line}", field, problem)


@pytest.mark.parametrize("ref,problem", [
    ("a\x00.png", "not a usable file name"),
    ("n" * 300 + ".png", "cannot read"),  # longer than a file name may be
    ("x" * 5000 + ".png", "not a usable file name"),
    ("loop.png", "cannot read"),  # a symlink to itself
    ("dir.png", "not a file"),
])
def test_hostile_image_names_are_field_errors(tmp_path, fake_server, ref, problem):
    os.symlink(tmp_path / "loop.png", tmp_path / "loop.png")
    (tmp_path / "dir.png").mkdir()
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"prompt": "ok"}) + "\n" + json.dumps({"prompt": "look", "image": ref}) + "\n")
    out = tmp_path / "run"
    _refused(_run(fake_server, suite, out), out, fake_server, f"{suite}, line 2", "image", problem)


def test_suite_path_that_is_a_folder(tmp_path, fake_server):
    suite = tmp_path / "cases.jsonl"
    suite.mkdir()
    out = tmp_path / "run"
    _refused(_run(fake_server, suite, out), out, fake_server, str(suite), None, "is a folder")


def test_byte_order_mark_and_large_cells_simply_work(tmp_path, fake_server):
    big = "x" * 200_000  # over Python's default CSV cell limit (128 KiB)
    csv_suite = tmp_path / "s.csv"
    csv_suite.write_bytes(b"\xef\xbb\xbfprompt,label\n" + f"hello {big},unsafe\n".encode() + b"hi,benign\n")
    r = _run(fake_server, csv_suite, tmp_path / "run1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"]["answered"] == 2
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + json.dumps({"prompt": "hello"}).encode() + b"\n")
    r = _run(fake_server, jsonl, tmp_path / "run2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"]["answered"] == 1


def test_csv_cell_over_the_limit_names_the_line(tmp_path, monkeypatch):
    monkeypatch.setattr(rows_mod, "MAX_FIELD", 1000)
    suite = tmp_path / "s.csv"
    suite.write_text("prompt\nshort\n" + "y" * 5000 + "\n")
    try:
        with pytest.raises(InputError, match=r"line 3: a cell is over"):
            cases_mod.load_cases(suite)
    finally:
        import csv
        csv.field_size_limit(rows_mod.MAX_FIELD)


@pytest.mark.parametrize("data,line,problem", [
    (b'{"id": "c0000", "output": "ok"}\n{"id": "c0001", "output": "caf\xe9"}\n', 2, "not UTF-8"),
    (b'{"id": "c0000", "output": ' + b"[" * 100_000 + b"}\n", 1, "nested too deeply"),
])
def test_hostile_predictions_file(tmp_path, data, line, problem):
    suite = write_suite(tmp_path / "s.jsonl", ["a", "b"])
    preds = tmp_path / "preds.jsonl"
    preds.write_bytes(data)
    out = tmp_path / "run"
    r = mmsafe("run", "--target", "replay", "--predictions", str(preds), "--suite", str(suite),
               "--judge", "refusal", "--out", str(out))
    assert r.returncode == 2 and f"{preds}, line {line}" in r.stderr and problem in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


def test_oversized_image_is_refused_before_it_is_read(tmp_path, fake_server):
    with (tmp_path / "huge.png").open("wb") as fh:  # sparse: 300 MiB on paper, a few bytes on disk
        fh.write(PNG_MAGIC)
        fh.truncate(300 * 2**20)
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"prompt": "look", "image": "huge.png"}) + "\n")
    out = tmp_path / "run"
    _refused(_run(fake_server, suite, out), out, fake_server, f"{suite}, line 1", "image", "MiB limit per image")


def test_image_cap_can_be_raised_and_is_checked_with_stat(tmp_path, monkeypatch):
    with (tmp_path / "big.png").open("wb") as fh:
        fh.write(PNG_MAGIC)
        fh.truncate(3 * 2**20)
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"prompt": "look", "image": "big.png"}) + "\n")
    monkeypatch.setenv(cases_mod.MAX_IMAGE_ENV, "2")
    with pytest.raises(InputError, match="over the 2 MiB limit"):
        cases_mod.load_cases(suite)
    monkeypatch.setenv(cases_mod.MAX_IMAGE_ENV, "4")
    images: dict[str, bytes] = {}
    [case] = cases_mod.load_cases(suite, images=images)
    assert [len(b) for b in images.values()] == [3 * 2**20]
    monkeypatch.setenv(cases_mod.MAX_IMAGE_ENV, "lots")
    with pytest.raises(Exception, match=cases_mod.MAX_IMAGE_ENV):
        cases_mod.load_cases(suite)


@pytest.mark.parametrize("args,flag", [
    (["--timeout", "inf"], "--timeout"),
    (["--timeout", "nan"], "--timeout"),
    (["--temperature", "nan"], "--temperature"),
    (["--temperature", "inf"], "--temperature"),
    (["--max-rps", "inf"], "--max-rps"),
    (["--param", "temperature=NaN"], "--param temperature"),
    (["--param", "top_p=-Infinity"], "--param top_p"),
    (["--param", "x=1e999"], "--param x"),
    (["--param", 'logit_bias={"5": NaN}'], "--param logit_bias"),
])
def test_non_finite_numbers_in_flags_are_refused_up_front(tmp_path, fake_server, args, flag):
    suite = write_suite(tmp_path / "s.jsonl", ["hello"])
    out = tmp_path / "run"
    r = _run(fake_server, suite, out, *args)
    _refused(r, out, fake_server, flag)


def test_text_from_files_reaches_the_terminal_as_plain_text(tmp_path):
    hostile = ["\x1b[31mRED\x1b[0m", "[bold]loud[/bold]", ":skull: skull", "\x1b]8;;http://x\x07link"]
    suite = tmp_path / "s.jsonl"
    suite.write_text("".join(json.dumps({"id": f"c{i}", "prompt": f"p{i}", "category": h, "language": h})
                             + "\n" for i, h in enumerate(hostile)))
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": f"c{i}", "output": "ok", "model": "\x1b[2J[red]evil[/red]:skull:"})
                             + "\n" for i in range(3))
                     + json.dumps({"id": "c3", "error": "\x1b[1m[blink]boom[/blink] :skull:"}) + "\n")
    out = tmp_path / "run"
    runs = [mmsafe("run", "--target", "replay", "--predictions", str(preds), "--suite", str(suite),
                   "--judge", "refusal", "--out", str(out))]
    runs.append(mmsafe("report", str(out)))
    for r in runs:
        assert r.returncode == 0, r.stderr
        text = r.stdout + r.stderr
        assert "\x1b" not in text and "\x07" not in text and "\N{SKULL}" not in text
        for literal in ("RED", "[bold]loud[/bold]", ":skull: skull", "[red]evil[/red]:skull:", "[blink]boom[/blink]"):
            assert literal in text, (literal, text)


def test_error_messages_are_printed_without_escape_sequences(tmp_path):
    suite = tmp_path / "s\x1b[31m.jsonl"
    suite.write_text('{"prompt": "ok"}\n{"prompt": "\\u001b[2Jx", "label": "\\u001b[31mbad"}\n')
    r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
               "--suite", str(suite), "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "line 2: field 'label'" in r.stderr
    assert "\x1b" not in r.stderr and "[31m" in r.stderr
