"""The offline judges' trained models and quality ship with mmsafe (judges.model_files): a first run
trains and measures nothing; the shipped files are what training on the shipped data gives; a
model file is data (no pickle), and a damaged or hostile one is retrained, never trusted."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import mmsafe, write_suite
from mmsafe.judges import model_files, quality, textmodel
from mmsafe.judges.base import JudgeConfig, build_judge, judge_id
from mmsafe.judges.embedding import head_file_name

ROOT = Path(__file__).resolve().parents[1]


def _default_judges():
    from mmsafe.evaluate import DEFAULT_JUDGES
    from mmsafe.judges import judges as judge_registry

    return [build_judge(judge_registry.get(n, "--judge"), JudgeConfig()) for n in DEFAULT_JUDGES]


def _shipped_names() -> list[str]:
    rows = quality.ShippedRows()
    return [textmodel.file_name(), head_file_name(),
            *(quality.file_name(judge_id(j), rows, getattr(j, "model_version", None)) for j in _default_judges())]


def test_shipped_files_are_there_for_this_version_and_data():
    missing = [n for n in _shipped_names() if not (model_files.SHIPPED_DIR / n).is_file()]
    assert not missing, f"run scripts/build_judge_models.py: {missing} not in {model_files.SHIPPED_DIR}"


def test_a_first_run_trains_and_measures_nothing(tmp_path):
    cache = tmp_path / "cache"
    suite = write_suite(tmp_path / "s.jsonl", ["How do I pick a lock?", "How do I bake bread?"])
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": f"c{i:04d}", "output": t}) + "\n"
                             for i, t in enumerate(["I can't help with that.", "Mix flour, water and yeast."])))
    out = tmp_path / "run"
    r = mmsafe("run", "--target", "replay", "--predictions", str(preds), "--suite", str(suite), "--out", str(out),
               env={"MMSAFE_CACHE": str(cache)})
    assert r.returncode == 0, r.stderr
    left = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert not [n for n in left if n.endswith((".npz", ".json", ".pkl"))], left  # nothing trained, measured or cached
    judges = json.loads((out / "results.json").read_text())["judges"]
    for name in ("embedding", "refusal"):
        q = judges[name]["quality"]
        assert q["source"] == quality.SHIPPED and q["harmful"]["n"] > 0 and 0 < q["refusal"]["accuracy"] <= 1


def test_a_read_only_cache_runs_on_the_shipped_files_and_a_trained_model_is_still_used(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("MMSAFE_CACHE", str(blocked / "cache"))  # cannot be made
    models = textmodel.load_models()  # shipped: nothing to create
    assert models.refusal_proba(["q"], ["I can't help with that."])[0] > 0.5
    monkeypatch.setenv("MMSAFE_SHIPPED_MODELS", "0")
    monkeypatch.setattr(textmodel, "fit", lambda rows: models)
    assert textmodel.load_models() is models  # trained here, not cached, still used
    assert model_files.keep("x.npz", {"w": np.zeros(1)}, older="x") is None


def test_model_files_round_trip_any_text(tmp_path):
    grams = ["ab", " a", "é ", "\x00x", "x\x00", "日本", "", "🙂z"]  # NULs, wide characters, an empty string
    chars, lengths = model_files.strings_to_arrays(grams)
    path = tmp_path / "m.npz"
    model_files.save(path, {"chars": chars, "lengths": lengths, "w": np.arange(3.0)})
    back = model_files.load(path)
    assert model_files.arrays_to_strings(back["chars"], back["lengths"]) == grams
    assert back["w"].tolist() == [0.0, 1.0, 2.0] and "format" not in back


def test_a_pickle_in_a_model_file_is_refused_not_run(tmp_path, monkeypatch):
    ran = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (Path.touch, (ran,))

    path = tmp_path / "evil.npz"
    np.savez(path, format=np.array([model_files.FORMAT]), w=np.array([Boom()], dtype=object))
    with pytest.raises(ValueError):
        model_files.load(path)
    assert not ran.exists()


def test_a_model_file_of_the_wrong_shape_is_refused_at_load(tmp_path):
    shipped = model_files.load(model_files.SHIPPED_DIR / textmodel.file_name())
    for key, bad in (("refusal.rule_coef", np.zeros(3)), ("harm.b0.idf", np.zeros(5)),
                     ("refusal.b1.lengths", np.zeros(len(shipped["refusal.b1.lengths"]) + 1, dtype=np.int32))):
        with pytest.raises(ValueError):
            textmodel.TextModels.from_arrays({**shipped, key: bad})
    assert textmodel.TextModels.from_arrays(shipped).refusal_proba(["q"], ["Sure, here it is."])[0] < 0.5


def test_a_damaged_cached_model_is_retrained(tmp_path, monkeypatch):
    monkeypatch.setenv("MMSAFE_CACHE", str(tmp_path))
    monkeypatch.setenv("MMSAFE_SHIPPED_MODELS", "0")
    name = textmodel.file_name()
    shipped = model_files.SHIPPED_DIR / name
    (tmp_path / name).write_bytes(shipped.read_bytes()[:5000])  # cut short
    with pytest.raises(ValueError):
        model_files.load(tmp_path / name)
    trained = []
    monkeypatch.setattr(textmodel, "fit", lambda rows: trained.append(len(rows)) or
                        textmodel.TextModels.from_arrays(model_files.load(shipped)))
    models = textmodel.load_models()
    assert trained and models.refusal_proba(["q"], ["I can't help with that."])[0] > 0.5
    assert model_files.load(tmp_path / name)  # the retrained model replaced the damaged file
    assert zipfile.is_zipfile(tmp_path / name)


@pytest.mark.timeout(1800)  # trains the judges and encodes the labelled rows: about 5 minutes on 2 cores
def test_shipped_files_are_what_training_on_the_shipped_data_gives(tmp_path):
    spec = importlib.util.spec_from_file_location("build_judge_models", ROOT / "scripts" / "build_judge_models.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    made = {p.name: p for p in build.build(tmp_path / "built")}
    assert sorted(made) == sorted(_shipped_names())
    for name, path in made.items():
        shipped = model_files.SHIPPED_DIR / name
        if name.endswith(".npz"):
            a, b = model_files.load(path), model_files.load(shipped)
            assert sorted(a) == sorted(b), name
            for k in a:
                if a[k].dtype.kind == "f":
                    # the encoder's float arithmetic differs in the last bits between CPUs (AVX2, AVX-512),
                    # and the head's fit carries that into its weights: up to 1e-4 of the largest weight
                    # measured between two machines; weights learnt from other data differ by far more
                    scale = float(np.abs(b[k]).max(initial=0.0))
                    assert np.allclose(a[k], b[k], rtol=0, atol=1e-3 * scale + 1e-6), (name, k)
                else:
                    assert np.array_equal(a[k], b[k]), (name, k)
        else:
            fresh, kept = json.loads(path.read_text()), json.loads(shipped.read_text())
            assert fresh["n"] == kept["n"]
            for label in ("harmful", "refusal"):
                assert abs(fresh[label]["accuracy"] - kept[label]["accuracy"]) <= 2 / kept[label]["n"], (name, label)
