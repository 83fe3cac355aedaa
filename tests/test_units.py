"""Small pure pieces: intervals, Retry-After parsing, retry policy, completion parsing, metrics."""

from __future__ import annotations

import asyncio
import email.utils

import pytest

from mmsafe.engine.retry import GiveUp, RetryableError, RetryPolicy, parse_retry_after
from mmsafe.metrics import summarize, wilson
from mmsafe.schema import Case, Generation, Message, Part, Verdict
from mmsafe.targets.openai import parse_completion


@pytest.mark.parametrize("k,n,lo,hi", [(5, 10, 0.2366, 0.7634), (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (81, 263, 0.2553, 0.3662)])
def test_wilson_matches_reference_values(k, n, lo, hi):
    got = wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_empty():
    assert wilson(0, 0) == (0.0, 1.0)


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = 1_800_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 7, usegmt=True), now=now) == pytest.approx(7, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0


def test_backoff_grows_and_is_capped():
    p = RetryPolicy(base_delay=1, max_delay=4)
    import random

    rng = random.Random(1)
    delays = [max(p.delay(a, None, rng) for _ in range(200)) for a in range(1, 6)]
    assert delays[0] <= 1 and delays[1] <= 2 and delays[2] <= 4 and all(d <= 4 for d in delays)
    assert delays[2] > 2  # full jitter reaches the upper part of the window
    assert p.delay(1, 5.0, rng) >= 5.0  # Retry-After is a floor


def test_policy_retries_then_gives_up():
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RetryableError("HTTP 503", retry_after=0)
        return "ok"

    assert asyncio.run(RetryPolicy(max_attempts=5, base_delay=0.001).run(flaky)) == ("ok", 3)

    async def always():
        raise RetryableError("HTTP 500")

    with pytest.raises(GiveUp) as info:
        asyncio.run(RetryPolicy(max_attempts=2, base_delay=0.001).run(always))
    assert info.value.attempts == 2 and "gave up after 2 attempts" in str(info.value)

    async def too_long():
        raise RetryableError("HTTP 429", retry_after=3600)

    with pytest.raises(GiveUp, match="asked to wait 3600s"):
        asyncio.run(RetryPolicy().run(too_long))


@pytest.mark.parametrize("body", [b"", b"{}", b'{"choices": []}', b'{"choices": [null]}', b"not json"])
def test_malformed_completion_is_retryable(body):
    with pytest.raises(RetryableError):
        parse_completion(body)


def test_completion_refusal_field_counts_as_provider_refusal():
    r = parse_completion(b'{"choices": [{"message": {"content": null, "refusal": "I can\'t"}, "finish_reason": "stop"}]}')
    # a refusal-channel answer is a block with no text: its message is kept beside the output
    assert r.provider_refusal and r.provider_message == "I can't" and not r.output[0].text


def _case(i, label, cat="a", lang="en"):
    return Case(id=f"c{i}", turns=(Message.user("q"),), label=label, category=cat, language=lang)


def test_errors_and_undecided_are_never_safe():
    cases = [_case(0, "unsafe"), _case(1, "unsafe"), _case(2, "unsafe"), _case(3, "unsafe"), _case(4, "benign", "b", "fr")]
    gens = {
        "c0": Generation(case_id="c0", target="t"),
        "c1": Generation(case_id="c1", target="t", error="HTTP 500"),
        "c2": Generation(case_id="c2", target="t"),
        # c3: never generated (run interrupted) — still counted, as not safe
        "c4": Generation(case_id="c4", target="t"),
    }
    v = lambda cid, **kw: Verdict(generation_key="k", case_id=cid, judge="j", **kw)  # noqa: E731
    verdicts = {"c0": v("c0", unsafe=False, refusal=True), "c1": v("c1", unsafe=False, refusal=True),
                "c2": v("c2", unsafe=None), "c4": v("c4", unsafe=False, refusal=True)}
    s = summarize(cases, gens, verdicts)
    o = s["overall"]
    assert (o["safe_rate"]["k"], o["safe_rate"]["n"]) == (1, 4)
    assert (o["refusal_rate"]["k"], o["over_refusal_rate"]["k"], o["over_refusal_rate"]["n"]) == (1, 1, 1)
    assert o["error_rate"]["k"] == 2 and o["undecided"] == 1
    assert s["by_language"]["fr"]["n"] == 1 and s["by_category"]["a"]["safe_rate"]["n"] == 4


def test_store_outcomes_match_metrics_over_records(tmp_path):
    import asyncio as aio

    from mmsafe.metrics import summarize_outcomes
    from mmsafe.schema import Part
    from mmsafe.store import Store

    cases = [_case(i, "benign" if i % 4 == 0 else "unsafe", cat=f"k{i % 3}", lang=("en", "fr")[i % 2]) for i in range(40)]
    gens, verdicts = {}, {}
    for i, c in enumerate(cases):
        if i % 7 == 6:
            continue  # never generated
        g = Generation(case_id=c.id, target="t", output=(Part(text="x"),), error="HTTP 500" if i % 5 == 4 else None)
        gens[c.id] = g
        if g.error is None and i % 11 != 10:
            verdicts[c.id] = Verdict(generation_key=g.key, case_id=c.id, judge="j",
                                     unsafe=None if i % 13 == 12 else bool(i % 3 == 0), refusal=bool(i % 2))
    store = Store.open(tmp_path / "run")
    store.add_cases(cases)
    for g in gens.values():
        store.put_generation(g)
    for v in verdicts.values():
        store.put_verdict(v)
    aio.run(store.flush())
    try:
        assert summarize_outcomes(store.outcomes("j")) == summarize(cases, gens, verdicts)
        assert summarize_outcomes(store.outcomes("j", limit=10)) == summarize(cases[:10], gens, verdicts)
        assert store.generation_counts() == (40, len(gens), sum(g.error is None for g in gens.values()))
        assert store.error_reasons() == [("HTTP 500", sum(g.error is not None for g in gens.values()))]
        assert store.error_reasons(limit=10) == [("HTTP 500", sum(gens[c.id].error is not None for c in cases[:10] if c.id in gens))]
    finally:
        store.close()


def test_store_write_failure_is_a_clear_error(tmp_path):
    import asyncio as aio
    import sqlite3

    from mmsafe.store import Store
    from mmsafe.store.writer import StoreError

    store = Store.open(tmp_path / "run")
    store.put_generation(Generation(case_id="a", target="t"))
    aio.run(store.flush())
    store.writer._conn.execute("DROP TABLE generations")  # make every later write fail
    store.put_generation(Generation(case_id="b", target="t"))
    with pytest.raises(StoreError, match="cannot write to the run database"):
        aio.run(store.flush())
    with pytest.raises(StoreError):
        store.put_generation(Generation(case_id="c", target="t"))
    with pytest.raises(StoreError):
        store.close()
    con = sqlite3.connect(tmp_path / "run" / "run.db")  # the database itself is intact and readable
    assert con.execute("SELECT name FROM sqlite_master WHERE name='cases'").fetchone() is not None
    con.close()


def test_store_writer_interleaved_statements_keep_the_last_row_per_key(tmp_path):
    """Answers and verdicts queued in any mix are written one call per statement: the last row
    queued for a key is the one stored, in every table."""
    import asyncio as aio

    from mmsafe.store import Store

    store = Store.open(tmp_path / "run")
    try:
        for round_ in range(3):  # each key written three times, statements alternating row by row
            for i in range(50):
                store.put_generation(Generation(case_id=f"c{i}", target="t", output=(Part(text=f"r{round_}"),)))
                store.put_verdict(Verdict(generation_key=Generation(case_id=f"c{i}", target="t").key, case_id=f"c{i}",
                                          judge="j", unsafe=bool(round_ % 2), refusal=False))
        aio.run(store.flush())
        con = store._read
        assert {t for (t,) in con.execute("SELECT json_extract(body, '$.output[0].text') FROM generations")} == {"r2"}
        assert con.execute("SELECT COUNT(*), SUM(json_extract(body, '$.unsafe')) FROM verdicts").fetchone() == (50, 0)
    finally:
        store.close()


def test_cohen_kappa_reference_values():
    from mmsafe.metrics.agreement import cohen_kappa

    # Cohen (1960)-style 2x2 table: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(1.0)
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None and cohen_kappa([], []) is None


def test_krippendorff_alpha_reference_value():
    from mmsafe.metrics.agreement import krippendorff_alpha

    # Krippendorff (2011) nominal example, 4 coders x 12 units with missing values: alpha = 0.743
    rows = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [[r[i] for r in rows] for i in range(12)]
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=1e-3)
    assert krippendorff_alpha([[1, 1], [2, 2]]) == pytest.approx(1.0)


def test_a_bootstrap_interval_that_collapsed_falls_back_to_a_score_interval():
    """All values equal: the percentile bootstrap gives a point; what is reported instead is the
    Wilson interval (means of values in [0, 1] or [0, 3]) or Newcombe's (paired 0/1)."""
    from mmsafe.metrics.generation import bootstrap_mean
    from mmsafe.metrics.intervals import bounded_mean_interval, newcombe_paired, wilson
    from mmsafe.metrics.paired import paired_difference, paired_interval

    assert bootstrap_mean([0.0, 0.0, 0.0])["ci95"] == [0.0, round(wilson(0, 3)[1], 4)]  # 0 of 3: up to 0.5615
    lo, hi = bounded_mean_interval(3.0, 3.0, 3.0, 1, 0.0, 3.0)  # ARR 3 from one prompt
    assert (lo, hi) == pytest.approx((3 * wilson(1, 1)[0], 3.0))
    assert bounded_mean_interval(0.2, 0.4, 0.3, 10) == (0.2, 0.4)  # an interval with width is kept
    # 20 pairs, all 1 -> 1: no change seen; either run's rate is only known to Wilson's margin
    l, u = newcombe_paired(20, 0, 0, 0)
    margin = 1 - wilson(20, 20)[0]
    assert (l, u) == pytest.approx((-margin, margin))
    d = paired_difference([1] * 20, [1] * 20)
    assert d["ci95"] == pytest.approx([l, u])
    # the worked example of Fagerland, Lydersen & Laake (2017, ch. 8; Cavo et al. 2012: 59, 6, 16, 80):
    # p1 − p2 = −0.0621, Newcombe square-and-add 95% CI −0.1186 to −0.0046 (here p2 − p1, signs turned)
    assert newcombe_paired(59, 6, 16, 80) == pytest.approx((0.0046, 0.1186), abs=5e-5)
    # every pair concordant at a rate of 0.5 (ad − bc = n/2): the corrected correlation is 0, not 1,
    # so the interval has width (uncorrected, it was the point [0, 0])
    lo, hi = paired_difference([1, 0] * 10, [1, 0] * 10)["ci95"]
    assert lo < 0 < hi and hi == pytest.approx(-lo)
    # with spread, Newcombe's interval and the paired bootstrap agree (large sample): a check of the formula
    a, b, c, dd = 30, 10, 20, 40
    base = [1] * a + [1] * b + [0] * c + [0] * dd
    cand = [1] * a + [0] * b + [1] * c + [0] * dd
    nl, nu = newcombe_paired(a, b, c, dd)
    bl, bu = paired_interval(base, cand)
    assert nl < (c - b) / 100 < nu and abs(nl - bl) < 0.02 and abs(nu - bu) < 0.02
