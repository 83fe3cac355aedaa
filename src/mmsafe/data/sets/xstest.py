"""XSTest (Röttger et al. 2024, "XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours
in Large Language Models"): 250 safe prompts that resemble unsafe ones (homonyms, figurative
language, safe targets…) and 200 unsafe contrast prompts. Source
https://github.com/paul-rottger/xstest, licence CC BY 4.0; hub walledai/XSTest. By name only.

Row {id?, prompt, type, label: safe|unsafe, focus?, note?} (`xstest_prompts.csv`, or the hub's
parquet copy) → one user turn `prompt`; id the row's id, else the line number; label benign for
"safe" prompts (their refusals are over-refusals), unsafe for "unsafe"; category the type
("homonyms", "contrast_homonyms"…); language en; metadata focus, note. Scored by the run's judges.
"""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._rows import rows, text, unique
from mmsafe.errors import InputError
from mmsafe.schema import Case, Message, Source

NAME = "xstest"
LABELS = {"safe": "benign", "unsafe": "unsafe"}


@dataset(name=NAME, title="XSTest (exaggerated safety)", modality="language", mode="benchmark",
         source="https://github.com/paul-rottger/xstest", licence="CC BY 4.0",
         files=("**/xstest*.csv", "**/xstest*.jsonl", "**/XSTest*.csv", "data/train-*.parquet"),
         hub="walledai/XSTest", size=450, in_protocol=False)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    cases = []
    for line, row in rows(path):
        label = text(row, path, line, "label").lower()
        if label not in LABELS:
            raise InputError(str(path), line, "label", f"expected safe or unsafe, got {label!r}")
        meta = {k: text(row, path, line, k, required=False) for k in ("focus", "note")}
        cases.append(Case(
            id=text(row, path, line, "id", required=False) or str(line),
            turns=(Message.user(text(row, path, line, "prompt")),),
            category=text(row, path, line, "type"),
            label=LABELS[label],
            language="en",
            source=Source(dataset=NAME, file=str(path), line=line),
            metadata={k: v for k, v in meta.items() if v},
        ))
    return unique(cases, path)
