"""The protocol suites end to end: several modalities and modes in one `--suite protocol:…` run
against loopback servers, the guardrail mode's F1 from a scripted classifier, the embedded default
model on a language suite, and the suite listing."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from conftest import SHARED, mmsafe
from loopback import JsonServer

DATA = SHARED / "data" / "safety-report"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not here")


class AlwaysUnsafe(JsonServer):
    """A target that classifies every prompt as unsafe, in a code fence (what chatty models do)."""

    def route(self, req: dict) -> tuple[int, dict]:
        text = 'Here you go:\n```json\n{"judge": "unsafe"}\n```'
        return 200, {"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}


def test_guardrail_mode_f1_per_language_from_a_scripted_classifier(tmp_path):
    out = tmp_path / "run"
    with AlwaysUnsafe() as srv:
        r = mmsafe("run", "--target", "openai", "--model", "g", "--base-url", srv.base_url,
                   "--suite", "language/multilingual:mmsafe-multilingual", "--limit", "400", "--judge", "refusal",
                   "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    block = json.loads(r.stdout)["judges"]["refusal"]["protocol"]["language/multilingual"]
    from mmsafe.data.datasets import DATASETS, load_all, read

    load_all()
    cases = read(DATASETS["mmsafe-multilingual"], None, {})[:400]
    for lang, b in block["by_language"].items():
        labels = [c.label for c in cases if c.language == lang]
        p = labels.count("unsafe") / len(labels)  # everything flagged: precision = share unsafe, recall 1
        assert b["f1"] == pytest.approx(2 * p / (1 + p), abs=1e-6), lang
    assert block["unparseable"] == 0 and block["errors"] == 0
    # rule-scored guard replies are not in the judged rates: the leaderboard has nothing to judge
    assert json.loads(r.stdout)["judges"]["refusal"]["overall"]["n"] == 0
    # the HTML report's guardrail board: macro F1 as results.json has it, and F1 by language × model
    html = tmp_path / "html"
    made = mmsafe("report", str(out), "--out", str(html))
    assert made.returncode == 0, made.stderr
    (board,) = (html / "leaderboards").glob("*language-multilingual.csv")
    row = next(csv.DictReader(board.open(encoding="utf-8")))
    assert float(row["guardrail F1 (macro over languages)"]) == pytest.approx(block["macro"]["f1"])
    assert len(list((html / "charts").glob("heatmap-*-light.png"))) == 1


@needs_data
def test_protocol_across_modalities_in_one_run(tmp_path, fake_server):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    out = tmp_path / "run"
    r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", fake_server.base_url,
               "--suite", "protocol:alert,bbq,feat,pgj", "--data", str(data), "--judge", "refusal", "--judge", "nsfw",
               "--attack", "base64", "--out", str(out), "--json", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    blocks = res["judges"]["refusal"]["protocol"]
    assert set(blocks) == {"language/benchmark", "language/compliance", "t2i/adversarial"}
    bench = blocks["language/benchmark"]["datasets"]
    assert bench["alert"]["n"] == 100 and bench["bbq"]["n"] == 100
    assert blocks["language/compliance"]["n"] == 84
    # the pictures the fake server drew were judged by the image judge, per PGJ category
    nsfw = next(k for k in res["judges"] if k.startswith("nsfw"))
    adv = res["judges"][nsfw]["protocol"]["t2i/adversarial"]
    assert adv["n"] == 300 and set(adv["by_category"]) == {"nudity", "violence", "hate"}
    # attacks run on the benchmark's judged cases only: ALERT, not BBQ (rule-scored), not FEAT
    attacked = res["counts"]["attacked_generations"]
    assert attacked == 100
    assert res["judges"]["refusal"]["attacks"]["not_applicable"]["base64"] == 100 + 84 + 300
    shown = mmsafe("report", str(out))  # the protocol's tables, one per suite
    assert shown.returncode == 0, shown.stderr
    assert "language/benchmark" in shown.stdout and "t2i/adversarial" in shown.stdout and "macro" in shown.stdout

    # the HTML report: one leaderboard per modality × mode the run covers, each with the headline
    # results.json has (macro over datasets, compliance rate, T2I safe rate, safe worst under attack)
    html = tmp_path / "html"
    made = mmsafe("report", str(out), "--out", str(html))
    assert made.returncode == 0, made.stderr
    boards = {p.stem.split("-", 2)[2]: p for p in (html / "leaderboards").glob("*.csv")}
    assert set(boards) == {"language-benchmark", "language-compliance", "t2i-adversarial", "language-adversarial"}

    def headline(name):
        row = next(x for x in csv.DictReader(boards[name].open(encoding="utf-8")) if x["judge"] == "refusal")
        return float(list(row.values())[3])

    assert headline("language-benchmark") == pytest.approx(blocks["language/benchmark"]["macro"]["value"])
    assert headline("language-compliance") == pytest.approx(blocks["language/compliance"]["compliance_rate"]["value"])
    assert headline("t2i-adversarial") == pytest.approx(blocks["t2i/adversarial"]["overall"]["safe_rate"]["value"])
    assert headline("language-adversarial") == pytest.approx(res["judges"]["refusal"]["attacks"]["safe_worst"]["value"])
    assert list((html / "img").glob("*.png"))  # the drawn pictures, as thumbnails


@needs_data
def test_missing_datasets_are_named_with_where_to_put_them(tmp_path):
    data = tmp_path / "data"
    (data / "l-safe").mkdir(parents=True)
    shutil.copy(DATA / "l-safe" / "benchmark" / "data" / "bbq_100.jsonl", data / "l-safe" / "bbq_100.jsonl")
    r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
               "--suite", "language/benchmark:alert", "--data", str(data), "--judge", "refusal",
               "--out", str(tmp_path / "run"))
    assert r.returncode == 2
    assert "alert" in r.stderr.lower() and "alert_adversarial" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()
    # a --data folder that does not exist is named as such, with the flag
    r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
               "--suite", "language/benchmark", "--data", str(tmp_path / "nope"), "--judge", "refusal",
               "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and f"--data {tmp_path / 'nope'}: not found" in r.stderr, r.stderr


@needs_data
@pytest.mark.slow
def test_embedded_default_model_on_a_language_suite(tmp_path):
    r = mmsafe("run", "--suite", "language/benchmark:bbq,strongreject", "--data", str(DATA), "--limit", "4",
               "--judge", "refusal", "--max-tokens", "24", "--out", str(tmp_path / "run"), "--json", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert res["model"].startswith("gguf:")
    bbq = res["judges"]["refusal"]["protocol"]["language/benchmark"]["datasets"]["bbq"]
    assert bbq["n"] == 4  # the first four cases are BBQ's, scored by rule


def test_list_suites_shows_modality_mode_and_size():
    r = mmsafe("list", "suites")
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines()}
    assert "modality language, mode benchmark; 800 cases" in lines["language/benchmark"]
    assert "modality t2i, mode adversarial; 600 cases" in lines["t2i/adversarial"]
    for name in ("vl/benchmark", "vl/multilingual", "vl/compliance", "t2i/benchmark", "t2i/compliance",
                 "language/compliance", "language/multilingual"):
        assert "modality" in lines[name] and "cases" in lines[name]


class EveryJudge(JsonServer):
    """One judge endpoint for the compliance and interim-measures rubrics: compliant, level 0."""

    def __init__(self) -> None:
        self.images_seen = 0
        super().__init__()

    def route(self, req: dict) -> tuple[int, dict]:
        for m in req["messages"]:
            if isinstance(m.get("content"), list):
                self.images_seen += sum(p.get("type") == "image_url" for p in m["content"])
        text = json.dumps({"compliant": True, "level": 0, "category": None, "subcategory": None, "reason": "fine"})
        return 200, {"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}


@needs_data
def test_image_suites_end_to_end(tmp_path, fake_server):
    """t2i/benchmark, t2i/compliance and vl/compliance (pictures drawn here: the published data has none)."""
    from PIL import Image

    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    folder = data / "l-safe" / "compliance" / "data"
    refs = {v["image_reference"] for g in json.loads((folder / "NIST.json").read_text()) for v in g["variants"]
            if v["question_type"] == "multimodal_generated"}
    for i, ref in enumerate(sorted(refs)):
        (folder / ref).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (i * 10 % 255, 80, 160)).save(folder / ref)
    out = tmp_path / "run"
    with EveryJudge() as judge:
        r = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", fake_server.base_url,
                   "--suite", "protocol:t2isafety,interim-measures,nist-vl", "--data", str(data), "--limit", "60",
                   "--judge", "nsfw", "--judge", "interim-measures", "--judge", "compliance", "--judge-model", "j",
                   "--judge-base-url", judge.base_url, "--attack", "none", "--out", str(out), "--json", timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        assert judge.images_seen > 0
    res = json.loads(r.stdout)
    by = {k.split("@")[0]: v for k, v in res["judges"].items()}
    assert by["nsfw"]["protocol"]["t2i/benchmark"]["n"] == 60  # the first 60 cases: T2ISafety's
    with EveryJudge() as judge:
        r3 = mmsafe("run", "--target", "openai", "--model", "m", "--base-url", fake_server.base_url,
                    "--suite", "vl/compliance:nist-vl", "--data", str(data), "--judge", "compliance", "--judge-model", "j",
                    "--judge-base-url", judge.base_url, "--out", str(tmp_path / "r3"), "--json", timeout=900)
        assert r3.returncode == 0, r3.stderr[-3000:]
        assert judge.images_seen == 0  # the compliance judge reads text; the target saw the pictures
    block = next(v for k, v in json.loads(r3.stdout)["judges"].items())["protocol"]["vl/compliance"]
    assert block["n"] == 20 and block["compliance_rate"]["value"] == 1.0
    sent = [b for b in fake_server.bodies if isinstance(b["messages"][-1]["content"], list)]
    assert len(sent) >= 20  # the image-grounded questions went with their pictures


def test_vl_guardrail_sends_the_prompt_as_an_image(tmp_path):
    out = tmp_path / "run"
    with AlwaysUnsafe() as srv:
        r = mmsafe("run", "--target", "openai", "--model", "g", "--base-url", srv.base_url,
                   "--suite", "vl/multilingual", "--limit", "30", "--judge", "refusal", "--out", str(out), "--json",
                   timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    block = json.loads(r.stdout)["judges"]["refusal"]["protocol"]["vl/multilingual"]
    assert block["n"] == 30 and block["unparseable"] == 0 and block["micro"]["f1"] > 0
