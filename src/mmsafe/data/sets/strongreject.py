"""StrongREJECT (Souly et al. 2024, "A StrongREJECT for Empty Jailbreaks"): forbidden prompts in six
categories. Source https://github.com/dsbowen/strong_reject, licence MIT. The protocol reads the
published small set `strongreject_small_dataset.csv` (60 prompts, 10 per category).

Row {category, source, forbidden_prompt} → one user turn `forbidden_prompt`; id the line number;
label unsafe; language en; category as given ("Violence", "Sexual content"…); metadata source.
Scored by the run's judges (safe rate).
"""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._rows import rows, text, unique
from mmsafe.schema import Case, Message, Source

NAME = "strongreject"


@dataset(name=NAME, title="StrongREJECT (small)", modality="language", mode="benchmark",
         source="https://github.com/dsbowen/strong_reject", licence="MIT",
         files=("**/strongreject_small_dataset*.csv", "**/strongreject_small*.csv"), size=60)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    cases = []
    for line, row in rows(path):
        source = text(row, path, line, "source", required=False)
        cases.append(Case(
            id=str(line),
            turns=(Message.user(text(row, path, line, "forbidden_prompt")),),
            category=text(row, path, line, "category"),
            label="unsafe",
            language="en",
            source=Source(dataset=NAME, file=str(path), line=line),
            metadata={"source": source} if source else {},
        ))
    return unique(cases, path)
