"""Fake-image detection (`mmsafe detect`): detectors measured on held-out images the tests make
(skimage photos as real, two synthetic generators as fake families), the cross-family matrix, the
format control, the HTTP protocol against a loopback server, the enrichment study against the fake
OpenAI server, and bad input."""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from conftest import mmsafe
from detect_images import make_sets

from mmsafe.detect import base
from mmsafe.detect.cross import cross
from mmsafe.detect.data import Prep, load_folders
from mmsafe.detect.training import train
from mmsafe.errors import UsageError

SIZE = 64


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """Two fake families (smooth, checker) and reals, all PNG."""
    return make_sets(tmp_path_factory.mktemp("sets"), n_real=48, n_fake=36)


@pytest.fixture(scope="module")
def format_sets(tmp_path_factory):
    """Fakes that are real photo crops saved as PNG, reals saved as JPEG: only the format differs."""
    return make_sets(tmp_path_factory.mktemp("fmt"), n_real=40, n_fake=40, families=("plain",),
                     real_fmt="JPEG", fake_fmt="PNG")


@pytest.fixture(scope="module")
def spectral_model(sets, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "spectral"
    r = mmsafe("detect", "train", "--real", str(sets[0]), "--fake", str(sets[1]), "--out", str(out),
               "--size", str(SIZE), "--json")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def test_train_measures_each_family_on_held_out_images_and_saves_model_dir(spectral_model, sets):
    out, res = spectral_model
    meta = json.loads((out / "detector.json").read_text())
    assert meta["kind"] == "spectral" and meta["prep"] == {"size": SIZE, "control": True, "quality": 90}
    split = meta["training"]["split"]
    assert split["train"] + split["test"] == 48 + 2 * 36
    assert meta["training"]["families"] == ["checker", "smooth"]
    trained = set((out / "train_images.txt").read_text().split())
    assert len(trained) == 2 * split["train"]  # each image by its pixels and by its bytes
    m = res["metrics"]
    assert m["overall"]["n_real"] + m["overall"]["n_fake"] == split["test"]  # measured on the held-out part only
    for fam in ("checker", "smooth"):
        b = m["families"][fam]
        assert b["n_fake"] == round(36 * 0.3) and b["n_real"] == m["overall"]["n_real"]
        assert b["accuracy"]["value"] >= 0.75, (fam, b)
        assert b["roc_auc"] >= 0.9 and b["average_precision"] >= 0.9, (fam, b)
        lo, hi = b["accuracy"]["ci95"]
        assert lo <= b["accuracy"]["value"] <= hi
    assert meta["metrics"] == res
    with np.load(out / "weights.npz", allow_pickle=False) as z:
        assert z["coef"].shape == (32 + 64 + 1,)


def test_eval_leaves_out_training_images_and_matches_the_held_out_numbers(spectral_model, sets):
    out, res = spectral_model
    r = mmsafe("detect", "eval", "--model", str(out), "--real", str(sets[0]), "--fake", str(sets[1]), "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["excluded_training_images"] == json.loads((out / "detector.json").read_text())["training"]["split"]["train"]
    assert got["metrics"] == res["metrics"]  # the same held-out images, the same scores
    text = mmsafe("detect", "eval", "--model", str(out), "--real", str(sets[0]), "--fake", str(sets[1]))
    assert "checker" in text.stdout and "ROC-AUC" in text.stdout


def test_cross_family_matrix_has_one_row_and_column_per_family_and_a_strong_diagonal(sets):
    res = cross("spectral", load_folders(*sets), Prep(SIZE), {}, 0.3, 0)
    fams = res["families"]
    assert fams == ["checker", "smooth"]
    for key in ("accuracy", "average_precision", "roc_auc"):
        assert len(res[key]) == 2 and all(len(row) == 2 for row in res[key])
    for i in range(2):
        assert res["accuracy"][i][i] >= 0.8 and res["roc_auc"][i][i] >= 0.9
    # both are measured on the same held-out reals: row i column j uses family j's held-out fakes
    assert all(c["n_real"] == res["cells"][0][0]["n_real"] for row in res["cells"] for c in row)
    assert res["mean_accuracy_same_family"] == pytest.approx((res["accuracy"][0][0] + res["accuracy"][1][1]) / 2, abs=1e-4)


def test_cross_command_prints_the_matrix(sets):
    r = mmsafe("detect", "cross", "--real", str(sets[0]), "--fake", str(sets[1]), "--size", str(SIZE), "--json")
    assert r.returncode == 0, r.stderr
    assert np.asarray(json.loads(r.stdout)["accuracy"]).shape == (2, 2)


def test_format_control_removes_the_accuracy_that_came_from_jpeg_versus_png(format_sets):
    data = load_folders(*format_sets)
    det, _, res, _ = train("spectral", data, Prep(SIZE, control=False), {}, 0.3, 0)
    fc = res["format_control"]
    raw = fc["without_control"]["overall"]["accuracy"]["value"]
    controlled = fc["with_control"]["overall"]["accuracy"]["value"]
    assert raw >= 0.85  # the detector learnt the file format
    assert controlled <= 0.65  # once both are re-encoded alike, little is left: the content is the same
    assert fc["accuracy_removed"]["overall"] == pytest.approx(raw - controlled, abs=1e-4)
    assert fc["accuracy_removed"]["families"]["plain"] >= 0.25
    # a detector trained under the control cannot use the format either
    _, _, res_c, _ = train("spectral", data, Prep(SIZE, control=True), {}, 0.3, 0)
    assert res_c["metrics"]["overall"]["accuracy"]["value"] <= 0.7


def test_cnn_learns_residual_traces_and_reloads_to_the_same_scores(sets, tmp_path):
    data = load_folders(*sets)
    det, training, res, shas = train("cnn", data, Prep(48), {"epochs": 40}, 0.3, 0)
    assert res["metrics"]["overall"]["roc_auc"] >= 0.7, res["metrics"]["overall"]
    base.save(det, tmp_path / "m", training, res, shas)
    again, meta, trained = base.load(tmp_path / "m")
    assert meta["kind"] == "cnn" and trained == set(shas)
    some = data.items[:6]
    assert np.allclose(det.score(some), again.score(some))


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {Path(os.environ['EVIL_MARK'])}",))


def test_model_dir_weights_never_run_code(sets, tmp_path, monkeypatch):
    import torch

    data = load_folders(*sets)
    det, training, res, shas = train("cnn", data, Prep(32), {"epochs": 1}, 0.3, 0)
    base.save(det, tmp_path / "m", training, res, shas)
    mark = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARK", str(mark))
    torch.save({"body.0.weight": _Evil()}, tmp_path / "m" / "weights.pt")
    with pytest.raises(UsageError, match="weights.pt"):
        base.load(tmp_path / "m")
    assert not mark.exists()


def test_clip_probe_loads_local_clip_weights_offline(sets, tmp_path):
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    clip = tmp_path / "clip"
    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8)
    CLIPVisionModel(cfg).save_pretrained(clip)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(clip)
    out = tmp_path / "m"
    r = mmsafe("detect", "train", "--real", str(sets[0]), "--fake", str(sets[1]), "--detector", "clip",
               "--clip", str(clip), "--out", str(out), "--size", "32", "--json")
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "detector.json").read_text())
    assert meta["params"]["clip"] == str(clip.resolve()) and meta["params"]["features"] == 32
    res = json.loads(r.stdout)
    assert res["metrics"]["overall"]["roc_auc"] is not None  # random CLIP features: a number, not a claim
    det, _, _ = base.load(out)
    items = load_folders(*sets).items[:4]
    assert det.score(items).shape == (4,)
    bad = mmsafe("detect", "train", "--real", str(sets[0]), "--fake", str(sets[1]), "--detector", "clip",
                 "--clip", str(tmp_path), "--out", str(tmp_path / "m2"))
    assert bad.returncode == 2 and "--clip" in bad.stderr and "config.json" in bad.stderr
    missing = mmsafe("detect", "train", "--real", str(sets[0]), "--fake", str(sets[1]), "--detector", "clip",
                     "--out", str(tmp_path / "m3"))
    assert missing.returncode == 2 and "--clip PATH is required" in missing.stderr


class DetectorServer:
    """The HTTP detector protocol, scripted: PNG bytes are called fake (0.9), anything else real
    (0.1); the first request gets 503 (retried); request number 5 gets a body without the field."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.n = 0
        self.auth: list[str | None] = []
        self.mimes: list[str] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                data = base64.b64decode(req["image"])
                with srv.lock:
                    srv.n += 1
                    n = srv.n
                    srv.auth.append(self.headers.get("Authorization"))
                    srv.mimes.append(req["mime"])
                if n == 1:
                    status, body = 503, {"error": "busy"}
                elif n == 5:
                    status, body = 200, {"probability": 0.5}
                else:
                    status, body = 200, {"fake_probability": 0.9 if data.startswith(b"\x89PNG") else 0.1}
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/detect"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_detector_speaks_the_json_protocol_with_retries_errors_and_the_key(format_sets, tmp_path, monkeypatch):
    from mmsafe.detect.evaluation import measure
    from mmsafe.detect.http import HttpDetector

    monkeypatch.setenv("DETECTOR_KEY", "sk-detector-secret")
    items = load_folders(*format_sets).items
    with DetectorServer() as srv:
        det = HttpDetector(Prep(SIZE, control=False), {"url": srv.url, "api_key_env": "DETECTOR_KEY"})
        res = measure(det, items)
    assert set(srv.auth) == {"Bearer sk-detector-secret"}
    raw = res["format_control"]["without_control"]["overall"]
    assert raw["errors"] == 1 and raw["n_real"] + raw["n_fake"] == len(items) - 1  # the bad answer: left out, counted
    assert raw["accuracy"]["value"] == 1.0  # the file as it is: PNG fakes, JPEG reals
    controlled = res["format_control"]["with_control"]["overall"]
    assert controlled["fake_recall"]["value"] == 0.0  # all re-encoded as JPEG: the server sees no PNG
    assert res["errors"]["count"] == 1 and "fake_probability" in res["errors"]["examples"][0]
    assert "image/jpeg" in srv.mimes and "image/png" in srv.mimes

    with DetectorServer() as srv:  # through the CLI: MODEL_DIR keeps the variable's name, never the key
        out = tmp_path / "http"
        r = mmsafe("detect", "train", "--real", str(format_sets[0]), "--fake", str(format_sets[1]), "--detector",
                   "http", "--url", srv.url, "--api-key-env", "DETECTOR_KEY", "--no-control", "--out", str(out),
                   "--json", env={"DETECTOR_KEY": "sk-detector-secret"})
        assert r.returncode == 0, r.stderr
    stored = "".join(p.read_text() for p in out.iterdir())
    assert "sk-detector-secret" not in stored and "DETECTOR_KEY" in stored
    assert json.loads(r.stdout)["metrics"]["overall"]["errors"] == 1


def test_enrich_rewrites_generates_detects_and_stores_per_version(spectral_model, fake_server, tmp_path):
    model, _ = spectral_model
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps(r) for r in [
        {"id": "cat", "prompt": "a cat"}, {"id": "boat", "prompt": "a red boat"},
        {"id": "blocked", "prompt": "a [policy] scene"}]) + "\n")
    out = tmp_path / "enrich"
    r = mmsafe("detect", "enrich", "--prompts", str(prompts), "--rewriter-model", "rw", "--rewriter-base-url",
               fake_server.base_url, "--target", "openai", "--model", "img", "--base-url", fake_server.base_url,
               "--model-dir", str(model), "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert [v["version"] for v in res["versions"]] == ["v0", "v1", "v2"]
    words = [v["mean_words"] for v in res["versions"]]
    assert words[0] < words[1] < words[2]  # the scripted rewriter makes each version longer
    # "blocked": the image endpoint refuses v0, the rewriter refuses to rewrite it, so its chain ends at v1
    counts = [(v["prompts"], v["images"], v["refused"], v["errors"]) for v in res["versions"]]
    assert counts == [(3, 2, 1, 0), (3, 2, 0, 1), (2, 2, 0, 0)]
    assert all(v["detection_rate"]["n"] == 2 for v in res["versions"])
    rows = [json.loads(line) for line in (out / "enrich.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    assert "rewrite failed" in next(r["error"] for r in rows if r["id"] == "blocked" and r["version"] == "v1")
    cat = {r["version"]: r for r in rows if r["id"] == "cat"}
    assert cat["v1"]["prompt"].endswith("a cat") and cat["v2"]["prompt"].endswith(cat["v1"]["prompt"])
    for row in rows:
        if row["image_sha256"]:
            assert (out / "blobs" / row["image_sha256"][:2] / row["image_sha256"]).is_file()
            assert 0 <= row["fake_probability"] <= 1 and row["detected"] == (row["fake_probability"] >= 0.5)
    assert json.loads((out / "results.json").read_text())["versions"] == res["versions"]
    rewrites = [b for b in fake_server.bodies if b["model"] == "rw"]
    assert len(rewrites) == 5 and rewrites[0]["messages"][0]["role"] == "system"
    generated = [q["fields"]["prompt"] for q in fake_server.image_requests]
    assert cat["v2"]["prompt"] in generated


def test_enrich_counts_an_image_the_detector_cannot_read_and_finishes(spectral_model, fake_server, tmp_path):
    model, _ = spectral_model
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps(r) for r in [
        {"id": "cat", "prompt": "a cat"}, {"id": "dog", "prompt": "a [truncpng] dog"}]) + "\n")
    out = tmp_path / "enrich"
    r = mmsafe("detect", "enrich", "--prompts", str(prompts), "--rewriter-model", "rw", "--rewriter-base-url",
               fake_server.base_url, "--target", "openai", "--model", "img", "--base-url", fake_server.base_url,
               "--model-dir", str(model), "--versions", "1", "--out", str(out), "--json")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    rows = [json.loads(line) for line in (out / "enrich.jsonl").read_text().splitlines()]
    assert len(rows) == 4  # both prompts, both versions: one bad image loses nothing else
    dog = [r for r in rows if r["id"] == "dog"]
    assert all(r["image_sha256"] and "could not score the image" in r["error"] for r in dog)
    assert all(r["detected"] is not None for r in rows if r["id"] == "cat")
    res = json.loads((out / "results.json").read_text())
    assert [(v["errors"], v["detection_rate"]["n"]) for v in res["versions"]] == [(1, 1), (1, 1)]


def test_bad_input_names_the_folder_family_file_or_model_dir(sets, tmp_path, spectral_model):
    real, fake = sets
    r = mmsafe("detect", "train", "--real", str(tmp_path / "nope"), "--fake", str(fake), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "--real" in r.stderr and "no such folder" in r.stderr
    fake2 = tmp_path / "fake2"
    (fake2 / "empty_family").mkdir(parents=True)
    (fake2 / "ok").mkdir()
    (fake2 / "ok" / "a.png").write_bytes((next(fake.glob("smooth/*.png"))).read_bytes())
    r = mmsafe("detect", "train", "--real", str(real), "--fake", str(fake2), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "'empty_family'" in r.stderr
    assert not (tmp_path / "o").exists()
    r = mmsafe("detect", "eval", "--model", str(tmp_path), "--real", str(real), "--fake", str(fake))
    assert r.returncode == 2 and "not a detector folder" in r.stderr
    model, _ = spectral_model
    r = mmsafe("detect", "train", "--real", str(real), "--fake", str(fake), "--out", str(model))
    assert r.returncode == 2 and "not empty" in r.stderr
    import shutil

    tampered = tmp_path / "tampered"
    shutil.copytree(model, tampered)
    meta = json.loads((tampered / "detector.json").read_text())
    meta["params"]["bins"] = 7
    (tampered / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(UsageError, match="does not fit 7 spectral bins"):
        base.load(tampered)
    (tampered / "weights.npz").unlink()
    meta["params"]["bins"] = 32
    (tampered / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(UsageError, match="weights.npz is missing"):
        base.load(tampered)


def test_unreadable_images_are_skipped_counted_and_named(sets, tmp_path):
    import shutil

    real = tmp_path / "real"
    shutil.copytree(sets[0], real)
    (real / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (real / "notes.jpg").write_text("hello")
    data = load_folders(real, sets[1])
    assert len([i for i in data.items if i.label == 0]) == 48
    note = data.describe()["skipped"]
    assert note["count"] == 2 and any("broken.png" in e for e in note["examples"])
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "x.png").write_bytes(b"nope")
    with pytest.raises(UsageError, match="--real .*no readable images"):
        load_folders(only_bad, sets[1])


def test_an_image_has_one_label_and_one_side_of_the_split(sets, tmp_path, monkeypatch):
    import shutil

    from mmsafe.detect.data import split

    real, fake = sets
    # folders inside each other, or the same folder twice: every image would carry both labels
    for r, f in ((real, real), (real.parent, fake), (fake, fake / "smooth")):
        with pytest.raises(UsageError, match="overlap"):
            load_folders(r, f)
    # the same bytes under both labels (a real photo copied into a fake family)
    fake2 = tmp_path / "fake2"
    shutil.copytree(fake, fake2)
    shutil.copy(next(real.glob("*.png")), fake2 / "smooth" / "copied.png")
    with pytest.raises(UsageError, match="both --real and --fake"):
        load_folders(real, fake2)
    # one generator's images copied into another family: each copy lands on the side of the original
    fake3 = tmp_path / "fake3"
    shutil.copytree(fake, fake3)
    for p in sorted((fake3 / "smooth").glob("*.png"))[:10]:
        shutil.copy(p, fake3 / "checker" / f"dup-{p.name}")
    items = load_folders(real, fake3).items
    train, test = split(items, 0.25, 0)
    assert not {i.sha256 for i in train} & {i.sha256 for i in test}
    # a file over the image cap is skipped before it is read
    monkeypatch.setenv("MMSAFE_MAX_IMAGE_MB", "0.0001")
    with pytest.raises(UsageError, match=r"r000.png: over the .* MiB limit per image"):
        load_folders(real, fake)


def test_detect_flags_refuse_nan_and_enrich_names_model_dir(tmp_path, sets):
    real, fake = sets
    r = mmsafe("detect", "train", "--real", str(real), "--fake", str(fake), "--out", str(tmp_path / "o"),
               "--test-fraction", "nan")
    assert r.returncode == 2 and "--test-fraction" in r.stderr and "Traceback" not in r.stderr
    prompts = tmp_path / "p.txt"
    prompts.write_text("a cat\n")
    r = mmsafe("detect", "enrich", "--prompts", str(prompts), "--rewriter-model", "rw", "--model", "img",
               "--model-dir", str(tmp_path / "nonex"), "--out", str(tmp_path / "e"))
    assert r.returncode == 2 and f"--model-dir {tmp_path / 'nonex'}: no such folder" in r.stderr, r.stderr
    r = mmsafe("detect", "enrich", "--prompts", str(prompts), "--rewriter-model", "rw", "--model", "img",
               "--model-dir", str(tmp_path / "nonex"), "--timeout", "nan", "--out", str(tmp_path / "e"))
    assert r.returncode == 2 and "--timeout" in r.stderr


def test_families_of_copies_and_a_family_named_real_are_refused_by_name(sets, tmp_path):
    """Copies count once: a family of two identical files, or one whose images are all copies of
    another family's, has nothing on one side of the split and is named, never scored as 100%; a
    fake family called `real` would merge into the real class."""
    import shutil

    from mmsafe.detect.data import split
    from mmsafe.detect.training import check_families

    real, fake = sets
    dup = tmp_path / "dup"
    shutil.copytree(fake, dup)
    (dup / "twins").mkdir()
    first = next((fake / "smooth").glob("*.png"))
    shutil.copy(first, dup / "twins" / "a.png")
    shutil.copy(first, dup / "twins" / "b.png")
    with pytest.raises(UsageError, match="'twins': 1 distinct image"):
        check_families(load_folders(real, dup))
    copies = tmp_path / "copies"
    shutil.copytree(fake, copies)
    (copies / "zecho").mkdir()
    for p in sorted((fake / "smooth").glob("*.png"))[:4]:
        shutil.copy(p, copies / "zecho" / p.name)
    items = load_folders(real, copies).items
    with pytest.raises(UsageError, match="'zecho': its images are copies of another family's"):
        for seed in range(20):  # whichever side the originals land on, zecho is left without the other
            split(items, 0.25, seed)
    named = tmp_path / "named"
    shutil.copytree(fake, named)
    shutil.copytree(fake / "smooth", named / "Real")
    with pytest.raises(UsageError, match="family named 'Real' would be read as the real images"):
        load_folders(real, named)


def test_file_and_family_names_reach_the_terminal_without_escapes(sets, tmp_path):
    import shutil

    real, fake = sets
    odd = tmp_path / "odd"
    shutil.copytree(fake, odd)
    (odd / "smooth" / "evil\n\x1b[2Jcleared\x1b[31m.png").write_bytes(b"not an image")
    shutil.copytree(fake / "checker", odd / "check\x1b[31mer")  # a family's folder name, in the cross table
    r = mmsafe("detect", "train", "--real", str(real), "--fake", str(odd), "--out", str(tmp_path / "m"), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "\x1b" not in r.stdout + r.stderr and "evil" in r.stderr and "check [31mer" in r.stdout
    r = mmsafe("detect", "cross", "--real", str(real), "--fake", str(odd), timeout=300)
    assert r.returncode == 0 and "\x1b" not in r.stdout + r.stderr and "check [31m" in r.stdout


def test_re_encoded_copies_are_copies_for_eval_and_the_split(spectral_model, sets, tmp_path):
    """The same pixels saved another way (PNG compression level, metadata) are the same picture:
    `eval` leaves the training images out however they were re-saved, and the split keeps a re-saved
    copy on its original's side."""
    from PIL import Image

    from mmsafe.detect.data import split

    out, res = spectral_model
    resaved = tmp_path / "resaved"
    for src in (*sets[0].rglob("*.png"), *sets[1].rglob("*.png")):
        dst = resaved / src.relative_to(sets[0].parent)
        dst.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(src) as im:
            im.save(dst, compress_level=1, pnginfo=None)
        assert dst.read_bytes() != src.read_bytes()
    r = mmsafe("detect", "eval", "--model", str(out), "--real", str(resaved / "real"), "--fake", str(resaved / "fake"),
               "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["excluded_training_images"] == json.loads((out / "detector.json").read_text())["training"]["split"]["train"]
    assert got["metrics"] == res["metrics"]
    mixed = tmp_path / "mixed"
    for fam in ("smooth", "checker"):
        (mixed / fam).mkdir(parents=True)
        for p in sorted((sets[1] / fam).glob("*.png")):
            (mixed / fam / p.name).write_bytes(p.read_bytes())
        for p in sorted((resaved / "fake" / fam).glob("*.png"))[:10]:
            (mixed / fam / f"copy-{p.name}").write_bytes(p.read_bytes())
    train, test = split(load_folders(sets[0], mixed).items, 0.25, 0)
    by_name = {i.path.name: i for i in train + test}
    assert not {i.sha256 for i in train} & {i.sha256 for i in test}
    assert all(by_name[n].sha256 == by_name[f"copy-{n}"].sha256 for n in by_name if f"copy-{n}" in by_name)
