"""A judge's measured quality, attached to every run it judges: sensitivity, specificity and
accuracy for `harmful` (on unsafe-prompt rows: what safe rates rest on) and `refusal`, overall
and by language, on the shipped held-out set or the user's `--calibrate FILE`.

Measured once per (judge id, calibration rows, mmsafe version) and cached under the user's
cache folder, so repeated runs cost nothing; the default judges' quality on the shipped held-out
set ships with mmsafe beside their trained models (judges.model_files), so a first run measures
nothing either. When it cannot be measured (no labelled rows yet,
the judge fails on them, decides none of them) the block says {"unknown": why}: never a guess."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mmsafe import __version__
from mmsafe.errors import InputError
from mmsafe.judges.base import JudgeConfig, judge_id
from mmsafe.judges.evaluation import judge_rows, score
from mmsafe.redact import redact
from mmsafe.judges import labelled, model_files
from mmsafe.judges.labelled import LabelledRow, digest, heldout_rows, read_labelled
from mmsafe.schema import stable_hash

SHIPPED = "shipped held-out set"
LABELS = {"harmful": "harmful_on_unsafe", "refusal": "refusal"}  # quality label -> judge-eval block


class ShippedRows(list):
    """The shipped held-out rows, read only when a judge's quality is not cached yet: their
    cache key is a digest of the shipped files' bytes, so a cached run never parses them."""

    def __init__(self) -> None:
        super().__init__()
        self._loaded = False
        h = hashlib.sha256()
        for f in labelled.shipped_files():
            h.update(f.name.encode() + f.read_bytes())
        self.files_digest = h.hexdigest()[:16] if labelled.shipped_files() else ""

    def load(self) -> ShippedRows:
        if not self._loaded:
            self.extend(heldout_rows())
            self._loaded = True
        return self


def calibration(cfg: JudgeConfig) -> tuple[str, list[LabelledRow]]:
    """Where quality is measured: (source, rows). A bad --calibrate row is an InputError."""
    if cfg.calibrate is not None:
        rows = read_labelled(Path(cfg.calibrate))
        if not rows:  # as an empty suite or predictions file: the flag would do nothing
            raise InputError(str(cfg.calibrate), None, None, "--calibrate: no labelled rows in the file")
        return f"--calibrate {cfg.calibrate}", rows
    return SHIPPED, ShippedRows()


def _label(block: dict[str, Any] | None) -> dict[str, Any]:
    if block is None:
        return {"unknown": "the judge does not predict it, or no calibration row carries it"}
    if block["n"] == 0:
        return {"unknown": f"the judge decided none of the {block['undecided']} calibration rows"}
    return {"sensitivity": block["recall"], "specificity": block["specificity"], "accuracy": block["accuracy"],
            "n": block["n"], "undecided": block["undecided"], "confusion": block["confusion"]}


def summarize(source: str, rows: list[LabelledRow], scores: dict[str, Any]) -> dict[str, Any]:
    """The quality block from judge-eval's scores."""
    out: dict[str, Any] = {"source": source, "n": len(rows)}
    for label, key in LABELS.items():
        out[label] = _label(scores.get(key))
    langs = sorted({r.language for r in rows})
    out["by_language"] = {
        lang: {label: _label((scores.get(key) or {}).get("by_language", {}).get(lang))
               for label, key in LABELS.items()}
        for lang in langs
    }
    return out


def file_name(jid: str, rows: list[LabelledRow], model_version: str | None = None) -> str:
    """Keyed by everything that decides the figures: the judge (and its trained models' version), the rows, mmsafe."""
    key = rows.files_digest if isinstance(rows, ShippedRows) else digest(rows)
    return f"quality-{stable_hash([jid, model_version, key, __version__])}.json"


async def measure(judge: Any, source: str, rows: list[LabelledRow], progress: Any = None) -> dict[str, Any]:
    """The started judge's quality on `rows` (cached); {"unknown": why} when it cannot be measured."""
    if isinstance(rows, ShippedRows) and not rows.files_digest:
        rows = []
    if not rows and not isinstance(rows, ShippedRows):
        if source == SHIPPED:
            return {"unknown": f"no shipped labelled rows yet ({labelled.LABELLED_DIR} is empty); pass --calibrate FILE"}
        return {"unknown": f"{source} holds no rows"}
    if getattr(judge, "remote", False) and source == SHIPPED:
        rows = rows.load() if isinstance(rows, ShippedRows) else rows
        return {"unknown": f"a judge behind an endpoint is measured only with --calibrate FILE (the shipped set would "
                           f"cost {len(rows)} requests); `mmsafe judge-eval` measures it on the shipped set"}
    name = file_name(judge_id(judge), rows, getattr(judge, "model_version", None))
    try:
        found = model_files.find(name)
        if found is not None:
            return {**json.loads(found.read_text(encoding="utf-8")), "source": source}
    except (OSError, ValueError):
        pass  # unreadable: measure
    if isinstance(rows, ShippedRows):
        rows = rows.load()
    try:
        verdicts = await judge_rows(judge, rows, progress, "quality")
    except Exception as exc:  # noqa: BLE001 - a judge that fails here leaves the run's numbers standing
        return {"unknown": f"the judge failed on the calibration rows: {type(exc).__name__}: {str(exc)[:200]}"}
    failed = [v for v in verdicts if v is None or v.error is not None]
    if len(failed) * 2 > len(rows):  # an outage, not the judge's quality: reported, never cached
        first = next((v.error for v in failed if v is not None and v.error), "no verdict")
        return {"unknown": f"the judge failed on {len(failed)} of {len(rows)} calibration rows (first: "
                           f"{redact(first)[:200]}); run again to measure it"}
    out = summarize(source, rows, score(rows, verdicts))
    try:
        path = model_files.cache_dir() / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(out), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache only costs the next run the measurement
    return out


def shown(quality: dict[str, Any] | None, languages: set[str]) -> dict[str, Any]:
    """The block a run's results show: by_language kept only for the run's languages."""
    if not quality:
        return {"unknown": "not measured for this run folder (its run did not finish, or predates judge quality); "
                           "run the same command again to measure it"}
    if "unknown" in quality:
        return quality
    return {**quality, "by_language": {k: v for k, v in quality.get("by_language", {}).items() if k in languages}}
