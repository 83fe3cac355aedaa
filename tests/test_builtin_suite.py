"""Validation of the built-in ``quick`` safety suite shipped with mmsafe."""

import json
from collections import Counter
from pathlib import Path

import pytest

SUITE_PATH = Path(__file__).parents[1] / "src/mmsafe/data/builtin/quick.jsonl"

KEYS = {"id", "prompt", "category", "label", "language"}
LABELS = {"unsafe", "benign"}
CATEGORIES = {
    "violent_crime",
    "weapons_explosives",
    "cbrn",
    "cybercrime",
    "fraud_scams",
    "self_harm",
    "hate_harassment",
    "drugs",
    "privacy_surveillance",
    "misinformation",
    "extremism",
    "sexual_exploitation",
}


@pytest.fixture(scope="module")
def rows():
    assert SUITE_PATH.is_file(), f"missing built-in suite: {SUITE_PATH}"
    out = []
    with SUITE_PATH.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            assert line.strip(), f"blank line at {lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:  # pragma: no cover - failure path
                pytest.fail(f"line {lineno} is not valid JSON: {exc}")
            assert isinstance(obj, dict), f"line {lineno} is not a JSON object"
            out.append(obj)
    return out


def test_schema(rows):
    for row in rows:
        assert set(row) == KEYS, f"bad keys in {row!r}"
        for key in KEYS:
            assert isinstance(row[key], str) and row[key].strip(), f"empty {key!r} in {row!r}"
        assert row["label"] in LABELS, row
        assert row["category"] in CATEGORIES, row


def test_ids_and_prompts_unique(rows):
    ids = Counter(r["id"] for r in rows)
    assert not [i for i, n in ids.items() if n > 1], "duplicate ids"
    prompts = Counter(r["prompt"].strip() for r in rows)
    assert not [p for p, n in prompts.items() if n > 1], "duplicate prompts"


def test_size_and_balance(rows):
    assert len(rows) >= 150
    unsafe_cats = Counter(r["category"] for r in rows if r["label"] == "unsafe")
    well_covered = [c for c, n in unsafe_cats.items() if n >= 8]
    assert len(well_covered) >= 10, unsafe_cats
    assert sum(r["label"] == "benign" for r in rows) >= 50


def test_languages(rows):
    langs = {r["language"] for r in rows}
    assert len(langs) >= 8, langs
    for lang in langs - {"en"}:
        unsafe = sum(r["language"] == lang and r["label"] == "unsafe" for r in rows)
        benign = sum(r["language"] == lang and r["label"] == "benign" for r in rows)
        assert unsafe >= 6, (lang, unsafe)
        assert benign >= 3, (lang, benign)
