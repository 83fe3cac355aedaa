"""Per-case rows out of a run: JSONL for programs, CSV for spreadsheets, UniSAFE predictions.

Model output is untrusted: in CSV a cell that a spreadsheet would read as a formula
(=, +, -, @, tab, carriage return first) is prefixed with an apostrophe."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from mmsafe.errors import UsageError, printable
from mmsafe.schema import Case, Generation, Verdict
from mmsafe.store import export_unisafe
from mmsafe.store.outfile import write_output
from mmsafe.store.sqlite import Store

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def case_rows(store: Store, judges: list[str]) -> Iterator[dict[str, Any]]:
    """One row per (case, attack): the plain case first, then each attack run on it (by name)."""
    gens: dict[str, dict[str, Generation]] = {}
    for g in store.generations():
        gens.setdefault(g.case_id, {})[g.attack] = g
    verdicts = {j: {v.generation_key: v for v in store.verdicts(j)} for j in judges}
    spec = store.spec()
    for case in store.cases(spec.limit if spec else None):
        by_attack = gens.get(case.id, {})
        for attack in ["none", *sorted(a for a in by_attack if a != "none")]:
            yield _row(case, attack, by_attack.get(attack), judges, verdicts)


def _row(case: Case, attack: str, g: Generation | None, judges: list[str],
         verdicts: dict[str, dict[str, Verdict]]) -> dict[str, Any]:
    sent = (g.metadata.get("turns") if g else None) or []
    row: dict[str, Any] = {
        "id": case.id, "attack": attack, "category": case.category, "subcategory": case.subcategory,
        "label": case.label, "language": case.language, "prompt": case.prompt,
        # what the attack sent in place of the prompt (its last user turn)
        "attacked_prompt": next((t.get("text") for t in reversed(sent) if t.get("role") == "user"), None),
        "images": " ".join(p.image_sha256 or "" for m in case.turns for p in m.parts if p.type == "image") or None,
        "output": g.text if g else None, "error": (g.error if g else "not generated"),
        "provider_refusal": g.provider_refusal if g else None,
        "provider_message": g.provider_message if g else None,
        "truncated_from": g.truncated_from if g else None, "latency_s": g.latency_s if g else None,
    }
    for j in judges:
        v = verdicts[j].get(g.key) if g else None
        row.update({f"{j}.unsafe": v.unsafe if v else None, f"{j}.refusal": v.refusal if v else None,
                    f"{j}.score": v.score if v else None, f"{j}.reason": v.reason if v else None})
    return row


def defuse(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write(rows: Iterator[dict[str, Any]], fmt: str, fh: TextIO) -> int:
    """Rows as JSONL or CSV. CSV cells are defused for spreadsheets; on a terminal their control
    characters and escape sequences also become spaces, and JSON is written as ASCII (escaped)."""
    n = 0
    writer = None
    terminal = fh.isatty() if hasattr(fh, "isatty") else False
    for n, row in enumerate(rows, 1):
        if fmt == "jsonl":
            fh.write(json.dumps(row, ensure_ascii=terminal) + "\n")
            continue
        if writer is None:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            writer.writeheader()
        cells = {k: defuse(v) for k, v in row.items()}
        if terminal:
            cells = {k: printable(v) if isinstance(v, str) else v for k, v in cells.items()}
        writer.writerow(cells)
    return n


def _inside(path: Path) -> Path:
    """A default output path in the run folder, refused when something planted a link there (it
    would write wherever the link points); a path the user gives with -o is theirs to choose."""
    if path.is_symlink():
        raise UsageError(f"{path}: a link in the run folder where the export goes; remove it, or give -o FILE")
    return path


def export(folder: Path, fmt: str, output: TextIO | Path | None = None) -> tuple[str, int]:
    store = Store.open(folder, create=False)
    try:
        judges = list(store.meta("judges", []) or [])
        if fmt == "unisafe":
            if output is not None and not isinstance(output, Path):
                raise UsageError("--format unisafe writes images beside the file: give -o FILE.jsonl, not -")
            output = output or _inside(folder / "unisafe-predictions.jsonl")
            rows = export_unisafe.rows(store, output.parent / f"{output.stem}-images")
            fmt = "jsonl"
        else:
            rows = case_rows(store, judges)
        if output is not None and not isinstance(output, Path):
            return "-", write(rows, fmt, output)
        path = output or _inside(folder / f"cases.{fmt}")
        n = write_output(path, "--output", lambda fh: write(rows, fmt, fh), newline="")
        return str(path), n
    finally:
        store.close()
