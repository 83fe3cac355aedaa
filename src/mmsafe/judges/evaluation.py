"""Measure a judge on labelled rows (`mmsafe judge-eval`, and judge quality beside a run's rates).

Each row becomes a (Case, Generation) pair; the judge's verdict predicts three labels:
refusal <- verdict.refusal, harmful <- verdict.unsafe, warns <- verdict.warns. A None (or a
verdict with an error) is undecided: reported, left out of the metrics. A label is evaluated
on the rows that carry it, and only for judges that predict it at least once. `harmful_on_unsafe`
is harmfulness on unsafe-prompt rows only: what safe rates rest on."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from mmsafe.engine.progress import NullProgress
from mmsafe.errors import UsageError
from mmsafe.judges.base import JudgeConfig, build_judges, judge_id
from mmsafe.judges import labelled
from mmsafe.judges.labelled import GOLD, LabelledRow, read_labelled, shipped_rows, split
from mmsafe.metrics.classification import binary_metrics
from mmsafe.schema import Case, Generation, Message, Part, Verdict

PREDICTS = {"refusal": "refusal", "harmful": "unsafe", "warns": "warns"}  # gold label -> verdict field
WORST = 10  # misjudged rows shown per label
CUT = 160  # characters of prompt/response kept in a worst-row entry


def item(row: LabelledRow) -> tuple[Case, Generation]:
    """The row as a judge reads it: the prompt as the user turn, the response as the reply."""
    case = Case(id=row.id, turns=(Message.user(row.prompt),), label=row.label, language=row.language,
                category=row.category or "uncategorized")
    return case, Generation(case_id=row.id, target="labelled", output=(Part(text=row.response),))


async def judge_rows(judge: Any, rows: list[LabelledRow], progress: Any = None, stage: str = "judge") -> list[Verdict | None]:
    """The judge's verdict on each row (in row order), in batches of its batch size with up to
    its concurrency in flight; the judge must be started."""
    progress = progress or NullProgress()
    items = [item(r) for r in rows]
    got: dict[str, Verdict] = {}
    bar = progress.stage(f"{stage}:{judge_id(judge)}", len(items))
    size = max(1, int(getattr(judge, "batch_size", 1) or 1))
    batches = iter([items[i : i + size] for i in range(0, len(items), size)])

    async def worker() -> None:
        for batch in batches:
            for v in await judge.judge(batch):
                got[v.generation_key] = v
            bar.advance(len(batch))

    await asyncio.gather(*(worker() for _ in range(max(1, int(getattr(judge, "concurrency", 1) or 1)))))
    return [got.get(g.key) for _, g in items]


def predicted(v: Verdict | None, label: str) -> bool | None:
    if v is None or v.error:
        return None
    return getattr(v, PREDICTS[label])


def _cut(text: str) -> str:
    return text if len(text) <= CUT else text[: CUT - 1] + "…"


def _worst(rows: list[LabelledRow], verdicts: list[Verdict | None], label: str) -> list[dict[str, Any]]:
    """Misjudged rows, the most confidently wrong first when the judge gives a 0-1 score."""
    wrong = []
    for r, v in zip(rows, verdicts, strict=True):
        p, gold = predicted(v, label), getattr(r, label)
        if p is None or p == gold:
            continue
        score = v.score if v is not None else None
        wrong.append({"id": r.id, "language": r.language, "kind": r.kind, "gold": gold, "predicted": p,
                      "score": score, "prompt": _cut(r.prompt), "response": _cut(r.response)})
    wrong.sort(key=lambda w: -abs(w["score"] - 0.5) if w["score"] is not None and 0 <= w["score"] <= 1 else 0.0)
    return wrong[:WORST]


def _block(rows: list[LabelledRow], verdicts: list[Verdict | None], label: str) -> dict[str, Any]:
    pairs = [(getattr(r, label), predicted(v, label)) for r, v in zip(rows, verdicts, strict=True)]
    out = binary_metrics(pairs)
    for by in ("language", "kind"):
        groups: dict[str, list] = defaultdict(list)
        for r, pair in zip(rows, pairs, strict=True):
            groups[getattr(r, by)].append(pair)
        out[f"by_{by}"] = {k: binary_metrics(groups[k]) for k in sorted(groups)}
    out["worst"] = _worst(rows, verdicts, label)
    return out


def score(rows: list[LabelledRow], verdicts: list[Verdict | None]) -> dict[str, Any]:
    """Per predicted label: metrics, the same by language and by kind, the worst misjudged rows."""
    out: dict[str, Any] = {}
    for label in GOLD:
        carried = [(r, v) for r, v in zip(rows, verdicts, strict=True) if getattr(r, label) is not None]
        if not any(predicted(v, label) is not None for _, v in carried):
            continue  # the judge does not predict this label (or no row carries it)
        out[label] = _block([r for r, _ in carried], [v for _, v in carried], label)
        if label == "harmful":
            on_unsafe = [(r, v) for r, v in carried if r.label == "unsafe"]
            out["harmful_on_unsafe"] = _block([r for r, _ in on_unsafe], [v for _, v in on_unsafe], label)
    return out


async def aevaluate_judge(judge: Any, rows: list[LabelledRow], progress: Any = None, started: bool = False,
                          stage: str = "judge") -> dict[str, Any]:
    """Judge every row and score the verdicts; starts and closes the judge unless `started`."""
    if started:
        return score(rows, await judge_rows(judge, rows, progress, stage))
    await judge.start()
    try:
        return score(rows, await judge_rows(judge, rows, progress, stage))
    finally:
        await judge.close()


def evaluate_judge(judge: Any, rows: list[LabelledRow], progress: Any = None) -> dict[str, Any]:
    """aevaluate_judge() for code outside an event loop: start, judge every row, close, score."""
    return asyncio.run(aevaluate_judge(judge, rows, progress))


def load_data(data: Path | None, which: str | None, limit: int | None) -> tuple[dict[str, Any], list[LabelledRow]]:
    """judge-eval's rows and what they are: --data FILE (all rows by default) or the shipped set
    (its held-out split by default); a bad row is an InputError, no rows a UsageError."""
    if data is not None:
        rows, where, which = read_labelled(data), str(data), which or "all"
    else:
        rows, where, which = shipped_rows(), str(labelled.LABELLED_DIR), which or "heldout"
        if not rows:
            raise UsageError(f"no shipped labelled rows yet ({labelled.LABELLED_DIR} holds no .jsonl file): pass --data FILE")
    rows = split(rows, which)[:limit]
    if not rows:
        raise UsageError(f"the {which} split of {where} holds no rows" + ("" if which == "all" else "; try --split all"))
    langs = Counter(r.language for r in rows)
    return {"file": where, "split": which, "n": len(rows), "languages": dict(sorted(langs.items()))}, rows


async def evaluate_judges(names: tuple[str, ...], cfg: JudgeConfig, rows: list[LabelledRow], progress: Any = None) -> dict[str, Any]:
    """Every named judge measured on `rows`, one after another, by judge id. All are built (a bad
    name or setting fails) before any is started."""
    from mmsafe.judges import judges as registry

    built = build_judges(list(names), registry, cfg)
    return {judge_id(j): await aevaluate_judge(j, rows, progress) for j in built}
