"""The run database: one SQLite file (WAL) per run folder holding the spec, cases,
generations and verdicts. Every stage reads from it and writes to it, so any stage can be
re-run alone and a killed run resumes where it stopped."""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from mmsafe.errors import UsageError
from mmsafe.redact import redact
from mmsafe.metrics.rates import Outcome
from mmsafe.metrics.unisafe import UnisafeRow
from mmsafe.schema import CONTENT_FIELDS, RULE_SCORINGS, UNISAFE_TASKS, Case, Generation, RunSpec, Verdict, spec_diff
from mmsafe.store.blobs import BlobStore
from mmsafe.store.writer import Writer

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
  version TEXT NOT NULL, spec_hash TEXT NOT NULL, judges TEXT NOT NULL, error TEXT);
CREATE TABLE IF NOT EXISTS cases (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS generations (
  key TEXT PRIMARY KEY, case_id TEXT NOT NULL, target TEXT NOT NULL, attack TEXT NOT NULL,
  failed INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (
  generation_key TEXT NOT NULL, judge TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (generation_key, judge));
CREATE INDEX IF NOT EXISTS generations_case ON generations (case_id, attack);
"""
DB_NAME = "run.db"
TABLES = ("meta", "runs", "cases", "generations", "verdicts")  # what a reader needs
# cases whose replies judges score (rule-scored ones, BBQ or a guard label, have their own metrics)
JUDGED = "COALESCE(json_extract(c.body, '$.reference.scoring'), 'judge') NOT IN (" + ",".join(
    f"'{s}'" for s in RULE_SCORINGS) + ")"

# a UniSAFE case (its own metrics): one of its tasks, outside the protocol suites (their t2i image
# cases have their own metrics); {body} is the cases table's body column
UNISAFE_CASE = ("(json_extract({body}, '$.metadata.mode') IS NULL AND json_extract({body}, '$.task') IN ("
                + ",".join(f"'{t}'" for t in sorted(UNISAFE_TASKS)) + "))")


# a verdict that stands: no error, and not one a jury decided with a member missing (raw.incomplete);
# any other is judged again by the next run's judge stage
USABLE = "json_extract(v.body, '$.error') IS NULL AND json_extract(v.body, '$.raw.incomplete') IS NULL"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against process kill
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def folder_error(folder: Path, exc: Exception) -> UsageError:
    """An OS or SQLite failure on a run folder (read-only, disk full, not a folder), as a user error."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return UsageError(f"{folder}: cannot use this run folder: {reason}")


def damaged(path: Path, what: str) -> UsageError:
    return UsageError(f"{path}: the run database is damaged: {what}. It was changed outside mmsafe; restore it "
                      "from a copy, or run again into a new --out")


def _first_line(exc: BaseException) -> str:
    """What is wrong, in one short line: pydantic's first error (where and what), else the text."""
    errors = exc.errors() if hasattr(exc, "errors") else None
    if errors:
        where = ".".join(str(p) for p in errors[0].get("loc", ())) or "the record"
        return redact(f"{where}: {errors[0].get('msg', '')}")[:160]
    return redact(" ".join(str(exc).split()))[:160]


R = TypeVar("R", bound=BaseModel)


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A run database this process may not write (an archived or shared run, a read-only mount):
    opened read-only, and, where SQLite cannot even keep its shared-memory file beside it, as an
    immutable file (what is in run.db; a run still writing there is not seen)."""
    uri = "file:" + urllib.parse.quote(str(path.resolve()))
    conn = sqlite3.connect(uri + "?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    return sqlite3.connect(uri + "?immutable=1", uri=True, check_same_thread=False)


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


class Store:
    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = path
        read_only = not create and path.exists() and not _writable(path)  # report, export, compare only
        self._read = _connect_readonly(path) if read_only else _connect(path)
        try:
            if not create:  # a reader (report, export, compare): never changes the folder it reads
                self._check_run_db()
            else:
                self._read.executescript(SCHEMA)
        except BaseException:
            self._read.close()
            raise
        self._writer: Writer | None = None
        self.blobs = BlobStore(path.parent / "blobs")

    @classmethod
    def open(cls, folder: str | Path, create: bool = True) -> Store:
        """Open DIR/run.db; with create, make the folder and the database if they are missing.
        A database that is not an mmsafe run (empty, damaged, another program's) is a UsageError."""
        folder = Path(folder)
        db = folder / DB_NAME
        try:
            exists = db.exists()
        except OSError as exc:  # a folder this user may not enter
            raise folder_error(folder, exc) from None
        if not exists:
            if not create:
                raise UsageError(f"{folder} holds no mmsafe run ({DB_NAME} not found)")
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise folder_error(folder, exc) from None
        try:
            return cls(db, create)
        except sqlite3.OperationalError as exc:  # cannot open, read-only, disk full
            raise folder_error(folder, exc) from None
        except sqlite3.DatabaseError as exc:  # garbage where run.db should be
            raise UsageError(f"{db}: not a readable mmsafe run database ({exc})") from None
        except OSError as exc:
            raise folder_error(folder, exc) from None

    def _check_run_db(self) -> None:
        tables = {t for (t,) in self._read.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables or self.spec() is None:
            raise UsageError(f"{self.path} holds no mmsafe run (no run spec: the run never started, or "
                             "the file is not an mmsafe run database)")
        missing = [t for t in TABLES if t not in tables]
        if missing:
            raise damaged(self.path, f"table {missing[0]!r} is missing")

    def record(self, cls: type[R], body: str, table: str) -> R:
        """A stored record read back; one that no longer parses (the file was changed outside
        mmsafe) is a UsageError naming the database and the table, never a traceback."""
        try:
            return cls.model_validate_json(body)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise damaged(self.path, f"a {table} record does not read as one ({_first_line(exc)})") from None

    # -- writing (off the event loop) ---------------------------------------------------
    @property
    def writer(self) -> Writer:
        if self._writer is None:
            self._writer = Writer(_connect(self.path))
        return self._writer

    def put_generation(self, g: Generation, body: str | None = None) -> None:
        """Queue one generation for writing; `body` is its JSON when the caller has made it already."""
        self.writer.put(
            "INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?)",
            (g.key, g.case_id, g.target, g.attack, int(g.error is not None), body or g.model_dump_json()),
        )

    def put_verdict(self, v: Verdict) -> None:
        self.writer.put("INSERT OR REPLACE INTO verdicts VALUES (?,?,?)", (v.generation_key, v.judge, v.model_dump_json()))

    async def room(self) -> None:
        """Wait while the writer is far behind (see Writer.room)."""
        if self._writer is not None:
            await self._writer.room()

    async def flush(self) -> None:
        if self._writer is not None:
            await self._writer.flush()

    def close(self) -> None:
        try:
            if self._writer is not None:
                writer, self._writer = self._writer, None
                writer.close()
        finally:
            self._read.close()

    # -- run spec and cases (written once, synchronously, before the run starts) ---------
    def bind_spec(self, spec: RunSpec) -> None:
        """Record the spec, or check that a resumed run asks for one whose answers it can reuse
        (only `--limit` may change: the run grows or shrinks over the same ordered cases)."""
        stored = self.spec()
        if stored is not None:  # a run recorded before mmsafe hashed input files adopts today's hashes
            stored = stored.model_copy(update={k: getattr(spec, k) for k in CONTENT_FIELDS if getattr(stored, k) is None})
            if stored.suite_sha256 and stored.suite_sha256 == spec.suite_sha256:
                stored = stored.model_copy(update={"suite": spec.suite})  # the same file's bytes, moved: the same suite
        if stored is None or stored.digest() == spec.digest():
            with self._read:
                self._read.execute("INSERT OR REPLACE INTO meta VALUES ('spec', ?)", (spec.model_dump_json(),))
                self._read.execute("INSERT OR REPLACE INTO meta VALUES ('spec_hash', ?)", (spec.digest(),))
            return
        raise UsageError(
            f"--out {self.path.parent} holds a different run ({spec_diff(stored, spec)}); "
            "use a new --out folder, or the same flags to resume it"
        )

    # -- invocations: every `mmsafe run` on this folder, for the audit trail -------------------
    def begin_run(self, spec_hash: str, judges: list[str], version: str) -> int:
        with self._read:
            cur = self._read.execute(
                "INSERT INTO runs (started, status, version, spec_hash, judges) VALUES (?, 'running', ?, ?, ?)",
                (_now(), version, spec_hash, json.dumps(judges)))
        return int(cur.lastrowid)

    def end_run(self, run_id: int, status: str, error: str | None = None) -> None:
        """status: finished | interrupted | failed. A run killed outright stays 'running'."""
        with self._read:
            self._read.execute("UPDATE runs SET finished=?, status=?, error=? WHERE id=?",
                               (_now(), status, redact(error) if error else None, run_id))

    def invocations(self) -> list[dict]:
        cols = ("started", "finished", "status", "version", "judges", "error")
        rows = self._read.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY id").fetchall()
        return [dict(zip(cols, r, strict=True)) | {"judges": self._json(r[4], list, "the runs table's judges")}
                for r in rows]

    def _flag(self, value: object, field: str) -> bool | None:
        """A verdict's true/false field as SQLite's JSON functions give it (1, 0 or NULL); a string
        or any other number ("no" reads as true to Python) is a damaged record, never a rate."""
        if value is None:
            return None
        if type(value) is int and value in (0, 1):
            return value == 1
        raise damaged(self.path, f"a verdict's {field!r} is {str(value)[:40]!r}, not true or false")

    def _json(self, text: object, kind: type, what: str) -> Any:
        """A JSON value this store wrote, read back as `kind`; anything else (changed outside
        mmsafe) is the damaged-database error naming what, never a traceback or a wrong number."""
        try:
            value = json.loads(text) if isinstance(text, (str, bytes)) else None
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, kind):
            raise damaged(self.path, f"{what} is not a JSON {kind.__name__}")
        return value

    def spec(self) -> RunSpec | None:
        row = self._read.execute("SELECT value FROM meta WHERE key='spec'").fetchone()
        if row is None:
            return None
        try:
            return RunSpec.model_validate_json(row[0])
        except ValueError as exc:
            raise UsageError(f"{self.path}: the stored run spec is damaged ({str(exc)[:200]})") from None

    def set_meta(self, key: str, value: object) -> None:
        with self._read:
            self._read.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def meta(self, key: str, default: object = None) -> Any:
        """A stored value; with a default, of the default's type (a dict for {}), else damaged."""
        row = self._read.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is None:
            return default
        return self._json(row[0], object if default is None else type(default), f"meta key {key!r}")

    def add_cases(self, cases: Iterable[Case]) -> int:
        """Record the run's cases in order. A case this run recorded before (a resumed run) must be
        the same case: answers stored for it are reused, so a changed prompt, label or image (the
        suite file's hash does not cover image files) is refused, naming the case, before anything
        is asked. `cases` may be a CaseSpool: its cases are streamed, never held all at once."""
        from mmsafe.data.spool import CaseSpool

        bodies = cases.bodies() if isinstance(cases, CaseSpool) else ((c.id, c.model_dump_json()) for c in cases)
        return self.add_bodies(bodies)

    def add_bodies(self, bodies: Iterable[tuple[str, str]], chunk: int = 500) -> int:
        """add_cases for (id, case JSON) pairs, a chunk at a time (memory does not grow with the suite)."""
        fresh = self._read.execute("SELECT 1 FROM cases LIMIT 1").fetchone() is None
        n = 0
        with self._read:  # one transaction: a refused case leaves the recorded ones as they were
            for part in _chunks(bodies, chunk):
                if not fresh:
                    marks = ",".join("?" * len(part))
                    stored = dict(self._read.execute(f"SELECT id, body FROM cases WHERE id IN ({marks})",
                                                     [i for i, _ in part]))
                    for cid, body in part:
                        old = stored.get(cid)
                        if old is not None and old != body:
                            self._check_same(old, self.record(Case, body, "cases"))
                self._read.executemany("INSERT OR IGNORE INTO cases VALUES (?,?,?)",
                                       [(cid, n + i, body) for i, (cid, body) in enumerate(part, 1)])
                n += len(part)
        return n

    def _check_same(self, old: str, c: Case) -> None:
        # where a case came from (file name, line) is provenance, not the case: a suite file moved or
        # renamed with the same bytes is the same suite
        if self.record(Case, old, "cases").model_copy(update={"source": None}) != c.model_copy(update={"source": None}):
            where = f" ({c.source.file} line {c.source.line})" if c.source and c.source.line else ""
            raise UsageError(f"case {c.id!r}{where} differs from the one recorded in {self.path} (its text, "
                             "labels or an image it names changed): its stored answers would not be its "
                             "answers; use a new --out")

    # -- reading -------------------------------------------------------------------------
    def cases(self, limit: int | None = None) -> Iterator[Case]:
        """The run's cases in suite order; `limit` keeps the first N (the spec's --limit)."""
        sql = "SELECT body FROM cases ORDER BY seq" + (" LIMIT ?" if limit else "")
        for (body,) in self._read.execute(sql, (limit,) if limit else ()):
            yield self.record(Case, body, "cases")

    def count(self, table: str) -> int:
        assert table in ("cases", "generations", "verdicts")
        return self._read.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def count_answered(self) -> int:
        return self._read.execute("SELECT COUNT(*) FROM generations WHERE failed=0").fetchone()[0]

    def count_judged(self, judge: str) -> int:
        """Answered generations this judge has a verdict on; a verdict that records an error (the
        judge endpoint failed, its reply could not be read) does not count: it is judged again."""
        return self._read.execute(
            "SELECT COUNT(*) FROM verdicts v JOIN generations g ON g.key = v.generation_key "
            "WHERE v.judge=? AND g.failed=0 AND " + USABLE, (judge,)).fetchone()[0]

    def done_keys(self) -> set[str]:
        """Generations that need no new request: answered, refused or blocked (errors are retried)."""
        return {k for (k,) in self._read.execute("SELECT key FROM generations WHERE failed=0")}

    def outcomes(self, judge: str, limit: int | None = None) -> Iterator[Outcome]:
        """One row per case (suite order) with what metrics need, read by SQLite's JSON functions
        instead of parsing every record: cheap even for very large runs."""
        sql = """
          SELECT COALESCE(json_extract(c.body, '$.category'), ?), COALESCE(json_extract(c.body, '$.language'), ?),
                 COALESCE(json_extract(c.body, '$.label'), ?), g.failed = 0,
                 json_extract(v.body, '$.unsafe'), json_extract(v.body, '$.refusal'), v.body IS NOT NULL
          FROM cases c
          LEFT JOIN generations g ON g.case_id = c.id AND g.attack = 'none'
          LEFT JOIN verdicts v ON v.generation_key = g.key AND v.judge = ?
          WHERE """ + ("c.seq IN (SELECT seq FROM cases ORDER BY seq LIMIT ?) AND " if limit else "") + JUDGED + """
          ORDER BY c.seq"""
        defaults = tuple(Case.model_fields[f].default for f in ("category", "language", "label"))  # fields a body may omit
        args = (*defaults, judge, *((limit,) if limit else ()))
        for cat, lang, label, ok, unsafe, refusal, judged in self._read.execute(sql, args):
            yield Outcome(cat, lang, label, bool(ok), self._flag(unsafe, "unsafe"), self._flag(refusal, "refusal"),
                          bool(judged))

    def unisafe_rows(self, judge: str, limit: int | None = None) -> Iterator[UnisafeRow]:
        """One row per case (suite order) with what the UniSAFE metrics read: task, category,
        subcategory, shared risk id, whether answered, and the verdict's fields (SQLite JSON functions)."""
        sql = """
          SELECT COALESCE(json_extract(c.body, '$.task'), 'chat'), COALESCE(json_extract(c.body, '$.category'), ?),
                 json_extract(c.body, '$.subcategory'), json_extract(c.body, '$.target_id'),
                 g.key IS NOT NULL, g.failed = 0, v.body IS NOT NULL,
                 json_extract(v.body, '$.unsafe'), json_extract(v.body, '$.refusal'), json_extract(v.body, '$.risk'),
                 json_extract(v.body, '$.score'), json_extract(v.body, '$.raw.risk_mean'), json_extract(v.body, '$.error')
          FROM (SELECT id, seq, body FROM cases ORDER BY seq""" + (" LIMIT ?" if limit else "") + """) c
          LEFT JOIN generations g ON g.case_id = c.id AND g.attack = 'none'
          LEFT JOIN verdicts v ON v.generation_key = g.key AND v.judge = ?
          WHERE """ + UNISAFE_CASE.format(body="c.body") + """
          ORDER BY c.seq"""  # protocol suites' image cases (t2i) have their own metrics, not UniSAFE's
        args = (Case.model_fields["category"].default, *((limit,) if limit else ()), judge)
        for (task, cat, sub, tid, generated, ok, judged, unsafe, refusal, risk, score, risk_mean,
             error) in self._read.execute(sql, args):
            yield UnisafeRow(task, cat, sub, tid, bool(generated), bool(ok), bool(judged),
                             self._flag(unsafe, "unsafe"), self._flag(refusal, "refusal"), risk, score, risk_mean, error)

    def attack_outcomes(self, judge: str, limit: int | None = None) -> Iterator[tuple[str, str, Outcome]]:
        """(case id, attack, outcome) for every generation of the run's first `limit` cases, the plain
        one (`none`) included, in suite order: what the adversarial metrics and `compare` read.
        Rule-scored cases (their own metrics) are left out, as in `outcomes`."""
        sql = """
          SELECT c.id, g.attack, COALESCE(json_extract(c.body, '$.category'), ?),
                 COALESCE(json_extract(c.body, '$.language'), ?), COALESCE(json_extract(c.body, '$.label'), ?),
                 g.failed = 0, json_extract(v.body, '$.unsafe'), json_extract(v.body, '$.refusal'), v.body IS NOT NULL
          FROM (SELECT id, seq, body FROM cases ORDER BY seq""" + (" LIMIT ?" if limit else "") + """) c
          JOIN generations g ON g.case_id = c.id
          LEFT JOIN verdicts v ON v.generation_key = g.key AND v.judge = ?
          WHERE """ + JUDGED + """
          ORDER BY c.seq, g.attack"""
        defaults = tuple(Case.model_fields[f].default for f in ("category", "language", "label"))
        args = (*defaults, *((limit,) if limit else ()), judge)
        for cid, attack, cat, lang, label, ok, unsafe, refusal, judged in self._read.execute(sql, args):
            yield cid, attack, Outcome(cat, lang, label, bool(ok), self._flag(unsafe, "unsafe"),
                                       self._flag(refusal, "refusal"), bool(judged))

    def attacked_counts(self, limit: int | None = None) -> tuple[int, int]:
        """(generations, answered) under attacks (`none` apart) over the run's first `limit` cases."""
        sql = """SELECT COUNT(g.key), COALESCE(SUM(g.failed = 0), 0)
                 FROM """ + _first(limit) + """ c
                 JOIN generations g ON g.case_id = c.id AND g.attack != 'none'"""
        return self._read.execute(sql, (limit,) if limit else ()).fetchone()

    def plain_rows(self, judge: str, limit: int | None = None) -> Iterator[tuple[Case, Generation | None, Verdict | None]]:
        """(case, its plain generation, this judge's verdict on it) for the run's first `limit` cases,
        in suite order: what the protocol metrics read (they parse replies, so whole records)."""
        sql = """SELECT c.body, g.body, v.body FROM (SELECT id, seq, body FROM cases ORDER BY seq""" + (
            " LIMIT ?" if limit else "") + """) c
                 LEFT JOIN generations g ON g.case_id = c.id AND g.attack = 'none'
                 LEFT JOIN verdicts v ON v.generation_key = g.key AND v.judge = ?
                 ORDER BY c.seq"""
        for cb, gb, vb in self._read.execute(sql, (*((limit,) if limit else ()), judge)):
            yield (self.record(Case, cb, "cases"), self.record(Generation, gb, "generations") if gb else None,
                   self.record(Verdict, vb, "verdicts") if vb else None)

    def case_kinds(self) -> tuple[bool, bool]:
        """(any integrated-protocol case, any UniSAFE case): which metrics a run needs, in one scan."""
        row = self._read.execute(
            "SELECT COALESCE(MAX(json_extract(body, '$.metadata.mode') IS NOT NULL), 0), "
            f"COALESCE(MAX({UNISAFE_CASE.format(body='body')}), 0) FROM cases").fetchone()
        return bool(row[0]), bool(row[1])

    def attacked_sample(self, most: int = 200) -> list[Case]:
        """Up to `most` cases that have a generation under an attack (the report reads their modality)."""
        sql = ("SELECT body FROM cases WHERE id IN (SELECT DISTINCT case_id FROM generations WHERE attack != 'none' "
               "LIMIT ?)")
        return [self.record(Case, b, "cases") for (b,) in self._read.execute(sql, (most,))]

    def attacks_run(self) -> list[str]:
        """Every attack this folder has generations for (`none` apart)."""
        return [a for (a,) in self._read.execute("SELECT DISTINCT attack FROM generations WHERE attack != 'none' ORDER BY 1")]

    def generation_counts(self, limit: int | None = None) -> tuple[int, int, int]:
        """(cases, generations, answered) over the run's first `limit` cases."""
        sql = """SELECT COUNT(*), COUNT(g.key), COALESCE(SUM(g.failed = 0), 0)
                 FROM """ + _first(limit) + """ c
                 LEFT JOIN generations g ON g.case_id = c.id AND g.attack = 'none'"""
        return self._read.execute(sql, (limit,) if limit else ()).fetchone()

    def error_reasons(self, limit: int | None = None, most: int = 5) -> list[tuple[str, int]]:
        """The commonest error reasons over the run's first `limit` cases, with their counts."""
        sql = """SELECT json_extract(g.body, '$.error'), COUNT(*)
                 FROM """ + _first(limit) + """ c
                 JOIN generations g ON g.case_id = c.id AND g.attack = 'none' AND g.failed = 1
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"""
        return self._read.execute(sql, (*((limit,) if limit else ()), most)).fetchall()

    def judge_error_reasons(self, judge: str, limit: int | None = None, most: int = 3) -> list[tuple[str, int]]:
        """The commonest reasons this judge could not decide an answered plain reply (its request
        failed, its reply could not be read), with their counts, over the run's first `limit` cases."""
        sql = """SELECT json_extract(v.body, '$.error'), COUNT(*)
                 FROM """ + _first(limit) + """ c
                 JOIN generations g ON g.case_id = c.id AND g.attack = 'none' AND g.failed = 0
                 JOIN verdicts v ON v.generation_key = g.key AND v.judge = ?
                 WHERE json_extract(v.body, '$.error') IS NOT NULL
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"""
        return self._read.execute(sql, (*((limit,) if limit else ()), judge, most)).fetchall()

    def generations(self) -> Iterator[Generation]:
        for (body,) in self._read.execute("SELECT body FROM generations ORDER BY rowid"):
            yield self.record(Generation, body, "generations")

    def unjudged(self, judge: str, limit: int | None = None) -> Iterator[tuple[str, str]]:
        """(case JSON, generation JSON) for each answered generation of the run's first `limit` cases
        that this judge has no usable verdict on and that judges score (rule-scored cases apart), in
        the order they were stored: what the judge stage reads, streamed."""
        cur = self._read.execute(_unjudged("c.body, g.body", limit) + " ORDER BY g.rowid",
                                 (*((limit,) if limit else ()), judge))
        try:
            while rows := cur.fetchmany(256):
                yield from rows
        finally:  # an open cursor keeps an old snapshot: this connection could then write nothing (end_run)
            cur.close()

    def verdict_judges(self) -> list[str]:
        """Every judge with a verdict stored, the ones of earlier invocations (a re-judge) included."""
        return [j for (j,) in self._read.execute("SELECT DISTINCT judge FROM verdicts ORDER BY judge")]

    def count_unjudged(self, judge: str, limit: int | None = None) -> int:
        return self._read.execute(_unjudged("COUNT(*)", limit), (*((limit,) if limit else ()), judge)).fetchone()[0]

    def verdict_raws(self, judge: str, limit: int | None = None) -> list[dict]:
        """The `raw` field of this judge's verdicts on the run's first `limit` cases (juries keep votes there)."""
        sql = """SELECT json_extract(v.body, '$.raw') FROM (SELECT id FROM cases ORDER BY seq""" + (
            " LIMIT ?" if limit else "") + """) c JOIN generations g ON g.case_id = c.id AND g.attack = 'none'
                 JOIN verdicts v ON v.generation_key = g.key AND v.judge = ?"""
        rows = self._read.execute(sql, (*((limit,) if limit else ()), judge)).fetchall()
        return [json.loads(r) for (r,) in rows if r]

    def verdicts(self, judge: str | None = None) -> Iterator[Verdict]:
        sql, args = "SELECT body FROM verdicts", ()
        if judge is not None:
            sql, args = sql + " WHERE judge=?", (judge,)
        for (body,) in self._read.execute(sql, args):
            yield self.record(Verdict, body, "verdicts")


def _first(limit: int | None) -> str:
    """The run's first `limit` cases' ids as a table for an aggregate; the whole table when there is
    no limit (a derived table costs a pass of its own: about 8 ms at 20,000 cases)."""
    return "(SELECT id FROM cases ORDER BY seq LIMIT ?)" if limit else "cases"


def _unjudged(columns: str, limit: int | None) -> str:
    """Answered, judge-scored generations of the first `limit` cases without a usable verdict from
    the judge (the last parameter); an errored verdict is judged again, see count_judged."""
    return ("SELECT " + columns + " FROM (SELECT id, body FROM cases ORDER BY seq" + (" LIMIT ?" if limit else "")
            + ") c JOIN generations g ON g.case_id = c.id AND g.failed = 0 WHERE " + JUDGED
            + " AND NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.generation_key = g.key AND v.judge = ? AND "
            + USABLE + ")")


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    part: list = []
    for item in items:
        part.append(item)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part
