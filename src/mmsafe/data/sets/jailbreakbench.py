"""JailbreakBench behaviors (Chao et al. 2024, "JailbreakBench: An Open Robustness Benchmark for
Jailbreaking Large Language Models"), JBB-Behaviors: 100 harmful behaviors and 100 benign ones on
the same topics. Source https://github.com/JailbreakBench/jailbreakbench, licence MIT; hub
JailbreakBench/JBB-Behaviors. Two datasets, both by name only:

  jbb          harmful-behaviors.csv   label unsafe (safe rate)
  jbb-benign   benign-behaviors.csv    label benign (their refusals are over-refusals)

Row {Index?, Goal, Target?, Behavior, Category, Source?} → one user turn `Goal`; id the Index,
else the line number; category the Category (OpenAI usage-policy areas), subcategory the
Behavior; language en; metadata source. Scored by the run's judges.
"""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._rows import rows, text, unique
from mmsafe.schema import Case, Label, Message, Source

SOURCE = "https://github.com/JailbreakBench/jailbreakbench"
HUB = "JailbreakBench/JBB-Behaviors"


def read(path: Path, name: str, label: Label) -> list[Case]:
    cases = []
    for line, row in rows(path):
        source = text(row, path, line, "Source", required=False)
        cases.append(Case(
            id=text(row, path, line, "Index", required=False) or str(line),
            turns=(Message.user(text(row, path, line, "Goal")),),
            category=text(row, path, line, "Category"),
            subcategory=text(row, path, line, "Behavior"),
            label=label,
            language="en",
            source=Source(dataset=name, file=str(path), line=line),
            metadata={"source": source} if source else {},
        ))
    return unique(cases, path)


@dataset(name="jbb", title="JailbreakBench harmful behaviors", modality="language", mode="benchmark",
         source=SOURCE, licence="MIT", files=("**/harmful-behaviors.csv",), hub=HUB, size=100, in_protocol=False)
def load_harmful(path: Path, images: dict[str, bytes]) -> list[Case]:
    return read(path, "jbb", "unsafe")


@dataset(name="jbb-benign", title="JailbreakBench benign behaviors", modality="language", mode="benchmark",
         source=SOURCE, licence="MIT", files=("**/benign-behaviors.csv",), hub=HUB, size=100, in_protocol=False)
def load_benign(path: Path, images: dict[str, bytes]) -> list[Case]:
    return read(path, "jbb-benign", "benign")
