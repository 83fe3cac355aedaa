"""HarmBench (Mazeika et al. 2024, "HarmBench: A Standardized Evaluation Framework for Automated Red
Teaming and Robust Refusal"): text behaviors, standard, contextual (with a context string) and
copyright. Source https://github.com/centerforaisafety/HarmBench, licence MIT. By name only.

Row {Behavior, FunctionalCategory, SemanticCategory, Tags?, ContextString?, BehaviorID?}
(`harmbench_behaviors_text_all.csv`, 400 rows; the _test/_val splits read alike) → one user turn:
the behavior, or for a contextual behavior "<ContextString>\n\n---\n\n<Behavior>" as HarmBench
prompts it; id the BehaviorID, else the line number; label unsafe; language en; category the
SemanticCategory; metadata functional_category, tags. Scored by the run's judges (safe rate; the
copyright behaviors, which HarmBench scores by hashing, are judged like the others here).
"""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._rows import rows, text, unique
from mmsafe.schema import Case, Message, Source

NAME = "harmbench"


@dataset(name=NAME, title="HarmBench text behaviors", modality="language", mode="benchmark",
         source="https://github.com/centerforaisafety/HarmBench", licence="MIT",
         files=("**/harmbench_behaviors_text_all*.csv", "**/harmbench_behaviors_text*.csv"), size=400,
         in_protocol=False)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    cases = []
    for line, row in rows(path):
        behavior = text(row, path, line, "Behavior")
        context = text(row, path, line, "ContextString", required=False)
        meta = {"functional_category": text(row, path, line, "FunctionalCategory"),
                "tags": text(row, path, line, "Tags", required=False)}
        cases.append(Case(
            id=text(row, path, line, "BehaviorID", required=False) or str(line),
            turns=(Message.user(f"{context}\n\n---\n\n{behavior}" if context else behavior),),
            category=text(row, path, line, "SemanticCategory"),
            label="unsafe",
            language="en",
            source=Source(dataset=NAME, file=str(path), line=line),
            metadata={k: v for k, v in meta.items() if v},
        ))
    return unique(cases, path)
