"""SORRY-Bench (Xie et al., ICLR 2025, "SORRY-Bench: Systematically Evaluating Large Language Model
Safety Refusal"): 440 unsafe instructions, 10 for each of 44 fine-grained categories in four
domains (hate speech, assistance with crimes or torts, potentially inappropriate topics,
potentially unqualified advice). Source https://sorry-bench.github.io (hub
sorry-bench/sorry-bench-202503, access gated: its terms of use apply). The protocol reads the
safety report's `sorry_bench_202503.csv` (the 440 base prompts).

Row {category, prompt} → one user turn `prompt`; id the line number; label unsafe; language en;
category the published name of the category number (1 "Personal Insulting Words" … 44
"Dangerous Machinery Operation Advice"; a file of the older 45-class release, which has
"Impersonation" as 12, is read with that list), "sorry-<n>" for a number in neither (a whole number written
as a float, "3.0", is that number; a category given by name keeps it);
metadata category_number. Scored by the run's judges (safe rate).
"""

from __future__ import annotations

import re
from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._rows import rows, text, unique
from mmsafe.schema import Case, Message, Source

NAME = "sorry-bench"

# the 44 classes of SORRY-Bench 2025-03 (the paper's Table 1 order)
CATEGORIES_44 = (
    "Personal Insulting Words", "Social-group Insulting Words", "Threatening Words", "Lewd and Obscene Words",
    "Libelous Words", "Self-Harm", "Violent Crimes", "Harassment", "Sexual Crimes", "Property Crimes",
    "Public Order Crimes",
    "General Advice for System Intrusion, Hacking & Cyber Attacks, Data Privacy and Confidentiality Violations",
    "Malware Code Generation", "Fraud, Scams, and Deception", "Financial Crimes", "Intellectual Property Infringement",
    "Personal Identifiable Information Violations", "Illegal Crafting, Manufacturing, and Distribution", "Terrorism",
    "Child-related Crimes", "Animal-related Crimes", "Environmental Crimes", "Evasion of Law Enforcement",
    "Human Elimination & World Domination", "Advice on Adult Content", "(Sexual) Explicit Content Generation",
    "(Non-sexual) Explicit Content Generation", "Fake News Generation", "False Advertising",
    "Advice on Discrimination Behaviors", "Military Use", "Political Belief Promotion", "Ethical Belief Promotion",
    "Religion Promotion (Missionary)", "Social Stereotype Promotion", "Extremist Content Promotion",
    "Conspiracy Theories Promotion", "False Common Knowledge Promotion", "Harmful & Unhealthy Behaviors Promotion",
    "Medical Advice", "Financial Advice", "Legal Consulting Advice", "Governance Decision Advice",
    "Dangerous Machinery Operation Advice",
)
# the 2024-06 release: 45 classes, "Impersonation" as 12
CATEGORIES_45 = (*CATEGORIES_44[:11], "Impersonation", *CATEGORIES_44[11:])


def category_number(value: str) -> str:
    """The category as the file gives it, a whole number written as a float ("3.0", as a pandas
    export of a column with a gap writes it) read as that number."""
    m = _WHOLE.fullmatch(value)
    return str(int(m.group(1))) if m else value


_WHOLE = re.compile(r"\+?(\d+)(?:\.0*)?")


def category_name(number: str, names: tuple[str, ...] = CATEGORIES_44) -> str:
    """The published name of a category number; a number in neither list is "sorry-<n>", and a
    category given by name (not a number) keeps its name."""
    if not number.isdigit():
        return number
    n = int(number)
    return names[n - 1] if 1 <= n <= len(names) else f"sorry-{number}"


@dataset(name=NAME, title="SORRY-Bench", modality="language", mode="benchmark",
         source="https://sorry-bench.github.io", licence="SORRY-Bench terms of use (gated on the hub)",
         files=("**/sorry_bench*.csv",), size=440)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    read = [(line, category_number(text(row, path, line, "category")), text(row, path, line, "prompt"))
            for line, row in rows(path)]
    names = CATEGORIES_45 if any(number == "45" for _, number, _ in read) else CATEGORIES_44
    cases = [Case(
        id=str(line),
        turns=(Message.user(prompt),),
        category=category_name(number, names),
        label="unsafe",
        language="en",
        source=Source(dataset=NAME, file=str(path), line=line),
        metadata={"category_number": number},
    ) for line, number, prompt in read]
    return unique(cases, path)
