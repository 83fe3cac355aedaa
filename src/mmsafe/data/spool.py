"""A suite's cases kept on disk instead of in memory, so a run's memory does not grow with its size.

A suite file is read once, up front, to validate every row before anything is written (a bad row
is an InputError naming its file, line and field). Each validated case goes to a temporary file as
one line, its id and its JSON, and only a summary stays in memory (how many cases, which tasks,
what sets the defaults). Every later reader (recording the cases, generating, judging) streams the
cases back from that file, one at a time."""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mmsafe.schema import Case

_quote = json.encoder.encode_basestring  # json.dumps(s, ensure_ascii=False) for a str, without its per-call cost


@dataclass
class CaseSummary:
    """What a run decides from its cases as a whole, gathered in one pass."""

    count: int = 0
    tasks: set[str] = field(default_factory=set)
    image_risk_datasets: set[str | None] = field(default_factory=set)  # datasets of t2i/benchmark prompts

    def add(self, case: Case) -> None:
        self.count += 1
        self.tasks.add(case.task)
        if case.image_risk:
            self.image_risk_datasets.add(case.metadata.get("dataset"))

    def add_row(self, task: str) -> None:
        """A user file's case, known by its task (such a case never holds image-risk prompts: those
        come from the built-in t2i datasets)."""
        self.count += 1
        self.tasks.add(task)

    @property
    def image_risk(self) -> bool:
        return bool(self.image_risk_datasets)


def summary_of(cases: Iterable[Case]) -> CaseSummary:
    """The summary a spool kept while it was written, or one pass over a list."""
    if isinstance(cases, CaseSpool):
        return cases.summary
    out = CaseSummary()
    for c in cases:
        out.add(c)
    return out


class CaseSpool:
    """Validated cases on disk, in order. Iterating yields Case objects (each read and validated
    again from its JSON); `bodies()` yields (id, JSON) without building them; `ids()` the ids.
    `cases` are Case objects, or a user file's cases as (id, task, JSON) (iter_case_json)."""

    def __init__(self, cases: Iterable[Case] | Iterable[tuple[str, str, str]]) -> None:
        self._dir = tempfile.mkdtemp(prefix="mmsafe-cases-")
        self._done = weakref.finalize(self, shutil.rmtree, self._dir, True)  # removed however the run ends
        self.path = Path(self._dir) / "cases.jsonl"
        self.summary = CaseSummary()
        try:
            with self.path.open("w", encoding="utf-8", newline="\n") as fh:
                for case in cases:
                    if isinstance(case, tuple):
                        cid, task, body = case
                        self.summary.add_row(task)
                    else:
                        self.summary.add(case)
                        cid, body = case.id, case.model_dump_json()
                    # JSON escapes every newline and tab inside strings: one case per line, the id before a tab
                    fh.write(f"{_quote(cid)}\t{body}\n")
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return self.summary.count

    def _lines(self) -> Iterator[tuple[str, str]]:
        with self.path.open(encoding="utf-8", newline="\n") as fh:  # each reader its own handle
            for line in fh:
                head, _, body = line.rstrip("\n").partition("\t")
                yield head, body

    def bodies(self) -> Iterator[tuple[str, str]]:
        for head, body in self._lines():
            yield json.loads(head), body

    def ids(self) -> Iterator[str]:
        for head, _ in self._lines():
            yield json.loads(head)

    def __iter__(self) -> Iterator[Case]:
        for _, body in self._lines():
            yield Case.model_validate_json(body)

    def close(self) -> None:
        self._done()
