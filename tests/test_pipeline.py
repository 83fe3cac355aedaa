"""Judging while generating: what a judge has not read when generation ends gets a progress bar
that runs to the end (the judge stage never sits silent)."""

from __future__ import annotations

import asyncio

from mmsafe.engine.pipeline import JudgeFeed
from mmsafe.schema import Case, Generation, Message, Part, Verdict
from mmsafe.store import Store


class Recorder:
    def __init__(self):
        self.bars = {}

    def stage(self, name, total):
        rec = self

        class Bar:
            def advance(self, n=1):
                rec.bars[name][1] += n

        self.bars[name] = [total, 0]
        return Bar()


class SlowJudge:
    name, batch_size, concurrency = "slow", 4, 1

    async def judge(self, items):
        await asyncio.sleep(0.01)
        return [Verdict(generation_key=g.key, case_id=c.id, judge=self.name, unsafe=False, refusal=False) for c, g in items]


def test_judges_catching_up_show_progress_to_the_end(tmp_path):
    cases = {f"c{i}": Case(id=f"c{i}", turns=(Message.user("q"),)) for i in range(40)}

    async def go():
        store = Store.open(tmp_path / "run")
        store.add_cases(cases.values())
        rec = Recorder()
        feed = JudgeFeed(store, [SlowJudge()], rec)
        for cid, case in cases.items():
            await feed.put(case, Generation(case_id=cid, target="t", output=(Part(text="a"),)))
        # errors are never judged nor counted
        await feed.put(cases["c0"], Generation(case_id="c0", target="t", error="boom"))
        await feed.finish()
        await store.flush()
        n = store.count("verdicts")
        store.close()
        return rec.bars, n

    bars, n = asyncio.run(go())
    assert n == 40
    total, done = bars["judge:slow"]
    assert 0 < total <= 40 and done == total


def test_a_judge_that_falls_behind_holds_generation_back(tmp_path):
    """The feed never holds more than `max_waiting` replies per judge: a slow judge makes the
    producer wait (memory stays flat), and every reply is still judged."""
    cases = [Case(id=f"c{i}", turns=(Message.user("q"),)) for i in range(60)]

    async def go():
        store = Store.open(tmp_path / "run")
        store.add_cases(cases)
        feed = JudgeFeed(store, [SlowJudge()], max_waiting=8)
        peak = 0
        for c in cases:
            await feed.put(c, Generation(case_id=c.id, target="t", output=(Part(text="a"),)))
            peak = max(peak, feed._queues[0].qsize())
        await feed.finish()
        await store.flush()
        n = store.count("verdicts")
        store.close()
        return peak, n

    peak, n = asyncio.run(go())
    assert n == 60
    assert peak <= 8


class BrokenJudge(SlowJudge):
    name = "broken"

    async def judge(self, items):
        raise ValueError("judge model crashed")


def test_a_judge_that_fails_stops_generation_instead_of_hanging(tmp_path):
    cases = [Case(id=f"c{i}", turns=(Message.user("q"),)) for i in range(40)]

    async def go():
        store = Store.open(tmp_path / "run")
        store.add_cases(cases)
        feed = JudgeFeed(store, [BrokenJudge()], max_waiting=4)
        try:
            for c in cases:
                await feed.put(c, Generation(case_id=c.id, target="t", output=(Part(text="a"),)))
            await feed.finish()
        finally:
            feed.cancel()
            store.close()

    try:
        asyncio.run(asyncio.wait_for(go(), 10))
    except ValueError as exc:
        assert "crashed" in str(exc)
    else:
        raise AssertionError("the judge's failure was not raised")


def test_a_judge_stage_stopped_part_way_leaves_the_store_writable(tmp_path):
    """The judge stage reads unjudged answers through a cursor while the writer commits verdicts: a
    judge that fails (or a Ctrl-C) part-way must not leave that cursor's old snapshot holding the
    connection, or recording the run's end fails with "database is locked" and the reason is lost."""
    from mmsafe.engine import runner

    cases = [Case(id=f"c{i}", turns=(Message.user("q"),)) for i in range(600)]

    class FailsLater(SlowJudge):
        name, batch_size = "later", 50
        calls = 0

        async def judge(self, items):
            FailsLater.calls += 1
            if FailsLater.calls == 3:
                raise ValueError("judge model crashed")
            return await super().judge(items)

    async def go():
        store = Store.open(tmp_path / "run")
        try:
            store.add_cases(cases)
            for c in cases:
                store.put_generation(Generation(case_id=c.id, target="t", output=(Part(text="a"),)))
            await store.flush()
            run_id = store.begin_run("x", ["later"], "test")
            try:
                await runner.judge(store, [FailsLater()], None)
            except ValueError:  # as evaluate does: the end is recorded while the error (its frames) is alive
                await store.flush()
                store.end_run(run_id, "failed", "judge model crashed")  # raised "database is locked" before
            else:
                raise AssertionError("the judge's failure was not raised")
            return [i["status"] for i in store.invocations()], store.count("verdicts")
        finally:
            store.close()

    statuses, judged = asyncio.run(go())
    assert statuses == ["failed"] and judged == 100
