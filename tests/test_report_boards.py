"""Leaderboards per modality × mode and the neighbours-within-noise statements, on results built by
hand (the numbers are the point: no store needed, per-case scores given directly)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmsafe.metrics.rates import rate
from mmsafe.report.boards import build_boards, noise_sentence
from mmsafe.report.profiles import heatmaps, profile_bars
from mmsafe.report.runs import Run


def plain_run(name: str, safe: int, n: int, by_cat: dict[str, tuple[int, int]], suite: str = "s1") -> Run:
    block = {"overall": {"n": n, "safe_rate": rate(safe, n)},
             "by_category": {c: {"safe_rate": rate(k, m)} for c, (k, m) in by_cat.items()},
             "by_language": {"en": {"safe_rate": rate(safe, n)}},
             "quality": {"source": "shipped held-out set", "n": 100,
                         "harmful": {"accuracy": 0.9, "sensitivity": 0.8, "specificity": 0.95}}}
    res = {"model": name, "primary_judge": "j", "judges": {"j": block}, "run": {"suite_sha256": suite}}
    return Run(Path(name), res, "language", label=name, judges=["j"])


def test_neighbours_paired_case_by_case():
    a = plain_run("a", 90, 100, {"x": (45, 50), "y": (45, 50)})
    b = plain_run("b", 90, 100, {"x": (40, 50), "y": (50, 50)})
    c = plain_run("c", 50, 100, {"x": (25, 50), "y": (25, 50)})
    # a and b: the same 90 cases safe; c: only the first 50
    scores = {0: {f"q{i}": int(i < 50) for i in range(100)}, 1: {f"q{i}": int(i < 90) for i in range(100)},
              2: {f"q{i}": int(i < 90) for i in range(100)}}  # runs below: [c, a, b]
    asked = []

    def case_scores(i, judge, how):
        asked.append((i, judge, how))
        return scores[i]

    (board,) = build_boards([c, a, b], case_scores)
    assert board.key == "language × benchmark" and board.paired == "plain"
    assert [e.run for e in board.ranked()] in ([1, 2, 0], [2, 1, 0])  # a, b tie at 90%; c last
    first, second = board.noise
    # no case differs: not a zero-width certainty, but Newcombe's interval around 0 (100 pairs, 90 safe in both)
    assert first["method"] == "paired" and first["within_noise"] is True
    assert first["ci95"][0] < 0 < first["ci95"][1] and first["ci95"][1] == pytest.approx(-first["ci95"][0])
    assert second["method"] == "paired" and second["within_noise"] is False
    assert second["diff"] == pytest.approx(0.4) and second["ci95"][0] > 0.25
    assert "within noise" in noise_sentence(first) and "a real difference" in noise_sentence(second)
    assert {how for _, _, how in asked} == {"plain"}


def test_runs_of_different_suites_are_not_paired_by_their_shared_ids():
    # two files with default ids (cases-1, ...) share ids, not prompts: as compare refuses to pair
    # them, the report falls back to the intervals
    a = plain_run("a", 55, 100, {"x": (55, 100)}, suite="file-x")
    b = plain_run("b", 45, 100, {"x": (45, 100)}, suite="file-y")
    (board,) = build_boards([a, b], lambda *args: {f"q{i}": int(i < 50) for i in range(100)})
    (item,) = board.noise
    assert item["method"] == "intervals overlap" and "not paired" in noise_sentence(item)


def test_case_scores_read_only_the_cases_a_limited_run_counts(tmp_path):
    from conftest import mmsafe
    from mmsafe.report.boards import store_case_scores
    from mmsafe.report.runs import load_runs

    suite, preds = tmp_path / "cases.jsonl", tmp_path / "preds.jsonl"
    suite.write_text("".join(f'{{"id": "q{i}", "prompt": "do harm {i}", "label": "unsafe"}}\n' for i in range(20)))
    preds.write_text("".join(f'{{"id": "q{i}", "output": "Sure, here is how."}}\n' for i in range(20)))
    out = tmp_path / "run"
    for extra in ((), ("--limit", "5")):  # a finished run shrunk by --limit 5
        r = mmsafe("run", "--target", "replay", "--predictions", str(preds), "--suite", str(suite),
                   "--judge", "refusal", "--out", str(out), *extra)
        assert r.returncode == 0, r.stderr
    scores = store_case_scores(load_runs([out]))(0, "refusal", "plain")
    assert sorted(scores) == [f"q{i}" for i in range(5)]


def test_unpaired_headlines_say_only_whether_intervals_overlap():
    def guard(name, f1, ci):
        block = {"protocol": {"language/multilingual": {"n": 200, "macro": {"f1": f1, "f1_ci95": ci},
                                                        "by_language": {"en": {"f1": f1}, "de": {"f1": f1 - 0.1}}}},
                 "overall": {"n": 0}}
        return Run(Path(name), {"model": name, "primary_judge": "j", "judges": {"j": block}}, "language",
                   label=name, judges=["j"])

    runs = [guard("a", 0.80, [0.75, 0.85]), guard("b", 0.78, [0.72, 0.83]), guard("c", 0.40, [0.35, 0.45])]
    (board,) = build_boards(runs, lambda *a: pytest.fail("a macro F1 is not paired case by case"))
    assert board.key == "language × multilingual" and not board.percent
    assert [n["method"] for n in board.noise] == ["intervals overlap", "intervals apart"]
    assert "not paired" in noise_sentence(board.noise[0], percent=False)
    # the F1 by language heatmap and the profile bars read the same blocks
    (h,) = heatmaps(runs)
    assert h["rows"] == ["language de", "language en"] and h["values"][1] == [0.80, 0.78, 0.40]
    assert profile_bars(runs[0]) == [("language × multilingual", "F1 en", 0.80), ("language × multilingual", "F1 de", pytest.approx(0.70))]


def test_category_heatmap_and_profile_from_results():
    runs = [plain_run("a", 9, 10, {"x": (4, 5), "y": (5, 5)}), plain_run("b", 5, 10, {"x": (1, 5), "z": (4, 5)})]
    maps = {h["slug"]: h for h in heatmaps(runs)}
    cat = maps["category-model"]
    assert cat["rows"] == ["x", "y", "z"] and cat["cols"] == ["a", "b"]
    assert cat["values"] == [[0.8, 0.2], [1.0, None], [None, 0.8]] and "(judge: j)" in cat["title"]
    assert "language-model" not in maps  # one language: nothing to compare across
    assert [(g, label) for g, label, _ in profile_bars(runs[0])] == [("language × benchmark", "x"), ("language × benchmark", "y")]
