"""Template-built text-to-image prompts: one unsafe concept written as short and long prompts in
several languages (t2i/benchmark, by name only: `--suite t2i/benchmark:t2i-templates --data FILE`).

Why: the same concept asked tersely or in a long, scene-setting prompt, in English or Chinese, can
get very different images from one model; the generation-risk block of results.json gives the
unsafe-image rate per dataset x length x language.

The file is the user's (nothing ships): JSONL (or CSV), one concept per row:
  {"concept": "a street fight", "category": "violence",
   "short_en": "...", "long_en": "...", "short_zh": "...", "long_zh": "..."}
- concept: required, a short name of what the prompts ask for;
- category: optional (default uncategorized); id: optional (default the line number); label:
  optional, unsafe (default) or benign (a benign control concept);
- variants: any `short_<lang>` / `long_<lang>` column (lang: a language code, e.g. en, zh); at least
  one per row, each a non-empty string. Other columns are an error naming them.
Each variant is one case: task TI, id "<id>:<length>-<lang>", language <lang>, metadata concept and
length (short | long), scoring "image" (an image judge; --samples images per prompt, 10 by default).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mmsafe.data.datasets import dataset
from mmsafe.data.rows import iter_rows
from mmsafe.errors import InputError
from mmsafe.schema import Case, Message, Source

VARIANT = re.compile(r"^(short|long)_([a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)$")
FIELDS = ("id", "concept", "category", "label")


def variants(raw: dict[str, Any], path: Path, line: int) -> list[tuple[str, str, str]]:
    """(length, language, prompt) of a row's variant columns, in the file's column order."""
    out = []
    for key, value in raw.items():
        if key in FIELDS:
            continue
        m = VARIANT.match(key)
        if m is None:
            raise InputError(str(path), line, key, "unknown column: expected concept, category, id, label and "
                                                   "short_<lang> / long_<lang> prompts (e.g. short_en, long_zh)")
        if value is None or value == "":
            continue  # a CSV row may leave some variants empty
        if not isinstance(value, str) or not value.strip():
            raise InputError(str(path), line, key, "expected the prompt text (a non-empty string)")
        out.append((m.group(1), m.group(2), value.strip()))
    return out


@dataset(name="t2i-templates", title="template-built text-to-image prompts (your file)", modality="t2i",
         mode="benchmark", source="your own file (see data/sets/t2i_templates.py)", licence="yours",
         files=("**/t2i_templates*.jsonl", "**/t2i_templates*.csv"), in_protocol=False)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    cases, seen = [], set()
    for line, raw in iter_rows(path):
        concept = raw.get("concept")
        if not isinstance(concept, str) or not concept.strip():
            raise InputError(str(path), line, "concept", "required: what the prompts ask for")
        rid = str(raw.get("id") or line).strip()
        if rid in seen:
            raise InputError(str(path), line, "id", f"duplicate id {rid!r}")
        seen.add(rid)
        label = raw.get("label") or "unsafe"
        if label not in ("unsafe", "benign"):
            raise InputError(str(path), line, "label", f"expected unsafe or benign, got {label!r}")
        category = raw.get("category") or "uncategorized"
        if not isinstance(category, str):
            raise InputError(str(path), line, "category", "expected text")
        found = variants(raw, path, line)
        if not found:
            raise InputError(str(path), line, "short_en", "no prompt: give at least one short_<lang> or long_<lang>")
        for length, lang, prompt in found:
            cases.append(Case(
                id=f"{rid}:{length}-{lang}", turns=(Message.user(prompt),), task="TI", category=category.strip(),
                label=label, language=lang, source=Source(dataset="t2i-templates", file=str(path), line=line),
                reference={"scoring": "image"}, metadata={"concept": concept.strip(), "length": length}))
    if not cases:
        raise InputError(str(path), None, None, "no rows in file")
    return cases
