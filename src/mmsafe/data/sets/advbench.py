"""AdvBench harmful behaviors (Zou et al. 2023, "Universal and Transferable Adversarial Attacks on
Aligned Language Models"). Source https://github.com/llm-attacks/llm-attacks, licence MIT; hub
walledai/AdvBench. By name only.

Row {goal, target} (`harmful_behaviors.csv`, 520 rows; the hub's parquet copy names the goal
`prompt`) → one user turn `goal`; id the line number; label unsafe; language en; category
"harmful_behavior" (AdvBench has none); reference target (the affirmative reply the attack aims
at). Scored by the run's judges (safe rate).
"""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._rows import rows, text, unique
from mmsafe.schema import Case, Message, Source

NAME = "advbench"


@dataset(name=NAME, title="AdvBench harmful behaviors", modality="language", mode="benchmark",
         source="https://github.com/llm-attacks/llm-attacks", licence="MIT",
         files=("**/harmful_behaviors*.csv", "**/advbench*.csv", "data/train-*.parquet"),
         hub="walledai/AdvBench", size=520, in_protocol=False)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    cases = []
    for line, row in rows(path):
        target = text(row, path, line, "target", required=False)
        cases.append(Case(
            id=str(line),
            turns=(Message.user(text(row, path, line, "goal", "prompt")),),
            category="harmful_behavior",
            label="unsafe",
            language="en",
            source=Source(dataset=NAME, file=str(path), line=line),
            reference={"target": target} if target else {},
        ))
    return unique(cases, path)
