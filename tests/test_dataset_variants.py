"""Published benchmark files as users really hold them: one file given as --data, re-saved copies
(a BOM, floats where the file has whole numbers, semicolons, nulls, lower-case task codes), and
rows that name pictures outside --data."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from conftest import SHARED
from mmsafe.data.datasets import MissingData, load_all
from mmsafe.data.predictions import load_predictions
from mmsafe.errors import InputError
from mmsafe.suites import protocol

DATA = SHARED / "data" / "safety-report"
COMPLIANCE = DATA / "l-safe" / "compliance" / "data"
BENCH = DATA / "l-safe" / "benchmark" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not present")


def groups(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


@needs_data
def test_one_file_for_a_suite_of_several_datasets_is_read_by_its_own_dataset_only():
    nist = COMPLIANCE / "NIST.json"
    expected = len(protocol.load("language/compliance", "nist", COMPLIANCE, {})[1])
    _, cases = protocol.load("language/compliance", "", nist, {})
    assert Counter(c.metadata["dataset"] for c in cases) == {"nist": expected}
    assert any("EU AI Act" in w and "not its own" in w for w in protocol.warnings)  # said, not silently read
    pgj = DATA / "t2i-safe" / "adversarial" / "data" / "pgj_nudity.csv"
    _, cases = protocol.load("t2i/adversarial", "", pgj, {})
    assert {c.metadata["dataset"] for c in cases} == {"pgj"}  # GenBreak does not read PGJ's prompts


@needs_data
def test_a_file_named_for_another_dataset_is_refused_even_when_named_alone(tmp_path):
    with pytest.raises(MissingData, match="file of nist"):
        protocol.load("language/compliance", "eu-ai-act", COMPLIANCE / "NIST.json", {})
    mine = tmp_path / "my-copy.json"  # a name no dataset has: the user said which dataset it is
    shutil.copy(COMPLIANCE / "NIST.json", mine)
    _, cases = protocol.load("language/compliance", "nist", mine, {})
    assert cases and {c.metadata["dataset"] for c in cases} == {"nist"}
    with pytest.raises(MissingData, match="name this dataset alone"):
        protocol.load("language/compliance", "nist,feat", mine, {})


@needs_data
def test_image_grounded_questions_cannot_name_pictures_outside_data(tmp_path):
    data = tmp_path / "escape" / "data"
    data.mkdir(parents=True)
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / "escape" / "secret.png")
    rows = groups(COMPLIANCE / "NIST.json")
    for g in rows:
        for v in g["variants"]:
            if v["question_type"] == "multimodal_generated":
                v["image_reference"] = "secret.png"  # beside --data's parent, not inside --data
    (data / "NIST.json").write_text(json.dumps(rows), encoding="utf-8")
    images: dict[str, bytes] = {}
    with pytest.raises(InputError, match="resolves outside"):
        protocol.load("vl/compliance", "nist-vl", data, images)
    assert not images
    shutil.move(tmp_path / "escape" / "secret.png", data / "secret.png")  # inside --data: read
    _, cases = protocol.load("vl/compliance", "nist-vl", data, images)
    assert cases and len(images) == 1


@needs_data
def test_compliance_json_saved_with_a_bom_loads(tmp_path):
    (tmp_path / "NIST.json").write_bytes(b"\xef\xbb\xbf" + (COMPLIANCE / "NIST.json").read_bytes())
    ds = load_all()["nist"]
    assert len(ds.load(ds.find(tmp_path), {})) == len(ds.load(ds.find(COMPLIANCE), {}))


def _bbq_rows(tmp_path: Path, label) -> Path:
    row = json.loads((BENCH / "bbq_100.jsonl").read_text(encoding="utf-8").splitlines()[0])
    row["label"] = label
    path = tmp_path / "bbq_100.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return path


@needs_data
def test_bbq_label_written_as_a_float_is_read_and_a_fraction_refused(tmp_path):
    ds = load_all()["bbq"]
    (case,) = ds.load(_bbq_rows(tmp_path, 1.0), {})
    assert case.reference["answer"] == "B"
    with pytest.raises(InputError, match="label"):
        ds.load(_bbq_rows(tmp_path, 1.5), {})


@needs_data
def test_sorry_bench_categories_written_as_floats_keep_their_names(tmp_path):
    src = BENCH / "sorry_bench_202503.csv"
    with src.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ds = load_all()["sorry-bench"]
    expected = Counter(c.category for c in ds.load(src, {}))
    path = tmp_path / "sorry_bench_202503.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "category": f"{float(r['category']):.1f}"})  # as pandas writes a column with a gap
    got = Counter(c.category for c in ds.load(path, {}))
    assert got == expected and not any(k.startswith("sorry-") for k in got)


def test_a_semicolon_separated_csv_is_named_as_such(tmp_path):
    path = tmp_path / "sorry_bench_x.csv"
    path.write_text("category;prompt\n1;say something rude\n", encoding="utf-8")
    with pytest.raises(InputError, match="semicolons") as e:
        load_all()["sorry-bench"].load(path, {})
    assert e.value.line == 1


@needs_data
def test_t2isafety_null_detector_result_is_missing_metadata_not_an_error(tmp_path):
    lines = (DATA / "t2i-safe" / "benchmark" / "safety_toxic.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(x) for x in lines if x.strip()][:3]
    rows[0]["detector_result"] = None
    rows[1]["detector_result"] = []  # not an object: still an error naming the field
    path = tmp_path / "safety_toxic.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    (case,) = load_all()["t2isafety"].load(path, {})
    assert case.metadata["detector_score"] is None
    path.write_text(json.dumps(rows[1]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="detector_result"):
        load_all()["t2isafety"].load(path, {})


def test_unisafe_predictions_lower_case_task_and_null_refusal(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text(json.dumps({"id": "a", "scenario_type": " tt", "model": "m", "output_text": "hi", "refusal": None})
                    + "\n" + json.dumps({"id": "b", "scenario_type": "Tt", "model": "m", "refusal": True}) + "\n",
                    encoding="utf-8")
    preds = load_predictions(path)
    assert set(preds) == {"TT:a", "TT:b"}
    assert preds["TT:a"].refusal is False and preds["TT:b"].refusal is True


def test_unisafe_cases_lower_case_task(tmp_path):
    from mmsafe.data.unisafe import load_rows

    rows = [(str(tmp_path / "c.jsonl"), 1, {"id": "r1", "scenario_type": "tt", "category": "c", "subcategory": "s",
                                             "instruction": "write something"}, None)]
    (case,) = load_rows(rows, frozenset({"TT"}), {})
    assert (case.id, case.task) == ("TT:r1", "TT")
