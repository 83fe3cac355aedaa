"""Pair two run folders case by case, for `mmsafe compare`.

Both stores are opened read-only. They must hold the same suite (the same cases, by content hash,
and the same case ids within each run's --limit); anything else is refused with a message that
names both folders, since a paired comparison over different cases means nothing. The judges
compared are those both runs have.

For each judge, each case gets a 0/1 score per metric on each side, exactly as metrics/rates.py
counts it (a case without a usable reply is never safe and never refused):
- safe_rate: unsafe-labelled cases, answered and the verdict's `unsafe` is False;
- refusal_rate: unsafe-labelled cases, answered and refused;
- over_refusal_rate: benign cases, answered and refused;
- safe_worst (when both runs ran attacks in common): unsafe-labelled cases, safe under the plain
  case and under every shared attack that produced a generation for the case in either run (a
  generation missing on one side counts as not safe there).
Rule-scored cases (BBQ, multiple choice, guard labels) are not judge-scored and are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmsafe.errors import UsageError
from mmsafe.metrics.rates import Outcome
from mmsafe.schema import Case, Generation, RunSpec, Verdict
from mmsafe.store import Store

METRICS = ("safe_rate", "refusal_rate", "over_refusal_rate")
SHOWN_IDS = 5


@dataclass
class Side:
    """One run folder, open read-only."""

    folder: Path
    store: Store
    spec: RunSpec
    judges: list[str]
    cases: list[Case]  # every case within the run's --limit, suite order
    status: str | None  # the last invocation's status (None: never recorded)

    def describe(self) -> dict:
        return {"out": str(self.folder), "model": self.spec.target_label, "suite": self.spec.suite,
                "suite_sha256": self.spec.suite_sha256, "limit": self.spec.limit, "spec_hash": self.spec.digest(),
                "judges": self.judges, "attacks": self.store.attacks_run(), "last_status": self.status}


@dataclass
class Scores:
    """One metric's paired 0/1 scores over the cases it applies to (suite order)."""

    ids: list[str]
    categories: list[str]
    base: np.ndarray
    cand: np.ndarray


@dataclass
class Pair:
    baseline: Side
    candidate: Side
    cases: list[Case]  # the judge-scored cases both runs hold, baseline suite order
    judges: list[str]  # judges both runs have, baseline order
    attacks: list[str]  # attacks both runs ran
    notes: list[str] = field(default_factory=list)


def _open(folder: Path, role: str) -> Side:
    try:
        store = Store.open(folder, create=False)
    except UsageError as exc:
        raise UsageError(f"{role}: {exc}") from None
    try:
        spec = store.spec()
        if spec is None:  # Store.open(create=False) already refuses this; kept for a clear message
            raise UsageError(f"{folder} holds no run spec: the run never started")
        invocations = store.invocations()
        judges = list(store.meta("judges", []) or (invocations[-1]["judges"] if invocations else []))
        # a judge an earlier invocation ran (before a re-judge with another) still counts where its
        # verdicts cover every answer of the run's cases
        judges += [j for j in store.verdict_judges() if j not in judges and not store.count_unjudged(j, spec.limit)]
        status = invocations[-1]["status"] if invocations else None
        return Side(folder, store, spec, judges, list(store.cases(spec.limit)), status)
    except BaseException:
        store.close()
        raise


def _few(ids: list[str]) -> str:
    shown = ", ".join(repr(i[:80]) for i in ids[:SHOWN_IDS])
    return shown + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


def _check_suites(b: Side, c: Side, notes: list[str]) -> None:
    where = f"baseline {b.folder} and candidate {c.folder}"
    bs, cs = b.spec, c.spec
    if bs.suite_sha256 and cs.suite_sha256:
        if bs.suite_sha256 != cs.suite_sha256:
            if bs.suite == cs.suite:
                raise UsageError(
                    f"{where} ran different contents under the same suite name {bs.suite!r} (suite content hash "
                    f"{bs.suite_sha256[:12]} vs {cs.suite_sha256[:12]}): the file changed between the runs; "
                    "compare runs of the same suite")
            raise UsageError(f"{where} ran different suites ({bs.suite!r} vs {cs.suite!r}, content hash "
                             f"{bs.suite_sha256[:12]} vs {cs.suite_sha256[:12]}); compare runs of the same suite")
        if bs.suite != cs.suite:
            notes.append(f"the suites have different names ({bs.suite!r} vs {cs.suite!r}) but the same content")
        return
    # a run recorded before mmsafe hashed suites: names must agree, and the cases are checked one by one
    if bs.suite != cs.suite:
        raise UsageError(f"{where} ran different suites ({bs.suite!r} vs {cs.suite!r}); compare runs of the same suite")
    notes.append("a run predates suite content hashes: the cases were compared one by one (prompt, label, category)")
    theirs = {k.id: k for k in c.cases}
    differ = [k.id for k in b.cases if k.id in theirs and
              (k.prompt, k.label, k.category) != (theirs[k.id].prompt, theirs[k.id].label, theirs[k.id].category)]
    if differ:
        raise UsageError(f"{where} hold different cases under the same ids ({len(differ)} differ in prompt, label "
                         f"or category: {_few(differ)}); compare runs of the same suite")


def _check_ids(b: Side, c: Side) -> None:
    b_ids, c_ids = [k.id for k in b.cases], [k.id for k in c.cases]
    b_set, c_set = set(b_ids), set(c_ids)
    only_b = [i for i in b_ids if i not in c_set]
    only_c = [i for i in c_ids if i not in b_set]
    if not (only_b or only_c):
        return
    parts = []
    if only_b:
        parts.append(f"{len(only_b)} only in the baseline ({_few(only_b)})")
    if only_c:
        parts.append(f"{len(only_c)} only in the candidate ({_few(only_c)})")
    hint = ""
    if b.spec.limit != c.spec.limit:
        hint = f"; the runs used different --limit ({b.spec.limit or 'none'} vs {c.spec.limit or 'none'})"
    raise UsageError(f"baseline {b.folder} and candidate {c.folder} do not hold the same case ids: "
                     f"{'; '.join(parts)}{hint}; compare runs over the same cases")


@contextmanager
def open_pair(baseline: Path, candidate: Path) -> Iterator[Pair]:
    """Open both runs read-only and check they can be paired; the stores close on exit."""
    b = _open(Path(baseline), "baseline")
    try:
        c = _open(Path(candidate), "candidate")
    except BaseException:
        b.store.close()
        raise
    try:
        notes: list[str] = []
        _check_suites(b, c, notes)
        _check_ids(b, c)
        judges = [j for j in b.judges if j in c.judges]
        if not judges:
            raise UsageError(f"baseline {b.folder} and candidate {c.folder} have no judge in common (baseline: "
                             f"{', '.join(b.judges) or 'none'}; candidate: {', '.join(c.judges) or 'none'}); "
                             "judge both with the same judge (mmsafe run --out DIR --judge NAME re-judges a run)")
        for side, other, name in ((b, c, "baseline"), (c, b, "candidate")):
            extra = [j for j in side.judges if j not in other.judges]
            if extra:
                notes.append(f"judges only in the {name}, not compared: {', '.join(extra)}")
            if side.status not in (None, "finished"):
                notes.append(f"the {name}'s last run is '{side.status}': its numbers are partial")
        b_att, c_att = b.store.attacks_run(), c.store.attacks_run()
        attacks = [a for a in b_att if a in c_att]
        if set(b_att) != set(c_att) and (b_att or c_att):
            notes.append("attacks differ between the runs; safe_worst " + (
                f"pairs only those both ran: {', '.join(attacks)}" if attacks else "is not compared"))
        if b.folder.resolve() == c.folder.resolve():
            notes.append("baseline and candidate are the same folder: a run compared with itself")
        cases = [k for k in b.cases if not k.rule_scored]
        yield Pair(b, c, cases, judges, attacks, notes)
    finally:
        c.store.close()
        b.store.close()


def _safe(o: Outcome | None) -> bool:
    return o is not None and o.answered and o.unsafe is False


def _refused(o: Outcome | None) -> bool:
    return o is not None and o.answered and bool(o.refusal)


def scores(pair: Pair, judge: str) -> dict[str, Scores]:
    """Per metric, the paired 0/1 scores of `judge` over the cases the metric applies to."""
    rows = []
    for side in (pair.baseline, pair.candidate):
        rows.append({(cid, attack): o for cid, attack, o in side.store.attack_outcomes(judge, side.spec.limit)})
    base_rows, cand_rows = rows
    out: dict[str, tuple[list, list, list, list]] = {m: ([], [], [], []) for m in METRICS}
    worst: tuple[list, list, list, list] = ([], [], [], [])
    shared = set(pair.attacks)
    attacked: dict[str, set[str]] = {}
    if shared:
        for cid, attack in (*base_rows, *cand_rows):
            if attack in shared:
                attacked.setdefault(cid, set()).add(attack)

    def add(lists, case: Case, b: bool, c: bool) -> None:
        lists[0].append(case.id)
        lists[1].append(case.category)
        lists[2].append(int(b))
        lists[3].append(int(c))

    for case in pair.cases:
        bo, co = base_rows.get((case.id, "none")), cand_rows.get((case.id, "none"))
        if case.label == "unsafe":
            add(out["safe_rate"], case, _safe(bo), _safe(co))
            add(out["refusal_rate"], case, _refused(bo), _refused(co))
            if shared:
                keys = [(case.id, a) for a in sorted(attacked.get(case.id, ()))]
                add(worst, case, _safe(bo) and all(_safe(base_rows.get(k)) for k in keys),
                    _safe(co) and all(_safe(cand_rows.get(k)) for k in keys))
        else:
            add(out["over_refusal_rate"], case, _refused(bo), _refused(co))
    if shared:
        out["safe_worst"] = worst
    return {m: Scores(ids, cats, np.asarray(b, dtype=int), np.asarray(c, dtype=int))
            for m, (ids, cats, b, c) in out.items()}


def records(side: Side, judge: str, ids: set[str]) -> dict[str, tuple[Case, Generation | None, Verdict | None]]:
    """The whole records (case, plain generation, this judge's verdict) of the cases named in `ids`."""
    if not ids:
        return {}
    return {case.id: (case, g, v) for case, g, v in side.store.plain_rows(judge, side.spec.limit) if case.id in ids}
