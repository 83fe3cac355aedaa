"""The streaming run: a suite file's cases are validated once, kept on disk (CaseSpool) and streamed
back; recording them checks a resumed run chunk by chunk; the judge stage streams from the store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mmsafe.data.cases import load_cases
from mmsafe.data.spool import CaseSpool, summary_of
from mmsafe.engine import runner
from mmsafe.errors import InputError, UsageError
from mmsafe.evaluate import RunOptions, plan
from mmsafe.judges.refusal import RefusalJudge
from mmsafe.schema import Case, Generation, Message, Part
from mmsafe.store import Store

AWKWARD = ["tab\there", "new\nline", "üñíçødé ✓", "quote\"and\\slash", "sep\u2028arator", "plain"]


def _suite(path: Path, ids: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for n, i in enumerate(ids):
            fh.write(json.dumps({"id": i, "prompt": f"prompt {n}\nsecond line\t{i}", "task": "TI" if n == 2 else "chat"},
                                ensure_ascii=False) + "\n")
    return path


def test_spool_gives_back_exactly_the_cases_it_was_given(tmp_path):
    cases = load_cases(_suite(tmp_path / "s.jsonl", AWKWARD))
    spool = CaseSpool(cases)
    try:
        assert list(spool) == cases
        assert list(spool.ids()) == AWKWARD
        assert [json.loads(b)["id"] for _, b in spool.bodies()] == AWKWARD
        assert len(spool) == len(cases)
        assert spool.summary.tasks == {"chat", "TI"} == summary_of(cases).tasks
        assert list(spool) == cases  # read again: every reader gets its own pass
    finally:
        spool.close()
    assert not spool.path.parent.exists()  # the temporary file goes with the spool


def test_a_file_suite_is_spooled_with_the_system_prompt_and_limit(tmp_path):
    suite = _suite(tmp_path / "s.jsonl", [f"id{i}" for i in range(10)])
    p = plan(RunOptions(suite=str(suite), target="openai", model="m", base_url="http://127.0.0.1:9/v1",
                        judges=("refusal",), limit=4, system_prompt="be safe", out=tmp_path / "run"))
    try:
        assert isinstance(p.cases, CaseSpool)
        got = list(p.cases)
        assert [c.id for c in got] == ["id0", "id1", "id2", "id3"]
        assert all(c.turns[0].role == "system" and c.turns[0].text == "be safe" for c in got)
    finally:
        p.cases.close()
    assert not (tmp_path / "run").exists()  # planning writes nothing


def test_a_bad_row_far_down_the_file_fails_before_any_write(tmp_path):
    suite = _suite(tmp_path / "s.jsonl", [f"id{i}" for i in range(500)])
    with suite.open("a") as fh:
        fh.write(json.dumps({"id": "bad", "prompt": "x", "label": "maybe"}) + "\n")
    with pytest.raises(InputError) as err:
        plan(RunOptions(suite=str(suite), target="openai", model="m", base_url="http://127.0.0.1:9/v1",
                        judges=("refusal",), out=tmp_path / "run"))
    assert "line 501" in str(err.value) and "label" in str(err.value)
    assert not (tmp_path / "run").exists()


def test_recording_checks_a_resumed_run_chunk_by_chunk(tmp_path):
    cases = [Case(id=f"c{i}", turns=(Message.user(f"q{i}"),)) for i in range(10)]
    store = Store.open(tmp_path / "run")
    try:
        assert store.add_bodies(((c.id, c.model_dump_json()) for c in cases[:7]), chunk=3) == 7
        assert store.add_bodies(((c.id, c.model_dump_json()) for c in cases), chunk=3) == 10  # grows
        assert [c.id for c in store.cases()] == [c.id for c in cases]
        changed = [*cases[:8], cases[8].model_copy(update={"label": "benign"}), cases[9]]
        with pytest.raises(UsageError, match="case 'c8' differs"):
            store.add_bodies(((c.id, c.model_dump_json()) for c in changed), chunk=3)
        assert [c for c in store.cases()] == cases  # nothing recorded was changed
    finally:
        store.close()


def test_the_judge_stage_streams_what_is_left_from_the_store(tmp_path):
    """Only answered generations of the run's first `limit` cases without a usable verdict are
    judged; a second pass finds nothing left."""
    cases = [Case(id=f"c{i}", turns=(Message.user(f"q{i}"),)) for i in range(30)]

    async def go():
        store = Store.open(tmp_path / "run")
        store.add_cases(cases)
        for c in cases:
            err = "boom" if c.id == "c3" else None
            store.put_generation(Generation(case_id=c.id, target="t", error=err,
                                            output=() if err else (Part(text="I can't help with that."),)))
        await store.flush()
        judge = RefusalJudge()
        await judge.start()
        first = await runner.judge(store, [judge], limit=20)
        left_after = store.count_unjudged("refusal", 20), store.count_unjudged("refusal")
        second = await runner.judge(store, [judge], limit=20)
        n = store.count("verdicts")
        store.close()
        return first["refusal"].done, left_after, second["refusal"].todo, n

    done, (left20, left_all), again, n = asyncio.run(go())
    assert done == 19 and n == 19  # 20 cases, one failed
    assert left20 == 0 and left_all == 10
    assert again == 0


def test_the_event_loop_waits_for_a_writer_that_is_far_behind(tmp_path):
    """Store.room(): with `most` rows or more waiting, the caller waits until at most half remain;
    the rows are all written."""
    store = Store.open(tmp_path / "run")

    async def go():
        for i in range(3000):
            store.put_generation(Generation(case_id=f"c{i}", target="t", output=(Part(text="a"),)))
        await store.writer.room(most=100)
        left = store.writer.backlog()
        await store.flush()
        return left

    try:
        assert asyncio.run(go()) <= 50
        assert store.count("generations") == 3000
    finally:
        store.close()


def test_rows_put_in_one_pass_of_the_loop_go_to_the_writer_together(tmp_path):
    """Writer.put on the loop's thread keeps the pass's rows and hands them over when the pass ends
    (one wake-up of the writer per pass); flush() commits them even within the same pass, and rows
    put from another thread go straight to the writer."""
    store = Store.open(tmp_path / "run")

    async def go():
        w = store.writer
        for i in range(10):
            store.put_generation(Generation(case_id=f"c{i}", target="t", output=(Part(text="a"),)))
        queued_in_pass = w._q.qsize()  # nothing handed over yet: the pass has not ended
        pending = w.backlog()
        await asyncio.sleep(0)  # the pass ends: one hand-over of all ten
        await store.flush()
        committed = store.count("generations")
        store.put_generation(Generation(case_id="same-pass", target="t", output=(Part(text="a"),)))
        await store.flush()  # within the pass that put it: flush hands it over first
        after_flush = store.count("generations")
        await asyncio.to_thread(store.put_generation, Generation(case_id="thread", target="t", output=(Part(text="a"),)))
        await store.flush()
        return queued_in_pass, pending, committed, after_flush, store.count("generations"), w.backlog()

    try:
        assert asyncio.run(go()) == (0, 10, 10, 11, 12, 0)
    finally:
        store.close()

