"""The refusal judge reads each distinct reply once: its verdicts with the reply memo equal its
verdicts without it, on the held-out labelled replies with repeats mixed in, and the memo is bounded."""

from __future__ import annotations

import random

from mmsafe.judges.labelled import heldout_rows
from mmsafe.judges.refusal import MEMO_CHARS, ReplyMemo, read_replies, refusal_verdicts
from mmsafe.judges.textmodel import load_models
from mmsafe.schema import Case, Generation, Message, Part


def _items(texts: list[str]) -> list[tuple[Case, Generation]]:
    out = []
    for i, t in enumerate(texts):
        case = Case(id=f"c{i}", turns=(Message.user(f"request {i}"),), label="unsafe" if i % 2 else "benign")
        out.append((case, Generation(case_id=case.id, target="t", output=(Part(text=t),), provider_refusal=i % 7 == 0)))
    return out


def test_memo_gives_the_same_verdicts_as_reading_every_reply() -> None:
    rows = heldout_rows()[:400]
    assert rows, "the shipped labelled set is missing"
    rng = random.Random(0)
    texts = [r.response for r in rows] + [rng.choice(rows).response for _ in range(300)]  # repeats
    rng.shuffle(texts)
    items = _items(texts)
    models = load_models()
    plain = refusal_verdicts(items, "refusal", models, True)
    memo = ReplyMemo()
    first = refusal_verdicts(items[:350], "refusal", models, True, memo) + refusal_verdicts(items[350:], "refusal", models, True, memo)
    again = refusal_verdicts(items, "refusal", models, True, memo)  # every reply now comes from the memo
    assert [v.model_dump() for v in first] == [v.model_dump() for v in plain]
    assert [v.model_dump() for v in again] == [v.model_dump() for v in plain]
    # the rules-only reading (no learned model) is memoised apart from it and agrees with the rules
    rules = refusal_verdicts(items, "refusal", None, False, ReplyMemo())
    assert [v.refusal for v in rules] == [v.refusal for v in refusal_verdicts(items, "refusal", None)]


def test_memo_is_bounded_and_skips_long_replies() -> None:
    memo = ReplyMemo(entries=3)
    read_replies([f"I can't help with request {i}." for i in range(10)], None, False, memo)
    assert len(memo._found) <= 3
    long = "Sure. " + "x" * MEMO_CHARS
    read_replies([long], None, False, memo)
    assert memo.get(long) is None


def test_memo_is_bounded_in_characters() -> None:
    memo = ReplyMemo(total_chars=1_000)
    texts = [f"I can't help with request {i}. " + "y" * 200 for i in range(20)]
    read_replies(texts, None, False, memo)
    assert sum(len(t) for t in memo._found) <= 1_000
    assert memo.get(texts[-1]) is not None  # the newest replies are kept
