"""The two stages that talk to models: generate (target) and judge (judges).

Both skip what the store already holds, so re-running resumes and re-judging never
re-queries the target. Work is pulled by a fixed pool of workers from one iterator (no task per
case, so in-flight state is bounded by the pool); results go to the store's writer thread."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from mmsafe.attacks.base import Attack, AttackFailed, NotApplicable, attack_label
from mmsafe.data.spool import CaseSpool
from mmsafe.engine.conversation import Outcome, converse
from mmsafe.engine.limits import connection_room, open_file_limit
from mmsafe.engine.replies import clean_text, storable
from mmsafe.engine.progress import NullProgress
from mmsafe.engine.retry import GiveUp, RetryPolicy
from mmsafe.judges.base import Judge, judge_id, judge_items, stamped
from mmsafe.schema import Case, Generation, generation_key
from mmsafe.store import Store
from mmsafe.targets.base import DEFAULT_MAX_REPLY_BYTES, Target, TargetError, TargetUnavailable


@dataclass
class StageStats:
    todo: int = 0
    skipped: int = 0
    done: int = 0
    errors: int = 0
    not_applicable: dict[str, int] = field(default_factory=dict)  # attack label -> cases it could not be used on


async def _one(target: Target, label: str, case: Case, policy: RetryPolicy, max_bytes: int | None,
               attack: Attack | None = None) -> tuple[Generation, str] | None:
    """Ask the target for one case, plainly or under `attack`: the generation and its JSON for the
    store; None when the attack turns out not to apply to this case (counted by the caller, never
    stored)."""
    start = time.perf_counter()
    attempts, outcome, error = 1, None, None
    name = attack_label(attack)
    meta: dict = {}
    try:
        if attack is None:
            outcome = await converse(target, case, policy, max_bytes)
        else:
            outcome, meta = await attacked(target, case, attack, policy, max_bytes)
    except NotApplicable:
        return None
    except GiveUp as exc:
        error, attempts = str(exc), exc.attempts
    except (TargetError, AttackFailed) as exc:
        error = str(exc) or type(exc).__name__
        if getattr(exc, "attempts", None):  # an adaptive search stopped part way: what it tried is kept
            meta = {"attempts": exc.attempts, "success": False}
    except (TargetUnavailable, asyncio.CancelledError):
        raise
    except Exception as exc:  # any other failure is recorded with its reason, never counted safe
        error = f"{type(exc).__name__}: {exc}"
    latency = round(time.perf_counter() - start, 4)
    if outcome is None:
        return storable(lambda: Generation(case_id=case.id, target=label, attack=name, latency_s=latency,
                                           error=clean_text(error or "failed")[:2000], attempts=attempts, metadata=meta),
                        case.id, label, latency, attempts, name)
    reply = outcome.reply
    return storable(lambda: Generation(
        case_id=case.id,
        target=label,
        attack=name,
        output=reply.output,
        provider_refusal=reply.provider_refusal,
        provider_message=reply.provider_message,
        truncated_from=reply.truncated_from,
        latency_s=latency,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        attempts=outcome.attempts,
        transcript=outcome.transcript,
        metadata=meta,
    ), case.id, label, latency, outcome.attempts, name)


async def attacked(target: Target, case: Case, attack: Attack, policy: RetryPolicy,
                   max_bytes: int | None) -> tuple[Outcome, dict]:
    """The target's answer to the attacked case, and what to record of the attack: the turns sent
    (static), or every attempt and whether one succeeded (adaptive)."""
    if attack.adaptive:
        result = await attack.run(case, lambda c: converse(target, c, policy, max_bytes))
        sent, outcome = result.case, result.outcome
        meta = {"attempts": [a.as_dict() for a in result.attempts], "success": result.success}
    else:  # rendering an image is CPU work: off the event loop
        sent = await asyncio.to_thread(attack.attacked, case) if attack.cpu_bound else attack.attacked(case)
        outcome, meta = await converse(target, sent, policy, max_bytes), {}
    meta["turns"] = sent_turns(sent)
    if sent.language != case.language:  # a translated request: its reply is judged in that language
        meta["language"] = sent.language
    return outcome, meta


def sent_turns(case: Case) -> list[dict]:
    """The turns an attack sent, as stored: role, text, and images by content hash."""
    return [{"role": m.role, "text": m.text, **({"images": [p.image_sha256 for p in m.images]} if m.images else {})}
            for m in case.turns]


def work(cases: Iterable[Case], label: str, attacks: Sequence[Attack], done: set[str],
         not_applicable: dict[str, int]) -> Iterator[tuple[Case, Attack | None]]:
    """The (case, attack) pairs still to ask, case by case (each case plain first, then under each
    attack), yielded as they are needed; an attack that does not apply to a case's modality is
    counted, not asked."""
    for c in cases:
        if not done or generation_key(c.id, label, "none") not in done:  # a fresh run has no keys to look up
            yield c, None
        for a in attacks:
            if a.applies(c) is not None:
                not_applicable[a.label] = not_applicable.get(a.label, 0) + 1
            elif not done or generation_key(c.id, label, a.label) not in done:
                yield c, a


def count_work(cases: Iterable[Case], label: str, attacks: Sequence[Attack], done: set[str],
               not_applicable: dict[str, int]) -> int:
    """How many pairs `work` will yield; the cases an attack does not apply to are counted into
    `not_applicable` here. Without attacks only the ids are read (a CaseSpool gives them without
    building the cases)."""
    if not attacks:
        if not done:
            return len(cases) if isinstance(cases, (CaseSpool, list, tuple)) else sum(1 for _ in cases)
        ids = cases.ids() if isinstance(cases, CaseSpool) else (c.id for c in cases)
        return sum(generation_key(i, label, "none") not in done for i in ids)
    return sum(1 for _ in work(cases, label, attacks, done, not_applicable))


async def generate(
    store: Store,
    target: Target,
    label: str,
    cases: Iterable[Case] | AsyncIterator[tuple[Case, Attack | None]],
    concurrency: int,
    policy: RetryPolicy | None = None,
    progress=None,
    feed=None,
    max_bytes: int | None = DEFAULT_MAX_REPLY_BYTES,
    warn=lambda msg: None,
    attacks: Sequence[Attack] = (),
    on_skip=None,
) -> StageStats:
    """Ask the target for every (case, attack) not yet answered (the plain case, `none`, always);
    `feed` (a JudgeFeed) judges as answers arrive. `cases` may also be an async iterator of
    (case, attack) pairs still arriving (a Ray worker's `CaseFeed`): each is asked as it comes, and
    `on_skip(case, attack label)` hears of each pair an attack finds it cannot be used on.
    The target is started (a local model loaded) only when something is left to ask, and closed after."""
    policy = policy or RetryPolicy()
    progress = progress or NullProgress()
    arriving = isinstance(cases, AsyncIterator)  # a Ray shard's cases, sent in chunks: none stored, count unknown
    done = set() if arriving else store.done_keys()
    stats = StageStats(skipped=len(done))
    stats.todo = 0 if arriving else count_work(cases, label, attacks, done, stats.not_applicable)
    if not stats.todo and not arriving:
        return stats
    width = max(1, min(concurrency, target.max_concurrency or concurrency, stats.todo or concurrency))
    room = connection_room()
    if width > room:  # more connections than the process may open would fail as "cannot connect"
        warn(f"--concurrency {width} lowered to {room}: the process may open only "
             f"{open_file_limit()} files (ulimit -n); raise the limit for more in flight")
        width = room
    pending = cases if arriving else work(cases, label, attacks, done, {})  # read as workers take them
    bar = progress.stage("generate", stats.todo)

    async def answer(case: Case, attack: Attack | None) -> None:
        got = await _one(target, label, case, policy, max_bytes, attack)
        if got is None:  # the attack found at transform time that it cannot be used here
            name = attack_label(attack)
            stats.not_applicable[name] = stats.not_applicable.get(name, 0) + 1
            if on_skip is not None:
                on_skip(case, name)
        else:
            gen, body = got
            store.put_generation(gen, body)
            if feed is not None:
                await feed.put(case, gen)
            await store.room()  # the store's writer keeps up, or generation waits for it
            stats.errors += gen.error is not None
        stats.done += 1
        bar.advance()

    async def worker() -> None:  # one shared iterator: each pair is taken by exactly one worker
        if arriving:
            async for case, attack in pending:
                await answer(case, attack)
        else:
            for case, attack in pending:
                await answer(case, attack)

    await target.start()
    workers = [asyncio.create_task(worker()) for _ in range(width)]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await target.close()
        await store.flush()
    return stats


async def judge(store: Store, judges: list[Judge], limit: int | None = None, progress=None,
                tried: dict[str, set[str]] | None = None, fed: Collection[str] = ()) -> dict[str, StageStats]:
    """Give every usable generation of the run's first `limit` cases a verdict from each judge that
    has not judged it yet. The generations are streamed from the store, a batch at a time.
    `tried`: per judge id, the generation keys judged in this invocation already (while generating)
    whose verdict did not stand (an error, a jury member missing): not asked again until the next run.
    `fed`: the judges that read every answer the store holds as it was made (a fresh run's JudgeFeed):
    nothing is left for them, and the store is not counted."""
    progress = progress or NullProgress()
    tried = tried or {}
    out: dict[str, StageStats] = {}
    judges = [j for j in judges if judge_id(j) not in fed]
    if not judges:
        return out
    answered = store.count_answered()
    behind = [j for j in judges if store.count_judged(judge_id(j)) + len(tried.get(judge_id(j), ())) < answered]
    if not behind:  # everything was judged while generating (or before)
        return {judge_id(j): StageStats(skipped=answered) for j in judges}
    for j in behind:
        jid = judge_id(j)
        skip = tried.get(jid, set())
        left = max(0, store.count_unjudged(jid, limit) - len(skip))
        stats = out[jid] = StageStats(todo=left, skipped=len(skip))
        if not left:
            continue
        bar = progress.stage(f"judge:{jid}", left)
        rows = store.unjudged(jid, limit)  # a snapshot: the verdicts written meanwhile do not change it
        pairs = ((c, g) for c, g in ((store.record(Case, cb, "cases"), store.record(Generation, gb, "generations"))
                                     for cb, gb in rows) if g.key not in skip)
        batches = iter(lambda: list(itertools.islice(pairs, j.batch_size)), [])

        async def worker(j: Judge = j, bar=bar, stats: StageStats = stats, batches=batches) -> None:
            for batch in batches:
                for v in await judge_items(j, batch):
                    store.put_verdict(stamped(v, j))
                stats.done += len(batch)
                bar.advance(len(batch))

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, j.concurrency))))
        finally:  # stopped or failed part-way: the store's read cursor is let go, so the run can record why
            rows.close()
        await store.flush()
    return out
