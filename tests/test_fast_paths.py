"""The fast paths of the hot loop give what the plain paths give, byte for byte: a suite row
validated from its text (the dict path kept for what it refuses), a case's JSON written without
building the Case, generation keys, request bodies and completion bodies through pydantic-core."""

from __future__ import annotations

import json

import pytest

from mmsafe.data import cases as cases_mod
from mmsafe.data.cases import CaseRow, iter_case_json, iter_cases
from mmsafe.data.spool import CaseSpool
from mmsafe.errors import InputError
from mmsafe.schema import Case, Message, Part, generation_key, stable_hash
from mmsafe.targets.openai import _message, _request_body, read_json

EVERY_CHAR = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)

ROWS = [
    {"prompt": "plain"},
    {"prompt": "  spaced  ", "id": "a b\tc", "label": "benign", "category": " cat ", "language": "fr"},
    {"prompt": "with system", "system": "be terse", "subcategory": "s", "target_id": "r1", "task": "TT"},
    {"prompt": "image task", "task": "TI"},
    {"prompt": "quotes \" and \\ and \n newline \u2028 \x7f \x00 😀 \u200b é"},
    {"prompt": EVERY_CHAR[:50000], "id": EVERY_CHAR[60000:60100]},
    {"prompt": EVERY_CHAR[50000:]},
    {"prompt": "numeric id", "id": 7},
    {"prompt": "extra columns ignored", "note": {"deep": [1, 2, {"x": None}]}, "score": 1.5},
    {"turns": ["first", "second"]},
    {"turns": [{"role": "assistant", "content": "history"}, {"role": "user", "content": "now"}]},
]

BAD_LINES = [
    '{"prompt": "x", "score": NaN}',  # pydantic's parser takes NaN in an ignored column; JSON does not
    '{"prompt": "x", "score": Infinity}',
    '{"prompt": "x", "turns": ["y"]}',
    '{"id": "only"}',
    '{"prompt": null, "turns": null}',
    '{"prompt": "   "}',
    '{"prompt": ""}',
    '{"prompt": "x", "label": "maybe"}',
    '{"prompt": "x", "task": "XX"}',
    '{"prompt": "x", "task": "IT"}',
    '{"prompt": "x"} trailing',
    '["prompt"]',
    '{"prompt": "x", "z": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"prompt": "x", "z": 1' + "0" * 5000 + "}",
    '{"prompt": "\\ud800"}',
    '{"turns": []}',
    '{"turns": [""]}',
    '{"turns": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}',
]


def _slow_only(monkeypatch) -> None:
    def refuse(*a, **k):
        raise ValueError("fast path off")

    monkeypatch.setattr(CaseRow, "model_validate_json", refuse)


def _read(path, reader=iter_cases):
    try:
        return [c.model_dump_json() if isinstance(c, Case) else c for c in reader(path)]
    except InputError as exc:
        return f"InputError: {exc}"


def test_rows_read_the_same_with_and_without_the_fast_path(tmp_path, monkeypatch):
    good = tmp_path / "good.jsonl"
    good.write_text("\ufeff" + "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n\n", encoding="utf-8")
    fast_good = _read(good)
    assert isinstance(fast_good, list) and len(fast_good) == len(ROWS)
    fast_bad = []
    for i, line in enumerate(BAD_LINES):
        bad = tmp_path / f"bad{i}.jsonl"
        bad.write_text(json.dumps({"prompt": "fine"}) + "\n" + line + "\n", encoding="utf-8")
        fast_bad.append(_read(bad))
    # every bad line is refused, naming its line
    assert all(isinstance(e, str) and ", line 2" in e for e in fast_bad), fast_bad
    _slow_only(monkeypatch)
    assert _read(good) == fast_good
    assert [_read(tmp_path / f"bad{i}.jsonl") for i in range(len(BAD_LINES))] == fast_bad


def test_case_json_is_what_the_case_model_writes(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS), encoding="utf-8")
    built = [(c.id, c.task, c.model_dump_json()) for c in iter_cases(path)]
    direct = list(iter_case_json(path))
    assert direct == built
    assert [Case.model_validate_json(body) for _, _, body in direct] == list(iter_cases(path))
    # the one-prompt rows took the direct path: the helper names every field of Case, in order
    body = json.loads(cases_mod._plain_json({"id": "i", "task": "chat", "target_id": None, "category": "c",
                                             "subcategory": None, "label": "unsafe", "language": "en",
                                             "source": {"dataset": "d", "file": "f", "line": 1}}, None, "p")[2])
    assert list(body) == list(Case.model_fields)
    assert list(body["turns"][0]["parts"][0]) == list(Part.model_fields)
    assert list(body["turns"][0]) == list(Message.model_fields)


def test_a_spool_of_case_json_reads_back_the_cases(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")
    spool = CaseSpool(iter_case_json(path))
    try:
        assert list(spool) == list(iter_cases(path))
        assert len(spool) == len(ROWS) and spool.summary.tasks == {"chat", "TT", "TI"}
        assert not spool.summary.image_risk
        assert [i for i, _ in spool.bodies()] == [c.id for c in iter_cases(path)]
    finally:
        spool.close()


@pytest.mark.parametrize("case_id", ["b1", "", "x\"y\\z\n\t", EVERY_CHAR[:70000], EVERY_CHAR[70000:]])
def test_generation_keys_are_the_stable_hash(case_id):
    for attack in ("none", "base64", EVERY_CHAR[1000:1100]):
        assert generation_key(case_id, "openai:m", attack) == stable_hash([case_id, "openai:m", attack])


def test_request_body_says_what_json_dumps_says():
    case = Case(id="c", turns=(Message(role="system", parts=(Part(text="sys é"),)), Message.user(EVERY_CHAR[:30000])))
    params = {"max_tokens": 128, "temperature": 0.0, "top_p": 1e-9, "stop": ["\n", "é"], "seed": 2**40, "logit_bias": {"5": -1}}
    body = _request_body("model-ü", case, params, None)
    plain = json.dumps({"model": "model-ü", "messages": [_message(m, None) for m in case.turns], **params})
    assert json.loads(body) == json.loads(plain)
    assert json.loads(body)["messages"][1]["content"] == EVERY_CHAR[:30000]
    assert body.decode("utf-8")  # UTF-8 text, as the JSON standard asks


@pytest.mark.parametrize("body", [
    b'{"choices": [{"message": {"content": "hi \\u00e9 \xc3\xa9"}}], "usage": {"prompt_tokens": 1}}',
    b'{"choices": [{"message": {"content": "lone \\ud800 surrogate"}}]}',
    b'{"a": 1, "a": 2, "big": 123456789012345678901234567890, "f": 1.5e300, "n": NaN}',
    b'  {"nested": [[[[{"x": null}]]]], "t": true}  ',
])
def test_completion_bodies_read_as_json_loads_reads_them(body):
    got, want = read_json(body), json.loads(body)
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": 1} x', b"\xff\xfe", b"[" * 100000])
def test_bad_completion_bodies_fail_as_json_loads_fails(body):
    with pytest.raises((ValueError, RecursionError)):
        json.loads(body)
    with pytest.raises((ValueError, RecursionError)):
        read_json(body)
