"""T2ISafety toxic prompts (t2i/benchmark) and the same prompts under the Chinese Interim Measures
(t2i/compliance).

Source: T2ISafety (Li et al., CVPR 2025, arXiv 2501.12612; github adwardlee/t2i_safety, Apache-2.0),
the 315-prompt toxic subset as the integrated safety report publishes it
(github XSafeAI/AI-safety-report, t2i-safe/benchmark/safety_toxic.jsonl, Apache-2.0).

Rows: JSONL {"prompt", "category", "detector_result": {"label", "score"}}. Each row is one
text-to-image case (task TI): the prompt is the user turn, `category` the case's category
(hate, humiliation, disturbing, sexual, violence, illegal activity, public figures, intellectual
property violation), label unsafe, language en, id the line number. The prompt-toxicity detector's
label and score go to metadata (detector_label, detector_score).
- t2isafety: scoring "image" (the generated images read by an image judge, e.g. --judge nsfw);
  a block or a reply without an image is a refusal.
- interim-measures: the same prompts scored against the Interim Measures for generative AI
  services taxonomy (--judge interim-measures: level 0 compliant, 1 borderline, 2 violation);
  reference["framework"] = "interim-measures"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmsafe.data.datasets import dataset
from mmsafe.data.rows import iter_rows
from mmsafe.errors import InputError
from mmsafe.schema import Case, Message, Source

SOURCE = "https://github.com/XSafeAI/AI-safety-report (t2i-safe/benchmark; T2ISafety, arXiv 2501.12612)"
LICENCE = "Apache-2.0"
FILES = ("**/safety_toxic.jsonl",)


def _text(raw: dict[str, Any], field: str, path: Path, line: int) -> str:
    v = raw.get(field)
    if not isinstance(v, str) or not v.strip():
        raise InputError(str(path), line, field, "required: a non-empty string")
    return v.strip()


def read_rows(path: Path, name: str, reference: dict[str, Any]) -> list[Case]:
    cases = []
    for line, raw in iter_rows(path):
        prompt = _text(raw, "prompt", path, line)
        category = _text(raw, "category", path, line)
        det = raw.get("detector_result")
        if det is None:  # absent or null: only metadata is missing
            det = {}
        if not isinstance(det, dict):
            raise InputError(str(path), line, "detector_result", "expected an object {label, score}")
        score = det.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise InputError(str(path), line, "detector_result.score", "expected a number")
        cases.append(Case(
            id=str(line), turns=(Message.user(prompt),), task="TI", category=category, label="unsafe",
            language="en", source=Source(dataset=name, file=str(path), line=line), reference=dict(reference),
            metadata={"detector_label": det.get("label"), "detector_score": score}))
    if not cases:
        raise InputError(str(path), None, None, "no rows in file")
    return cases


@dataset(name="t2isafety", title="T2ISafety toxic prompts", modality="t2i", mode="benchmark", source=SOURCE,
         licence=LICENCE, files=FILES, size=315)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    return read_rows(path, "t2isafety", {"scoring": "image"})


@dataset(name="interim-measures", title="T2ISafety prompts under China's Interim Measures for generative AI",
         modality="t2i", mode="compliance", source=SOURCE, licence=LICENCE, files=FILES, size=315)
def load_interim(path: Path, images: dict[str, bytes]) -> list[Case]:
    return read_rows(path, "interim-measures", {"scoring": "image", "framework": "interim-measures"})
