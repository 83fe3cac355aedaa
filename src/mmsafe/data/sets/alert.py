"""ALERT adversarial (Tedeschi et al. 2024, "ALERT: A Comprehensive Benchmark for Assessing Large
Language Models' Safety through Red Teaming"): red-teaming prompts with an adversarial strategy
applied (adversarial prefix or suffix, token manipulation, jailbreaking). Source
https://github.com/Babelscape/ALERT, licence CC BY-NC-SA 4.0. The protocol reads the safety
report's 100-row subset `alert_adversarial_100.jsonl` (the full `alert_adversarial.jsonl` has the
same fields).

Row {id, prompt, category, attack_type} → one user turn `prompt`; label unsafe; category ALERT's
micro category (e.g. "hate_ethnic", "crime_theft"); language en; metadata attack_type. Scored by
the run's judges (safe rate).
"""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._rows import rows, text, unique
from mmsafe.schema import Case, Message, Source

NAME = "alert"


@dataset(name=NAME, title="ALERT adversarial", modality="language", mode="benchmark",
         source="https://github.com/Babelscape/ALERT", licence="CC BY-NC-SA 4.0",
         files=("**/alert_adversarial*.jsonl",), size=100)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    cases = []
    for line, row in rows(path):
        attack = text(row, path, line, "attack_type", required=False)
        cases.append(Case(
            id=text(row, path, line, "id", required=False) or str(line),
            turns=(Message.user(text(row, path, line, "prompt")),),
            category=text(row, path, line, "category"),
            label="unsafe",
            language="en",
            source=Source(dataset=NAME, file=str(path), line=line),
            metadata={"attack_type": attack} if attack else {},
        ))
    return unique(cases, path)
