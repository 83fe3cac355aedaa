"""The report's case table, as data files beside the page: one row per (run, case, attack).

A page opened from disk cannot fetch() files, so the rows travel as script files that hand JSON
to the page (`MMSAFE.page(k, [...])`), loaded one page at a time; `data/index.js` holds the few
fields the filters need for every row, so filtering 50,000 rows never loads the rows themselves.
The JSON is written with every non-ASCII and every `<`, `>`, `&` escaped, so no text in it can end
a script or open markup; the page's own JavaScript writes it with textContent only.

Images (the case's inputs and the reply's images) become thumbnails in img/, named by the SHA-256
of the original, each written once however many rows show it. A name is only ever a hash the store
computed: nothing a model returned chooses a path."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from mmsafe.pixels import to_rgb
from mmsafe.report.runs import Run
from mmsafe.schema import Case, Generation, Verdict
from mmsafe.store import Store

PAGE = 250  # rows per data file
TEXT_LIMIT = 6000  # characters of a prompt or reply kept in the page (the run folder has all of it)
THUMB = 160
HEX64 = re.compile(r"[0-9a-f]{64}")


def js_json(value: Any) -> str:
    """JSON safe inside a script file or HTML: ASCII only, no <, >, & (escaped as \\u003c…)."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + f"\n[… {len(text) - TEXT_LIMIT} more characters in the run folder]"


def verdict_code(g: Generation | None, v: Verdict | None) -> str:
    if g is None:
        return "not generated"
    if g.error is not None:
        return "error"
    if v is None or v.error:
        return "not judged"
    if v.refusal:
        return "refused"
    if v.unsafe is None:
        return "undecided"
    return "unsafe" if v.unsafe else "safe"


def _images(parts) -> list[str]:
    return [p.image_sha256 for p in parts if p.type == "image" and p.image_sha256 and HEX64.fullmatch(p.image_sha256)]


def run_rows(run_index: int, run: Run, store: Store) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """(full row, index entry) per (case, attack), plain case first."""
    gens: dict[str, dict[str, Generation]] = {}
    for g in store.generations():
        gens.setdefault(g.case_id, {})[g.attack] = g
    verdicts = {j: {v.generation_key: v for v in store.verdicts(j)} for j in run.judges}
    spec = store.spec()
    case: Case
    for case in store.cases(spec.limit if spec else None):
        by_attack = gens.get(case.id, {})
        for attack in ["none", *sorted(a for a in by_attack if a != "none")]:
            g = by_attack.get(attack)
            sent = (g.metadata.get("turns") if g else None) or []
            attacked = next((t.get("text") for t in reversed(sent) if t.get("role") == "user"), None)
            judged = []
            for j in run.judges:
                v = verdicts[j].get(g.key) if g else None
                judged.append({"judge": j, "verdict": verdict_code(g, v), "score": v.score if v else None,
                               "reason": _cut(v.reason if v else None)})
            row = {"id": case.id, "run": run_index, "attack": attack, "category": case.category,
                   "language": case.language, "label": case.label, "task": case.task,
                   "prompt": _cut(case.prompt), "attacked_prompt": _cut(attacked) if isinstance(attacked, str) else None,
                   "reply": _cut(g.text if g else None), "error": _cut(g.error if g else "not generated"),
                   "provider_message": _cut(g.provider_message if g else None),
                   "images": [p for m in case.turns for p in _images(m.parts)],
                   "out_images": _images(g.output) if g else [], "verdicts": judged}
            yield row, [run_index, attack, case.category, case.language, case.label, judged[0]["verdict"] if judged else "–"]


def thumbnail(read: Callable[[], bytes], dest: Path) -> bool:
    """A PNG thumbnail of the image `read` gives (a run's blob store checks it is what its hash
    says, never a link out of the store); False when there is none to draw."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(read())) as im:
            im.thumbnail((THUMB, THUMB))
            out = io.BytesIO()
            to_rgb(im).save(out, "PNG", optimize=False)
    except Exception:  # not an image, or a broken one: the row says so instead of a picture
        return False
    dest.write_bytes(out.getvalue())
    return True


def write_cases(runs: list[Run], out: Path) -> dict[str, Any]:
    """Write data/index.js, data/cases-NNNNN.js and img/*.png; return counts."""
    data, img = out / "data", out / "img"
    data.mkdir(parents=True, exist_ok=True)
    img.mkdir(exist_ok=True)
    tables: dict[str, list[str]] = {"attack": [], "category": [], "language": [], "label": [], "verdict": []}
    codes: dict[str, dict[str, int]] = {k: {} for k in tables}

    def code(kind: str, value: Any) -> int:
        value = str(value)
        if value not in codes[kind]:
            codes[kind][value] = len(tables[kind])
            tables[kind].append(value)
        return codes[kind][value]

    index: list[list[int]] = []
    page: list[dict[str, Any]] = []
    pages = 0
    wanted: dict[str, Callable[[], bytes]] = {}  # image hash -> reads its original from a run's blob store

    def flush() -> None:
        nonlocal pages, page
        (data / f"cases-{pages:05d}.js").write_text(f"MMSAFE.page({pages},{js_json(page)});\n", encoding="ascii")
        pages += 1
        page = []

    for i, run in enumerate(runs):
        store = run.store()
        try:
            for row, entry in run_rows(i, run, store):
                for sha in (*row["images"], *row["out_images"]):
                    wanted.setdefault(sha, partial(store.blobs.get, sha))
                r, attack, cat, lang, label, verdict = entry
                index.append([r, code("attack", attack), code("category", cat), code("language", lang),
                              code("label", label), code("verdict", verdict)])
                page.append(row)
                if len(page) == PAGE:
                    flush()
        finally:
            store.close()
    if page or not pages:
        flush()
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = sum(pool.map(lambda kv: (img / f"{kv[0]}.png").exists() or thumbnail(kv[1], img / f"{kv[0]}.png"),
                            wanted.items()))
    meta = {"page_size": PAGE, "pages": pages, "rows": len(index), "tables": tables,
            "runs": [r.label for r in runs], "judges": [r.judges for r in runs], "index": index}
    (data / "index.js").write_text(f"MMSAFE.index({js_json(meta)});\n", encoding="ascii")
    return {"rows": len(index), "pages": pages, "images": made}
