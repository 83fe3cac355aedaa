"""The embedded default (SmolLM2-135M-Instruct GGUF via llama-cpp-python) answers end to end."""

from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import mmsafe

pytestmark = pytest.mark.slow


def test_embedded_model_answers_cases_end_to_end(tmp_path):
    out = tmp_path / "run"
    r = mmsafe("run", "--limit", "2", "--max-tokens", "24", "--judge", "refusal", "--out", str(out), "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["model"] == "gguf:smollm2-135m"
    assert "135M" in res["note"] and "little safety tuning" in res["note"]
    assert res["counts"] == {"cases": 2, "generations": 2, "answered": 2, "errors": 0}
    con = sqlite3.connect(out / "run.db")
    bodies = [json.loads(b) for (b,) in con.execute("SELECT body FROM generations")]
    con.close()
    for g in bodies:
        assert g["output"][0]["text"].strip(), g  # the real model produced text
        assert g["completion_tokens"] and g["completion_tokens"] <= 24
    # the leaderboard and file locations go to the terminal
    assert "run database:" in r.stderr and "results:" in r.stderr


def test_ctrl_c_during_local_generation_exits_cleanly(tmp_path):
    from test_resume import _interrupt_after

    out = tmp_path / "run"
    code, err = _interrupt_after(["run", "--limit", "6", "--max-tokens", "48", "--judge", "refusal", "--out", str(out)],
                                 out / "run.db", 1)
    # a clean stop (not a crash inside llama.cpp), and a rerun finishes the job
    assert code == 130 and "resume" in err, err
    r = mmsafe("run", "--limit", "6", "--max-tokens", "48", "--judge", "refusal", "--out", str(out), "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"]["answered"] == 6


def test_unknown_llama_cpp_parameter_is_named(tmp_path):
    r = mmsafe("run", "--limit", "1", "--param", "top_q=0.5", "--judge", "refusal", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "--param 'top_q' is not a llama.cpp generation parameter" in r.stderr
    assert "top_p" in r.stderr  # the accepted ones are listed
