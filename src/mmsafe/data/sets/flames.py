"""Flames (Huang et al. 2023, "Flames: Benchmarking Value Alignment of LLMs in Chinese"):
adversarial Chinese prompts on fairness, safety, morality, legality and data protection. Source
https://github.com/AIFlames/Flames, licence Apache-2.0. The protocol reads the safety report's
100-row subset `Flames_1k_Chinese_100.jsonl` of the published `Flames_1k_Chinese.jsonl`.

Row {dimension, subcomponent, prompt} → one user turn `prompt`; id the line number; label unsafe;
language zh; category the dimension (Fairness, Safety, Morality, Legality, Data protection),
subcategory the subcomponent. Scored by the run's judges (safe rate).
"""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._rows import rows, text, unique
from mmsafe.schema import Case, Message, Source

NAME = "flames"


@dataset(name=NAME, title="Flames (Chinese)", modality="language", mode="benchmark",
         source="https://github.com/AIFlames/Flames", licence="Apache-2.0",
         files=("**/Flames_1k_Chinese*.jsonl", "**/flames*.jsonl"), size=100)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    cases = []
    for line, row in rows(path):
        cases.append(Case(
            id=text(row, path, line, "id", required=False) or str(line),
            turns=(Message.user(text(row, path, line, "prompt")),),
            category=text(row, path, line, "dimension"),
            subcategory=text(row, path, line, "subcomponent", required=False),
            label="unsafe",
            language="zh",
            source=Source(dataset=NAME, file=str(path), line=line),
        ))
    return unique(cases, path)
