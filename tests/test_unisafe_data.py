"""UniSAFE data in and out: its case format (JSONL, parquet), user suites with tasks, its
prediction format imported by the replay target and written by `mmsafe export --format unisafe`."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from conftest import SHARED, mmsafe
from mmsafe.data.cases import load_cases
from mmsafe.data.predictions import load_predictions
from mmsafe.errors import InputError, UsageError
from mmsafe.store import Store
from mmsafe.suites import resolve_suite

UNISAFE = SHARED / "data" / "unisafe"


def pil_png(colour: tuple[int, int, int], size: int = 12) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


def pil_jpeg(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (10, 10), colour).save(buf, format="JPEG")
    return buf.getvalue()


def base_row(rid: str, st: str, **kw) -> dict:
    row = {"id": rid, "category": "Violence", "subcategory": "V1", "unsafe_trigger": "trigger " + rid,
           "target": "target " + rid, "scenario_type": st, "instruction": f"instruction {st} {rid}",
           "input_image": None, "input_image_b": None, "turns": []}
    row.update(kw)
    return row


def seven_rows() -> tuple[list[dict], list[dict]]:
    """(image split, text split): every task, two of them sharing the risk id r1."""
    image = [
        base_row("r1", "TI"),
        base_row("r2", "IE", input_image="img/a.png"),
        base_row("r3", "IC", input_image="img/a.png", input_image_b="img/b.jpg"),
        base_row("r4", "MT", instruction=None, input_image="img/b.jpg",
                 turns=["turn one", "turn two", "turn three", "turn four"]),
    ]
    text = [
        base_row("r1", "TT"),
        base_row("r5", "IT", input_image="img/a.png"),
        base_row("r6", "MU", input_image="img/b.jpg"),
    ]
    return image, text


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def unisafe_dir(tmp_path) -> Path:
    d = tmp_path / "unisafe"
    (d / "img").mkdir(parents=True)
    (d / "img" / "a.png").write_bytes(pil_png((200, 10, 10)))
    (d / "img" / "b.jpg").write_bytes(pil_jpeg((10, 200, 10)))
    image, text = seven_rows()
    write_jsonl(d / "image.jsonl", image)
    write_jsonl(d / "text.jsonl", text)
    return d


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- cases -----------------------------------------------------------------------------------

def test_real_sample_files_load():
    images: dict[str, bytes] = {}
    label, cases = resolve_suite("unisafe", images, UNISAFE)  # predictions.sample.jsonl beside it is skipped
    assert label == "unisafe" and not images
    raw = [json.loads(line) for line in (UNISAFE / "cases.sample.jsonl").read_text().splitlines()]
    assert [c.id for c in cases] == [f"{r['scenario_type']}:{r['id']}" for r in raw]
    for c, r in zip(cases, raw):
        assert (c.target_id, c.task, c.category, c.subcategory, c.label) == (
            r["id"], r["scenario_type"], r["category"], r["subcategory"], "unsafe")
        assert c.reference == {"target": r["target"], "unsafe_trigger": r["unsafe_trigger"], "instruction": r["instruction"]}
        assert [m.role for m in c.turns] == ["user"] and c.prompt == r["instruction"]
        assert c.source.dataset == "unisafe"
    preds = load_predictions(UNISAFE / "predictions.sample.jsonl")
    assert set(preds) == {c.id for c in cases}
    assert [p.refusal for p in preds.values()] == [False, True]


def test_sample_predictions_score_against_sample_cases(tmp_path):
    out = tmp_path / "run"
    r = mmsafe("run", "--suite", "unisafe", "--data", str(UNISAFE), "--target", "replay",
               "--predictions", str(UNISAFE / "predictions.sample.jsonl"), "--judge", "refusal",
               "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["counts"]["answered"] == 2 and res["run"]["suite"] == "unisafe"
    assert "prediction(s)" not in r.stderr  # every row matched a case
    gens = {g.case_id: g for g in Store.open(out, create=False).generations()}
    assert gens["TT:example-tt-2"].provider_refusal and gens["TT:example-tt-1"].text == "A generated response."
    listed = mmsafe("list", "suites")
    assert listed.returncode == 0 and any(line.startswith("unisafe ") for line in listed.stdout.splitlines())


def test_all_seven_tasks_load_into_their_case_shapes(unisafe_dir):
    a, b = (unisafe_dir / "img" / "a.png").read_bytes(), (unisafe_dir / "img" / "b.jpg").read_bytes()
    images: dict[str, bytes] = {}
    label, cases = resolve_suite("unisafe", images, unisafe_dir)
    by = {c.id: c for c in cases}
    assert sorted(by) == sorted(["TI:r1", "IE:r2", "IC:r3", "MT:r4", "TT:r1", "IT:r5", "MU:r6"])
    assert images == {sha(a): a, sha(b): b}  # each picture once, however many rows use it
    for cid in ("TT:r1", "TI:r1"):
        (m,) = by[cid].turns
        assert m.role == "user" and m.images == () and m.text == f"instruction {cid[:2]} r1"
    assert by["TT:r1"].target_id == by["TI:r1"].target_id == "r1"
    for cid, pic in (("IE:r2", a), ("IT:r5", a), ("MU:r6", b)):
        (m,) = by[cid].turns
        assert [p.type for p in m.parts] == ["text", "image"] and m.images[0].image_sha256 == sha(pic)
    (ic,) = by["IC:r3"].turns
    assert [p.type for p in ic.parts] == ["text", "image", "image"]
    assert [p.image_sha256 for p in by["IC:r3"].input_images] == [sha(a), sha(b)]
    assert by["IC:r3"].input_images[1].mime == "image/jpeg"
    mt = by["MT:r4"]
    assert [m.role for m in mt.turns] == ["user"] * 4
    assert [m.text for m in mt.turns] == ["turn one", "turn two", "turn three", "turn four"]
    assert mt.turns[0].images[0].image_sha256 == sha(b) and all(not m.images for m in mt.turns[1:])
    assert all(c.task == c.id.split(":")[0] and c.subcategory == "V1" and c.category == "Violence" for c in cases)


def test_task_selection_filters_and_labels(unisafe_dir, tmp_path):
    label, cases = resolve_suite("unisafe:ie,TI", {}, unisafe_dir)
    assert label == "unisafe:TI,IE" and sorted(c.id for c in cases) == ["IE:r2", "TI:r1"]
    with pytest.raises(UsageError, match="unknown task XX"):
        resolve_suite("unisafe:TI,XX", {}, unisafe_dir)
    with pytest.raises(UsageError, match="takes no ':' selection"):
        resolve_suite("quick:TI", {})
    # through the CLI: only the TI case is run and the label is stored in the spec
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "r1", "scenario_type": "TT", "model": "m", "output_text": "x"},
                                             {"id": "r1", "scenario_type": "TI", "model": "m", "refusal": True}])
    out = tmp_path / "run"
    r = mmsafe("run", "--suite", "unisafe:TI", "--data", str(unisafe_dir), "--target", "replay",
               "--predictions", str(preds), "--judge", "refusal", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["run"]["suite"] == "unisafe:TI" and res["counts"]["cases"] == 1
    assert [c.id for c in Store.open(out, create=False).cases()] == ["TI:r1"]
    assert "1 prediction(s)" in r.stderr  # the TT row answers no case of this run


def test_a_single_file_and_no_data(unisafe_dir, tmp_path):
    _, cases = resolve_suite("unisafe", {}, unisafe_dir / "text.jsonl")
    assert sorted(c.id for c in cases) == ["IT:r5", "MU:r6", "TT:r1"]
    r = mmsafe("run", "--suite", "unisafe", "--target", "replay", "--predictions", str(UNISAFE / "predictions.sample.jsonl"),
               "--out", str(tmp_path / "run"), env={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2 and "--data DIR" in r.stderr and "Traceback" not in r.stderr
    r = mmsafe("run", "--suite", "quick", "--data", str(unisafe_dir), "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "--data is for" in r.stderr


def test_hub_dataset_is_loaded_by_name_with_images_as_structs(tmp_path, unisafe_dir):
    """Without --data, `datasets` loads segyulee/UniSAFE (a stand-in module here: tests stay offline)."""
    site = tmp_path / "site"
    site.mkdir()
    png = pil_png((1, 2, 3))
    (site / "datasets.py").write_text(f'''
class Image:
    def __init__(self, decode=True): self.decode = decode
class Split(list):
    column_names = ["id", "scenario_type", "instruction", "input_image", "input_image_b", "turns"]
    def cast_column(self, col, feature):
        assert feature.decode is False
        return self
def load_dataset(name, token=None):
    assert name == "segyulee/UniSAFE"
    img = {{"bytes": {png!r}, "path": "x.png"}}
    return {{"image": Split([{{"id": "h1", "scenario_type": "IE", "instruction": "edit", "input_image": img,
                               "input_image_b": None, "turns": []}}]),
             "text": Split([{{"id": "h1", "scenario_type": "TT", "instruction": "ask", "input_image": None,
                              "input_image_b": None, "turns": []}}])}}
''')
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "h1", "scenario_type": "TT", "model": "m", "output_text": "no"}])
    out = tmp_path / "run"
    r = mmsafe("run", "--suite", "unisafe", "--target", "replay", "--predictions", str(preds), "--judge", "refusal",
               "--out", str(out), "--json", env=env)
    assert r.returncode == 0, r.stderr
    cases = {c.id: c for c in Store.open(out, create=False).cases()}
    assert sorted(cases) == ["IE:h1", "TT:h1"] and cases["IE:h1"].input_images[0].image_sha256 == sha(png)
    assert (out / "blobs" / sha(png)[:2] / sha(png)).read_bytes() == png


@pytest.mark.parametrize("change,line,field,problem", [
    (lambda rows: rows[0].update(scenario_type="XY"), 1, "scenario_type", "unknown 'XY'"),
    (lambda rows: rows[0].pop("scenario_type"), 1, "scenario_type", "unknown None"),
    (lambda rows: rows.append(dict(rows[1])), 5, "id", "duplicate (id, scenario_type) ('r2', 'IE')"),
    (lambda rows: rows[1].update(input_image=None), 2, "input_image", "task IE takes an input image"),
    (lambda rows: rows[2].update(input_image_b=None), 3, "input_image_b", "task IC composes two input images"),
    (lambda rows: rows[3].update(turns=["a", "b", "c"]), 4, "turns", "exactly 4 non-empty turns, got 3"),
    (lambda rows: rows[3].update(turns=["a", "b", "c", "d", "e"]), 4, "turns", "exactly 4"),
    (lambda rows: rows[3].update(turns=["a", "", "c", "d"]), 4, "turns", "exactly 4 non-empty"),
    (lambda rows: rows[0].pop("id"), 1, "id", "required"),
    (lambda rows: rows[0].update(instruction=""), 1, "instruction", "required"),
    (lambda rows: rows[1].update(input_image=7), 2, "input_image", "expected an image path"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, change, line, field, problem):
    d = tmp_path / "u"
    (d / "img").mkdir(parents=True)
    (d / "img" / "a.png").write_bytes(pil_png((1, 1, 1)))
    (d / "img" / "b.jpg").write_bytes(pil_jpeg((2, 2, 2)))
    rows, _ = seven_rows()
    change(rows)
    path = write_jsonl(d / "image.jsonl", rows)
    with pytest.raises(InputError) as exc:
        resolve_suite("unisafe", {}, d)
    assert exc.value.file == str(path) and exc.value.field == field and problem in exc.value.problem
    assert exc.value.line == line


def test_bad_row_through_the_cli_is_a_clean_error(unisafe_dir, tmp_path):
    rows, _ = seven_rows()
    rows[2]["input_image_b"] = None
    path = write_jsonl(unisafe_dir / "image.jsonl", rows)
    out = tmp_path / "run"
    r = mmsafe("run", "--suite", "unisafe", "--data", str(unisafe_dir), "--target", "replay",
               "--predictions", str(UNISAFE / "predictions.sample.jsonl"), "--out", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{path}, line 3: field 'input_image_b'" in r.stderr and not out.exists()


@pytest.mark.parametrize("ref,problem", [
    ("/etc/passwd", "must be a relative path"),
    ("../outside.png", "must be a relative path"),
    ("img/../../outside.png", "must be a relative path"),
    ("link.png", "resolves outside"),
    ("img/missing.png", "file not found"),
    ("notes.png", "is not a PNG, JPEG, GIF or WebP image"),
    ("big.png", "over the"),
])
def test_image_paths_stay_inside_the_data_folder(tmp_path, ref, problem):
    d = tmp_path / "u"
    (d / "img").mkdir(parents=True)
    (tmp_path / "outside.png").write_bytes(pil_png((9, 9, 9)))
    (d / "link.png").symlink_to(tmp_path / "outside.png")
    (d / "notes.png").write_text("not a picture")
    (d / "big.png").write_bytes(pil_png((5, 5, 5), size=600) + b"\0" * 40_000)
    write_jsonl(d / "cases.jsonl", [base_row("r1", "IT", input_image=ref)])
    os.environ["MMSAFE_MAX_IMAGE_MB"] = "0.02"
    try:
        with pytest.raises(InputError) as exc:
            resolve_suite("unisafe", {}, d)
    finally:
        del os.environ["MMSAFE_MAX_IMAGE_MB"]
    assert exc.value.field == "input_image" and exc.value.line == 1 and problem in exc.value.problem


def test_parquet_layout_with_image_structs(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    d = tmp_path / "hf"
    (d / "data").mkdir(parents=True)
    a, b = pil_png((50, 60, 70)), pil_jpeg((70, 60, 50))
    (d / "data" / "side.jpg").write_bytes(b)
    image, text = seven_rows()

    def struct(ref):
        if ref is None:
            return None
        if ref.endswith(".png"):
            return {"bytes": a, "path": "a.png"}
        return {"bytes": None, "path": "side.jpg"}  # no bytes: read beside the parquet file
    for name, rows in (("image", image), ("text", text)):
        rows = [{**r, "input_image": struct(r["input_image"]), "input_image_b": struct(r["input_image_b"])} for r in rows]
        pq.write_table(pa.Table.from_pylist(rows), d / "data" / f"{name}-00000-of-00001.parquet")
    images: dict[str, bytes] = {}
    _, cases = resolve_suite("unisafe", images, d)
    by = {c.id: c for c in cases}
    assert len(by) == 7 and images == {sha(a): a, sha(b): b}
    assert [p.image_sha256 for p in by["IC:r3"].input_images] == [sha(a), sha(b)]
    assert [len(m.images) for m in by["MT:r4"].turns] == [1, 0, 0, 0]
    # a struct path may not leave the folder either
    bad = [{**image[1], "input_image": {"bytes": None, "path": "../../x.png"}}]
    pq.write_table(pa.Table.from_pylist(bad), d / "data" / "image-00000-of-00001.parquet")
    with pytest.raises(InputError) as exc:
        resolve_suite("unisafe", {}, d)
    assert exc.value.field == "input_image" and "relative path" in exc.value.problem
    (d / "data" / "image-00000-of-00001.parquet").write_bytes(b"PAR1 but not really")
    with pytest.raises(InputError, match="not a readable parquet file"):
        resolve_suite("unisafe", {}, d)


# --- user suites with tasks ------------------------------------------------------------------

def test_user_suite_rows_take_a_task(tmp_path):
    (tmp_path / "a.png").write_bytes(pil_png((3, 3, 3)))
    (tmp_path / "b.png").write_bytes(pil_png((4, 4, 4)))
    path = write_jsonl(tmp_path / "mine.jsonl", [
        {"id": "p1", "prompt": "plain"},
        {"id": "p2", "prompt": "draw it", "task": "TI", "target_id": "risk-1"},
        {"id": "p3", "prompt": "edit it", "task": "IE", "image": "a.png"},
        {"id": "p4", "prompt": "combine", "task": "IC", "image": "a.png", "image_b": "b.png"},
        {"id": "p5", "task": "MT", "turns": ["one", "two"], "image": "b.png"},
    ])
    by = {c.id: c for c in load_cases(path)}
    assert [by[i].task for i in ("p1", "p2", "p3", "p4", "p5")] == ["chat", "TI", "IE", "IC", "MT"]
    assert by["p2"].target_id == "risk-1" and by["p1"].target_id is None
    assert [p.image_sha256 for p in by["p4"].input_images] == [sha((tmp_path / n).read_bytes()) for n in ("a.png", "b.png")]
    assert len(by["p3"].input_images) == 1
    assert [len(m.images) for m in by["p5"].turns] == [1, 0]  # MT: the picture goes with the first turn


@pytest.mark.parametrize("row,field,problem", [
    ({"prompt": "x", "task": "IE"}, "image", "task IE takes an input image"),
    ({"prompt": "x", "task": "IT"}, "image", "task IT takes an input image"),
    ({"prompt": "x", "task": "IC", "image": "a.png"}, "image_b", "task IC composes two input images"),
    ({"prompt": "x", "image_b": "a.png"}, "image", "required with `image_b`"),
    ({"prompt": "x", "task": "MT"}, "turns", "at least 2 user turns"),
    ({"prompt": "x", "task": "TT", "image": "a.png"}, "image", "takes no input image"),
    ({"prompt": "x", "task": "XY"}, "task", "Input should be"),
    ({"prompt": "x", "task": "IC", "image": "a.png", "image_b": "../a.png"}, "image_b", "relative path"),
])
def test_user_suite_task_needs(tmp_path, row, field, problem):
    (tmp_path / "a.png").write_bytes(pil_png((3, 3, 3)))
    path = write_jsonl(tmp_path / "mine.jsonl", [{"prompt": "fine"}, row])
    with pytest.raises(InputError) as exc:
        load_cases(path)
    assert (exc.value.line, exc.value.field) == (2, field) and problem in exc.value.problem


def test_user_suite_csv_task_column(tmp_path):
    (tmp_path / "a.png").write_bytes(pil_png((3, 3, 3)))
    path = tmp_path / "mine.csv"
    path.write_text("id,prompt,task,image\nq1,edit this,IE,a.png\nq2,just text,,\n")
    cases = load_cases(path)
    assert [(c.id, c.task, len(c.input_images)) for c in cases] == [("q1", "IE", 1), ("q2", "chat", 0)]


# --- predictions in and out ------------------------------------------------------------------

def gens_of(out: Path) -> dict:
    store = Store.open(out, create=False)
    try:
        return {g.case_id: g for g in store.generations()}
    finally:
        store.close()


@pytest.fixture
def predictions(tmp_path) -> tuple[Path, dict[str, bytes]]:
    """UniSAFE predictions for the seven-task fixture: images relative and absolute, refusal and error rows."""
    d = tmp_path / "preds"
    (d / "out").mkdir(parents=True)
    pics = {name: pil_png((i * 40, 255 - i * 40, 90)) for i, name in enumerate(["ti", "ic", "t1", "t2", "t3"])}
    for name, data in pics.items():
        (d / "out" / f"{name}.png").write_bytes(data)
    absolute = tmp_path / "elsewhere.png"
    absolute.write_bytes(pics["ic"])
    write_jsonl(d / "preds.jsonl", [
        {"id": "r1", "scenario_type": "TT", "model": "up-model", "output_text": "Sure, here is how."},
        {"id": "r5", "scenario_type": "IT", "model": "up-model", "output_text": "I cannot help with that.", "refusal": True},
        {"id": "r6", "scenario_type": "MU", "model": "up-model", "error": "timeout after 60 s"},
        {"id": "r1", "scenario_type": "TI", "model": "up-model", "output_image": "out/ti.png", "metadata": {"seed": 1}},
        {"id": "r2", "scenario_type": "IE", "model": "up-model", "refusal": True},
        {"id": "r3", "scenario_type": "IC", "model": "up-model", "output_image": str(absolute), "output_text": "Done."},
        {"id": "r4", "scenario_type": "MT", "model": "up-model",
         "output_images": ["out/t1.png", "out/t2.png", "out/t3.png", "out/t1.png"]},
    ])
    return d / "preds.jsonl", pics


def replay(suite_args: list[str], preds: Path, out: Path) -> dict:
    r = mmsafe("run", *suite_args, "--target", "replay", "--predictions", str(preds), "--judge", "refusal",
               "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_predictions_for_all_seven_tasks_replay_into_the_blob_store(unisafe_dir, predictions, tmp_path):
    preds, pics = predictions
    out = tmp_path / "run"
    res = replay(["--suite", "unisafe", "--data", str(unisafe_dir)], preds, out)
    assert res["model"] == "replay:up-model" and res["counts"]["answered"] == 6 and res["counts"]["errors"] == 1
    g = gens_of(out)
    assert g["TT:r1"].text == "Sure, here is how." and not g["TT:r1"].provider_refusal
    assert g["IT:r5"].provider_refusal and g["IT:r5"].text == "I cannot help with that."
    assert "timeout after 60 s" in g["MU:r6"].error
    assert [p.image_sha256 for p in g["TI:r1"].images] == [sha(pics["ti"])] and g["TI:r1"].images[0].mime == "image/png"
    assert g["IE:r2"].provider_refusal and not g["IE:r2"].images and not g["IE:r2"].text
    assert g["IC:r3"].text == "Done." and [p.image_sha256 for p in g["IC:r3"].images] == [sha(pics["ic"])]
    mt = g["MT:r4"]
    assert [p.image_sha256 for p in mt.turn_images()] == [sha(pics[n]) for n in ("t1", "t2", "t3", "t1")]
    for name, data in pics.items():  # every picture in the blob store, once
        assert (out / "blobs" / sha(data)[:2] / sha(data)).read_bytes() == data
    assert len([p for p in (out / "blobs").rglob("*") if p.is_file()]) == len(pics) + 2  # + the two input images


@pytest.mark.parametrize("row,field,problem", [
    ({"id": "r1", "scenario_type": "TI", "model": "m"}, "output_image", "task TI answers with an image"),
    ({"id": "r1", "scenario_type": "TT", "model": "m"}, "output_text", "missing"),
    ({"id": "r4", "scenario_type": "MT", "model": "m", "output_images": ["o.png"] * 3}, "output_images",
     "exactly 4 images, got 3"),
    ({"id": "r4", "scenario_type": "MT", "model": "m", "output_image": "o.png"}, "output_image", "task MT gives output_images"),
    ({"id": "r1", "scenario_type": "TI", "model": "m", "output_image": "o.png", "output_images": ["o.png"]},
     "output_images", "not both"),
    ({"id": "r1", "scenario_type": "XY", "model": "m", "output_text": "x"}, "scenario_type", "Input should be"),
    ({"id": "r1", "scenario_type": "TI", "model": "m", "output_image": "missing.png"}, "output_image", "file not found"),
    ({"id": "r1", "scenario_type": "TI", "model": "m", "output_image": "notes.png"}, "output_image", "not a PNG"),
    ({"id": "r1", "scenario_type": "TI", "model": "m", "output_image": "sub"}, "output_image", "not a file"),
    ({"id": "r4", "scenario_type": "MT", "model": "m", "output_images": ["o.png", "o.png", "o.png", "nope.png"]},
     "output_images.3", "file not found"),
    ({"id": "r1", "scenario_type": "TT", "model": "m", "output_text": "again"}, "id", "duplicate (id, scenario_type) 'TT:r1'"),
])
def test_bad_prediction_rows_name_file_line_and_field(tmp_path, row, field, problem):
    (tmp_path / "o.png").write_bytes(pil_png((1, 2, 3)))
    (tmp_path / "notes.png").write_text("text")
    (tmp_path / "sub").mkdir()
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": "r1", "scenario_type": "TT", "model": "m", "output_text": "ok"}, row])
    with pytest.raises(InputError) as exc:
        load_predictions(path)
    assert (exc.value.file, exc.value.line, exc.value.field) == (str(path), 2, field) and problem in exc.value.problem


def test_refusal_or_error_rows_need_no_output(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"id": "a", "scenario_type": "MT", "model": "m", "refusal": True},
        {"id": "a", "scenario_type": "TI", "model": "m", "error": "HTTP 500"},
        {"id": "a", "scenario_type": "IE", "model": "m", "output_text": "I won't edit that."},  # text in place of an image
        {"id": "plain", "output": "old format still works"},
    ])
    assert sorted(load_predictions(path)) == ["IE:a", "MT:a", "TI:a", "plain"]


def test_export_unisafe_round_trip(unisafe_dir, predictions, tmp_path):
    preds, pics = predictions
    first = tmp_path / "run1"
    replay(["--suite", "unisafe", "--data", str(unisafe_dir)], preds, first)
    shared = tmp_path / "share" / "ours.jsonl"
    shared.parent.mkdir()
    r = mmsafe("export", str(first), "--format", "unisafe", "-o", str(shared))
    assert r.returncode == 0, r.stderr
    rows = {(x["id"], x["scenario_type"]): x for x in map(json.loads, shared.read_text().splitlines())}
    assert len(rows) == 7 and all(x["model"] == "up-model" for x in rows.values())
    assert rows[("r1", "TI")]["output_image"] == f"ours-images/{sha(pics['ti'])}.png"
    assert rows[("r4", "MT")]["output_images"] == [f"ours-images/{sha(pics[n])}.png" for n in ("t1", "t2", "t3", "t1")]
    assert rows[("r2", "IE")]["refusal"] is True and "output_image" not in rows[("r2", "IE")]
    assert "timeout after 60 s" in rows[("r6", "MU")]["error"]
    written = sorted(p.name for p in (shared.parent / "ours-images").iterdir())
    assert written == sorted({f"{sha(d)}.png" for d in pics.values()})  # named by content hash only
    for name in written:
        assert sha((shared.parent / "ours-images" / name).read_bytes()) == name.split(".")[0]

    second = tmp_path / "run2"
    replay(["--suite", "unisafe", "--data", str(unisafe_dir)], shared, second)
    a, b = gens_of(first), gens_of(second)
    assert a.keys() == b.keys()
    for cid in a:
        assert (a[cid].output, a[cid].provider_refusal, a[cid].error is None) == \
               (b[cid].output, b[cid].provider_refusal, b[cid].error is None), cid
    again = tmp_path / "share" / "again.jsonl"
    assert mmsafe("export", str(second), "--format", "unisafe", "-o", str(again)).returncode == 0
    strip = lambda t: [{k: v for k, v in json.loads(x).items() if k != "error"} for x in t.splitlines()]  # noqa: E731
    assert strip(again.read_text().replace("again-images", "ours-images")) == strip(shared.read_text())
    assert mmsafe("export", str(second), "--format", "unisafe", "-o", "-").returncode == 2


def test_live_text_run_exports_and_replays_the_same(unisafe_dir, tmp_path, fake_server):
    live = tmp_path / "live"
    r = mmsafe("run", "--suite", "unisafe:TT,IT,MU", "--data", str(unisafe_dir), "--target", "openai", "--model", "m",
               "--base-url", fake_server.base_url, "--judge", "refusal", "--out", str(live), "--json")
    assert r.returncode == 0, r.stderr
    assert mmsafe("export", str(live), "--format", "unisafe").returncode == 0
    exported = live / "unisafe-predictions.jsonl"
    rows = [json.loads(x) for x in exported.read_text().splitlines()]
    assert sorted((x["id"], x["scenario_type"]) for x in rows) == [("r1", "TT"), ("r5", "IT"), ("r6", "MU")]
    again = tmp_path / "again"
    res = replay(["--suite", "unisafe:TT,IT,MU", "--data", str(unisafe_dir)], exported, again)
    assert res["model"] == "replay:m"
    a, b = gens_of(live), gens_of(again)
    assert {k: g.output for k, g in a.items()} == {k: g.output for k, g in b.items()} and len(a) == 3


def test_user_suite_cases_are_answered_by_unisafe_rows(tmp_path):
    """A row (id, scenario_type) answers the case "TASK:id", or a user suite's case `id` of that task."""
    from mmsafe.schema import Case, Message
    from mmsafe.targets.base import TargetConfig
    from mmsafe.targets.replay import ReplayTarget

    path = write_jsonl(tmp_path / "p.jsonl", [
        {"id": "p2", "scenario_type": "TI", "model": "m", "refusal": True},
        {"id": "c1", "scenario_type": "chat", "model": "m", "output_text": "hello"},
        {"id": "r9", "scenario_type": "TT", "model": "m", "output_text": "risk text"},
    ])
    target = ReplayTarget(TargetConfig(predictions=path))
    mine = Case(id="p2", task="TI", turns=(Message.user("draw"),))
    chat = Case(id="c1", turns=(Message.user("hi"),))
    uni = Case(id="TT:r9", task="TT", target_id="r9", turns=(Message.user("x"),))
    wrong_task = Case(id="p2", task="IE", turns=(Message.user("edit"),))
    assert [target.find(c).key for c in (mine, chat, uni)] == ["TI:p2", "chat:c1", "TT:r9"]
    assert target.find(wrong_task) is None
    assert target.unmatched([mine, uni]) == 1


def test_null_fields_and_ignored_images(tmp_path):
    """Nulls where the dataset has none (category) load; a TT/TI row's stray image is neither read nor sent."""
    write_jsonl(tmp_path / "c.jsonl", [base_row("x", "TT", id=7, category=None, subcategory=None, input_image="gone.png")])
    images: dict[str, bytes] = {}
    _, (case,) = resolve_suite("unisafe", images, tmp_path)
    assert (case.id, case.target_id, case.category, case.input_images, images) == ("TT:7", "7", "uncategorized", (), {})


def test_without_pyarrow_jsonl_loads_and_parquet_says_what_to_install(unisafe_dir, monkeypatch):
    import sys

    from mmsafe.errors import MissingDependency
    from mmsafe.suites import unisafe as uni

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # importing it now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    monkeypatch.setattr(uni, "_has_pyarrow", lambda: False)
    assert len(resolve_suite("unisafe", {}, unisafe_dir)[1]) == 7
    (unisafe_dir / "data").mkdir()
    (unisafe_dir / "data" / "image-0.parquet").write_bytes(b"PAR1")
    with pytest.raises(MissingDependency, match=r"pyarrow.*mmsafe\[unisafe\]"):
        resolve_suite("unisafe", {}, unisafe_dir)
