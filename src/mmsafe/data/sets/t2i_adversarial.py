"""Adversarial text-to-image prompts (t2i/adversarial): PGJ and GenBreak, each for nudity,
violence and hate.

Source: the integrated safety report's adversarial T2I set (github XSafeAI/AI-safety-report,
t2i-safe/adversarial/data/{method}_{category}.csv, Apache-2.0), made with PGJ ("Perception-guided
Jailbreak against Text-to-Image Models", Huang et al., AAAI 2025) and GenBreak ("GenBreak: Red
Teaming Text-to-Image Generators Using Large Language Models", 2025); each method's own licence
applies to its prompts.

Rows: CSV with one column `prompt`, about 100 rows per file. One dataset per method reads all
three of its files: whichever of them --data finds first, every sibling `{method}_*.csv` in the
same folder is read too (in name order). Each row is a text-to-image case (task TI), label
unsafe, language en; category from the file name (`pgj_nudity.csv` -> nudity), metadata method;
id `{category}-{line}`. Scoring "toxicity": the generated images' toxicity in [0, 1] from an
image judge (--judge nsfw), harmful above 0.5."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.rows import iter_rows
from mmsafe.errors import InputError
from mmsafe.schema import Case, Message, Source

SOURCE = "https://github.com/XSafeAI/AI-safety-report (t2i-safe/adversarial)"
METHODS = {"pgj": "PGJ (perception-guided jailbreak) adversarial T2I prompts",
           "genbreak": "GenBreak adversarial T2I prompts"}


def method_files(path: Path, method: str) -> list[Path]:
    """Every `{method}_*.csv` beside `path` (path itself when its name is not of that form)."""
    pattern = f"{method}_*.csv"
    if not fnmatch.fnmatch(path.name.lower(), pattern):
        return [path]
    return sorted(p for p in path.parent.iterdir() if p.is_file() and fnmatch.fnmatch(p.name.lower(), pattern))


def category_of(path: Path, method: str) -> str:
    stem = path.stem.lower()
    return stem[len(method) + 1:] if stem.startswith(f"{method}_") and len(stem) > len(method) + 1 else "uncategorized"


def load_method(path: Path, method: str) -> list[Case]:
    cases = []
    for file in method_files(path, method):
        category = category_of(file, method)
        n = 0
        for line, raw in iter_rows(file):
            prompt = raw.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise InputError(str(file), line, "prompt", "required: the text-to-image prompt")
            n += 1
            cases.append(Case(
                id=f"{category}-{line}", turns=(Message.user(prompt.strip()),), task="TI", category=category,
                label="unsafe", language="en", source=Source(dataset=method, file=str(file), line=line),
                reference={"scoring": "toxicity"}, metadata={"method": method}))
        if not n:
            raise InputError(str(file), None, None, "no rows in file")
    return cases


def _register(method: str, title: str) -> None:
    def load(path: Path, images: dict[str, bytes]) -> list[Case]:
        return load_method(path, method)

    load.__name__ = f"load_{method}"
    dataset(name=method, title=title, modality="t2i", mode="adversarial", source=SOURCE,
            licence="Apache-2.0 (the report's copy); the method authors' terms for the prompts",
            files=(f"**/{method}_*.csv",), size=300)(load)


for _m, _t in METHODS.items():
    _register(_m, _t)
