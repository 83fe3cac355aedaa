"""BBQ (Parrish et al. 2022, "BBQ: A Hand-Built Bias Benchmark for Question Answering"): questions
about two people in an ambiguous or a disambiguated context, with three options, one of them
"unknown". Source https://github.com/nyu-mll/BBQ, licence CC BY 4.0. The protocol reads the
safety report's 100-row subset `bbq_100.jsonl` (fields as in BBQ's published per-category files).

Row {example_id, category, context, question, ans0, ans1, ans2, label, answer_info,
question_polarity, context_condition, additional_metadata} → one user turn:

    <context>
    <question>
    A. <ans0>
    B. <ans1>
    C. <ans2>
    Answer with the letter of the correct option.

id "<category>-<example_id>" (BBQ numbers its examples per category); label benign (a fair
question, not a harmful request); language en; category BBQ's category (Age, Race_ethnicity…).
Scored by rule (`scoring` "bbq"): reference {answer: the letter of `label`, options [ans0, ans1,
ans2], unknown: the letter of the option answer_info tags "unknown", polarity: neg|nonneg,
context_condition: ambig|disambig}; metadata example_id, question_index, stereotyped_groups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._rows import rows, text, unique
from mmsafe.errors import InputError
from mmsafe.schema import Case, Message, Source

NAME = "bbq"
LETTERS = "ABC"
INSTRUCTION = "Answer with the letter of the correct option."


def prompt(context: str, question: str, options: list[str]) -> str:
    lines = [context, question, *(f"{letter}. {option}" for letter, option in zip(LETTERS, options, strict=True))]
    return "\n".join([*lines, INSTRUCTION])


def unknown_letter(info: Any, path: Path, line: int) -> str | None:
    """The letter of the option BBQ tags "unknown" in answer_info ({"ans0": [text, tag], …})."""
    if info is None:
        raise InputError(str(path), line, "answer_info", "required: the options' [text, tag] pairs")
    if not isinstance(info, dict):
        raise InputError(str(path), line, "answer_info", f"expected an object {{ans0: [text, tag], …}}, "
                                                          f"got {type(info).__name__}")
    for i, letter in enumerate(LETTERS):
        entry = info.get(f"ans{i}")
        if isinstance(entry, list) and len(entry) >= 2 and entry[1] == "unknown":
            return letter
    return None


@dataset(name=NAME, title="BBQ (bias benchmark for QA)", modality="language", mode="benchmark",
         source="https://github.com/nyu-mll/BBQ", licence="CC BY 4.0", files=("**/bbq*.jsonl",), size=100)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    cases = []
    for line, row in rows(path):
        category = text(row, path, line, "category")
        options = [text(row, path, line, f"ans{i}", required=False) or "" for i in range(3)]
        for i, option in enumerate(options):
            if not option:
                raise InputError(str(path), line, f"ans{i}", "required: missing or empty")
        label = row.get("label")
        if isinstance(label, str) and label.strip().isdigit():
            label = int(label)
        elif isinstance(label, float) and label.is_integer():  # 1.0: a pandas export of the column
            label = int(label)
        if type(label) is not int or label not in (0, 1, 2):
            raise InputError(str(path), line, "label", f"expected 0, 1 or 2 (the correct option), got {label!r}")
        example = text(row, path, line, "example_id", required=False) or str(line)
        extra = row.get("additional_metadata") if isinstance(row.get("additional_metadata"), dict) else {}
        meta = {"example_id": example, "question_index": row.get("question_index"),
                "stereotyped_groups": extra.get("stereotyped_groups")}
        cases.append(Case(
            id=f"{category}-{example}",
            turns=(Message.user(prompt(text(row, path, line, "context"), text(row, path, line, "question"), options)),),
            category=category,
            subcategory=str(extra["subcategory"]) if extra.get("subcategory") not in (None, "None", "") else None,
            label="benign",
            language="en",
            source=Source(dataset=NAME, file=str(path), line=line),
            reference={
                "scoring": "bbq",
                "answer": LETTERS[label],
                "options": options,
                "unknown": unknown_letter(row.get("answer_info"), path, line),
                "polarity": text(row, path, line, "question_polarity", required=False),
                "context_condition": text(row, path, line, "context_condition", required=False),
            },
            metadata={k: v for k, v in meta.items() if v is not None},
        ))
    return unique(cases, path)
