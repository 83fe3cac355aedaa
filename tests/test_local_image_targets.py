"""The local `hf` (transformers VLM chat) and `diffusers` (text-to-image, image-to-image) targets,
run on tiny randomly initialised models built here from configs, saved, and loaded back through
the targets' own loading code from a local folder (local_files_only: nothing downloads)."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("transformers")
pytest.importorskip("diffusers")

from PIL import Image  # noqa: E402

from conftest import mmsafe  # noqa: E402
from test_images import png  # noqa: E402
from tiny_models import IMAGE_SIZE, tiny_sd, tiny_text_lm, tiny_vlm  # noqa: E402
from mmsafe.engine.conversation import converse  # noqa: E402
from mmsafe.engine.retry import RetryPolicy  # noqa: E402
from mmsafe.errors import MissingDependency, UsageError  # noqa: E402
from mmsafe.schema import Case, Message, Part  # noqa: E402
from mmsafe.store import Store  # noqa: E402
from mmsafe.store.blobs import BlobStore  # noqa: E402
from mmsafe.targets.base import TargetConfig, TargetError, TargetUnavailable  # noqa: E402

OFFLINE = {"HF_HUB_OFFLINE": "1", "MMSAFE_THREADS": "2"}
SD_PARAMS = {"num_inference_steps": 2, "height": IMAGE_SIZE, "width": IMAGE_SIZE}


@pytest.fixture(scope="module")
def vlm(tmp_path_factory) -> Path:
    return tiny_vlm(tmp_path_factory.mktemp("vlm") / "model")


@pytest.fixture(scope="module")
def sd(tmp_path_factory) -> Path:
    return tiny_sd(tmp_path_factory.mktemp("sd") / "model")


def image(sha: str) -> Part:
    return Part(type="image", image_sha256=sha, mime="image/png")


def user(text: str, *shas: str) -> Message:
    return Message(role="user", parts=(Part(text=text), *(image(s) for s in shas)))


def started(cls, model: Path, blobs: BlobStore, params: dict | None = None):
    target = cls(TargetConfig(model=str(model), params=params or {}))
    target.blobs = blobs
    asyncio.run(target.start())
    return target


def write_suite(folder: Path, rows: list[dict]) -> Path:
    (folder / "img").mkdir(exist_ok=True)
    (folder / "img" / "a.png").write_bytes(png(IMAGE_SIZE, IMAGE_SIZE, seed=5))
    path = folder / "cases.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def generations(out: Path) -> dict:
    store = Store.open(out, create=False)
    try:
        return {g.case_id: g for g in store.generations()}
    finally:
        store.close()


def test_hf_answers_an_image_case_end_to_end(vlm, tmp_path):
    suite = write_suite(tmp_path, [
        {"id": "it", "prompt": "what is in this picture ?", "image": "img/a.png", "task": "IT"},
        {"id": "tt", "prompt": "say hello", "task": "TT"},
    ])
    out = tmp_path / "run"
    r = mmsafe("run", "--target", "hf", "--model", str(vlm), "--suite", str(suite), "--judge", "refusal",
               "--max-tokens", "4", "--out", str(out), "--json", env=OFFLINE, timeout=180)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["counts"]["answered"] == 2
    # what the model is, stored with the run: name, architecture, size (from the weights), device
    assert "LlavaForConditionalGeneration" in res["note"] and "parameters" in res["note"] and "on cpu" in res["note"]
    gens = generations(out)
    assert all(g.error is None and g.text.strip() for g in gens.values())
    assert all(g.completion_tokens is not None and 0 < g.completion_tokens <= 4 for g in gens.values())
    # the picture became image tokens in the prompt: the image case's prompt is longer by them
    assert gens["it"].prompt_tokens > gens["tt"].prompt_tokens + 8


def test_hf_feeds_the_picture_to_the_model_and_decodes_only_new_tokens(vlm, tmp_path):
    from transformers import AutoProcessor

    blobs = BlobStore(tmp_path / "blobs")
    pic = png(IMAGE_SIZE, IMAGE_SIZE, seed=7)
    sha = blobs.put(pic)
    from mmsafe.targets.hf import HFTarget

    target = started(HFTarget, vlm, blobs, {"max_tokens": 3})
    seen: list[dict] = []
    made: list = []
    real = target._net.generate

    def spy(**kw):
        seen.append(kw)
        made.append(real(**kw))
        return made[-1]

    target._net.generate = spy
    reply = asyncio.run(target.generate(Case(id="c", task="IT", turns=(user("describe this picture", sha),))))
    assert "parameters" in target.note and "cpu" in target.note and "Llava" in target.note
    proc = AutoProcessor.from_pretrained(vlm, local_files_only=True)
    expected = proc.image_processor(Image.open(io.BytesIO(pic)).convert("RGB"), return_tensors="pt")["pixel_values"]
    assert seen and seen[0]["pixel_values"].shape == expected.shape
    assert bool((seen[0]["pixel_values"] == expected).all())
    n_image_tokens = int((seen[0]["input_ids"] == target._net.config.image_token_index).sum())
    assert n_image_tokens == (IMAGE_SIZE // 8) ** 2  # one per patch of the tiny vision tower
    assert seen[0]["max_new_tokens"] == 3 and seen[0]["do_sample"] is False
    n_in = seen[0]["input_ids"].shape[1]
    assert reply.prompt_tokens == n_in and reply.completion_tokens == made[0].shape[1] - n_in
    assert reply.output[0].text == proc.decode(made[0][0, n_in:], skip_special_tokens=True)  # the new tokens only
    asyncio.run(target.close())
    assert target._net is None


def test_hf_rejects_image_tasks_and_text_models_reject_pictures(vlm, tmp_path):
    from mmsafe.targets.hf import HFTarget

    blobs = BlobStore(tmp_path / "blobs")
    sha = blobs.put(png(IMAGE_SIZE, IMAGE_SIZE))
    target = HFTarget(TargetConfig(model=str(vlm)))
    for task in ("TI", "IE", "IC", "MT"):
        with pytest.raises(TargetError, match="use --target diffusers"):
            asyncio.run(target.generate(Case(id="c", task=task, turns=(user("draw a cat"),))))
    text = started(HFTarget, tiny_text_lm(tmp_path / "lm"), blobs, {"max_tokens": 2})
    assert "LlamaForCausalLM" in text.note and not text._vision
    with pytest.raises(TargetError, match="text-only model"):
        asyncio.run(text.generate(Case(id="c", task="IT", turns=(user("what is in this picture ?", sha),))))
    reply = asyncio.run(text.generate(Case(id="t", turns=(Message.user("say hello"),))))
    assert reply.output[0].type == "text" and 0 < reply.completion_tokens <= 2


def test_diffusers_makes_images_end_to_end(sd, tmp_path):
    suite = write_suite(tmp_path, [
        {"id": "ti", "prompt": "draw a cat", "task": "TI"},
        {"id": "ie", "prompt": "make it blue", "image": "img/a.png", "task": "IE"},
    ])
    out = tmp_path / "run"
    params = [a for k, v in SD_PARAMS.items() for a in ("--param", f"{k}={v}")]
    r = mmsafe("run", "--target", "diffusers", "--model", str(sd), "--suite", str(suite), "--judge", "refusal",
               *params, "--out", str(out), "--json", env=OFFLINE, timeout=180)
    assert r.returncode == 0, r.stderr
    note = json.loads(r.stdout)["note"]
    assert "StableDiffusionPipeline" in note and "parameter denoiser" in note and "side by side" in note
    gens = generations(out)
    given = png(IMAGE_SIZE, IMAGE_SIZE, seed=5)
    for case_id in ("ti", "ie"):
        g = gens[case_id]
        assert g.error is None and len(g.images) == 1 and g.images[0].mime == "image/png"
        data = BlobStore(out / "blobs").get(g.images[0].image_sha256)
        assert data != given and Image.open(io.BytesIO(data)).size == (IMAGE_SIZE, IMAGE_SIZE)




def spy_on(target, attr: str) -> list[dict]:
    pipe, calls = getattr(target, attr), []
    base = type(pipe)

    class Wrapped(base):
        @functools.wraps(base.__call__)  # keeps the signature the target reads
        def __call__(self, *a, **kw):
            calls.append(kw)
            return base.__call__(self, *a, **kw)

    pipe.__class__ = Wrapped
    return calls


def test_diffusers_edits_compose_and_carry_the_latest_image(sd, tmp_path):
    from mmsafe.targets.diffusers import DiffusersTarget

    blobs = BlobStore(tmp_path / "blobs")
    a, b = blobs.put(png(IMAGE_SIZE, IMAGE_SIZE, seed=1)), blobs.put(png(IMAGE_SIZE, IMAGE_SIZE, seed=2))
    target = started(DiffusersTarget, sd, blobs, SD_PARAMS)
    assert "composed side by side" in target.note
    edits = spy_on(target, "_edit")
    # IC: two inputs become one picture, side by side, for a pipeline that takes one image
    ic = asyncio.run(target.generate(Case(id="ic", task="IC", turns=(user("make it blue", a, b),))))
    assert edits[-1]["image"].size == (2 * IMAGE_SIZE, IMAGE_SIZE)
    assert Image.open(io.BytesIO(blobs.get(ic.output[0].image_sha256))).size == (2 * IMAGE_SIZE, IMAGE_SIZE)
    # same case, same seed: the same picture
    again = asyncio.run(target.generate(Case(id="ic", task="IC", turns=(user("make it blue", a, b),))))
    assert again.output == ic.output
    # MT: each turn edits the previous turn's output
    mt = Case(id="mt", task="MT", turns=(user("draw a cat", a), user("make it blue"), user("make it a cat")))
    outcome = asyncio.run(converse(target, mt, RetryPolicy(max_attempts=1)))
    outs = [m.images[0].image_sha256 for m in outcome.transcript if m.role == "assistant"]
    assert len(outs) == 3 and len(edits) == 2 + 3
    fed = [e["image"] for e in edits[2:]]
    assert fed[0].tobytes() == Image.open(io.BytesIO(blobs.get(a))).convert("RGB").tobytes()
    for prev, img in zip(outs[:2], fed[1:]):
        assert img.tobytes() == Image.open(io.BytesIO(blobs.get(prev))).convert("RGB").tobytes()
    # MT with no input image generates the first picture from text
    t2i = spy_on(target, "_t2i")
    asyncio.run(target.generate(Case(id="m2", task="MT", turns=(user("draw a cat"),))))
    assert len(t2i) == 1 and "image" not in t2i[0] and t2i[0]["num_inference_steps"] == 2


def test_diffusers_list_compose_and_safety_checker_block(sd, tmp_path):
    from mmsafe.targets.diffusers import FLAGGED, DiffusersTarget

    blobs = BlobStore(tmp_path / "blobs")
    a, b = blobs.put(png(IMAGE_SIZE, IMAGE_SIZE, seed=1)), blobs.put(png(IMAGE_SIZE, IMAGE_SIZE, seed=2))
    target = started(DiffusersTarget, sd, blobs, {**SD_PARAMS, "compose": "list"})
    calls: list[dict] = []

    class Checked:
        """A pipeline with a safety checker that flags every image (as StableDiffusion's does)."""

        def __call__(self, prompt=None, image=None, generator=None, output_type=None, num_inference_steps=None):
            calls.append({"image": image})
            return SimpleNamespace(images=[Image.new("RGB", (8, 8))], nsfw_content_detected=[True])

    target._t2i = target._edit = Checked()
    before = sorted(p for p in (tmp_path / "blobs").rglob("*") if p.is_file())
    reply = asyncio.run(target.generate(Case(id="ic", task="IC", turns=(user("make it blue", a, b),))))
    assert isinstance(calls[0]["image"], list) and len(calls[0]["image"]) == 2
    assert reply.provider_refusal and reply.output == () and reply.provider_message == FLAGGED
    assert sorted(p for p in (tmp_path / "blobs").rglob("*") if p.is_file()) == before  # the blank image is not kept
    for task in ("chat", "TT", "IT", "MU"):
        with pytest.raises(TargetError, match="diffusers makes images"):
            asyncio.run(target.generate(Case(id="t", task=task, turns=(user("say hello"),))))
    with pytest.raises(TargetError, match="needs an input image"):
        asyncio.run(target.generate(Case(id="e", task="IE", turns=(user("make it blue"),))))


@pytest.mark.parametrize("module, cls, extra, package", [
    ("mmsafe.targets.hf", "HFTarget", "hf", "transformers"),
    ("mmsafe.targets.diffusers", "DiffusersTarget", "diffusers", "diffusers"),
])
def test_missing_extra_names_the_pip_command(monkeypatch, tmp_path, module, cls, extra, package):
    import importlib

    target_cls = getattr(importlib.import_module(module), cls)
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(MissingDependency, match=rf"pip install 'mmsafe\[{extra}\]'"):
        target_cls(TargetConfig(model=str(tmp_path)))


@pytest.mark.parametrize("target", ["hf", "diffusers"])
def test_bad_model_paths_and_params_are_named(target, tmp_path, sd, monkeypatch):
    from mmsafe.targets.diffusers import DiffusersTarget
    from mmsafe.targets.hf import HFTarget

    cls = {"hf": HFTarget, "diffusers": DiffusersTarget}[target]
    with pytest.raises(UsageError, match="--model is required"):
        cls(TargetConfig())
    missing = tmp_path / "no" / "such-model"
    with pytest.raises(TargetUnavailable, match="no such folder"):
        cls(TargetConfig(model=str(missing)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TargetUnavailable, match=f"{empty}.*cannot load"):
        asyncio.run(cls(TargetConfig(model=str(empty))).start())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a hub id then loads from the local cache only, never the network
    with pytest.raises(TargetUnavailable, match="'mmsafe-test/not-cached'.*cannot load"):
        asyncio.run(cls(TargetConfig(model="mmsafe-test/not-cached")).start())
    suite = write_suite(tmp_path, [{"id": "ti", "prompt": "draw a cat", "task": "TI"}])
    r = mmsafe("run", "--target", target, "--model", str(missing), "--suite", str(suite), "--judge", "refusal",
               "--out", str(tmp_path / "run"), env=OFFLINE, timeout=180)
    assert r.returncode == 2 and str(missing) in r.stderr and "Traceback" not in r.stderr
    if target == "diffusers":
        r = mmsafe("run", "--target", target, "--model", str(sd), "--suite", str(suite), "--judge", "refusal",
                   "--param", "num_inference_stepz=2", "--out", str(tmp_path / "run2"), env=OFFLINE, timeout=180)
        assert r.returncode == 2 and "num_inference_stepz" in r.stderr and "Traceback" not in r.stderr


def test_hf_params_it_sets_itself_and_damaged_weights_are_named(vlm, tmp_path):
    import shutil

    from mmsafe.targets.hf import HFTarget

    # transformers' own names for what mmsafe passes: every case would fail at generate()
    for key, says in (("max_new_tokens", "--max-tokens"), ("do_sample", "--temperature")):
        with pytest.raises(UsageError, match=f"--param '{key}' is set by mmsafe itself; use {says}"):
            HFTarget(TargetConfig(model=str(vlm), params={key: 5}))
    with pytest.raises(UsageError, match="--param seed: expected an integer, got 'abc'"):
        HFTarget(TargetConfig(model=str(vlm), params={"seed": "abc"}))
    broken = tmp_path / "broken"
    shutil.copytree(vlm, broken)
    weights = next(broken.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])  # an interrupted download
    with pytest.raises(TargetUnavailable, match=f"{broken.name}.*cannot load it with transformers"):
        asyncio.run(HFTarget(TargetConfig(model=str(broken))).start())
    # a vision model missing its tokenizer files: that is the error, not "not a causal LM"
    no_tok = tmp_path / "no-tokenizer"
    shutil.copytree(vlm, no_tok)
    for f in no_tok.glob("tokenizer*"):
        f.unlink()
    with pytest.raises(TargetUnavailable) as e:
        asyncio.run(HFTarget(TargetConfig(model=str(no_tok))).start())
    assert "cannot load it" in str(e.value) and "AutoModelForCausalLM" not in str(e.value)


def test_a_hub_model_is_described_once_loaded(vlm, tmp_path):
    # a hub id (here from a local hub cache, offline): name, architecture, parameter count and
    # device are known only after loading, and the note says them then
    import shutil

    from mmsafe.targets.hf import HFTarget

    repo = tmp_path / "hub" / "models--mmsafe-test--vlm"
    shutil.copytree(vlm, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    assert "parameters" not in HFTarget(TargetConfig(model="mmsafe-test/vlm")).note  # not loaded yet
    suite = write_suite(tmp_path, [{"id": "t", "prompt": "say hello"}])
    r = mmsafe("run", "--target", "hf", "--model", "mmsafe-test/vlm", "--suite", str(suite), "--judge", "refusal",
               "--param", "max_tokens=2", "--out", str(tmp_path / "run"), "--json",
               env={**OFFLINE, "HF_HUB_CACHE": str(tmp_path / "hub")}, timeout=180)
    assert r.returncode == 0, r.stderr
    note = json.loads(r.stdout)["note"]
    assert "mmsafe-test/vlm from the hub (LlavaForConditionalGeneration" in note and "parameters) on cpu" in note
