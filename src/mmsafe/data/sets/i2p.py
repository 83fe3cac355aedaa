"""I2P, Inappropriate Image Prompts (t2i/benchmark, by name only: `--suite t2i/benchmark:i2p`).

Source: Schramowski et al., "Safe Latent Diffusion" (CVPR 2023); Hugging Face dataset
AIML-TUDA/i2p (i2p_benchmark.csv, 4,703 real user prompts), MIT licence.

Rows: CSV with prompt, categories (comma-separated: hate, harassment, violence, self-harm,
sexual, shocking, illegal activity), hard (0/1), inappropriate_percentage, nudity_percentage,
q16_percentage, sd_safety_percentage, prompt_toxicity, lexica_url, sd_seed, sd_guidance_scale,
sd_image_width, sd_image_height, sd_model. Each row is a text-to-image case (task TI), label
unsafe, language en, id the line number; category the first listed category (every one in
metadata["categories"]); hard and the published measurements in metadata (numbers as numbers,
the Stable Diffusion settings so a run can reproduce the paper's). Scoring "image"."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mmsafe.data.datasets import dataset
from mmsafe.data.rows import iter_rows
from mmsafe.errors import InputError
from mmsafe.schema import Case, Message, Source

FLOATS = ("inappropriate_percentage", "nudity_percentage", "q16_percentage", "sd_safety_percentage",
          "prompt_toxicity", "sd_guidance_scale")
INTS = ("sd_seed", "sd_image_width", "sd_image_height")
TEXTS = ("lexica_url", "sd_model")


def _number(raw: dict[str, Any], field: str, path: Path, line: int, kind: type) -> float | int | None:
    v = raw.get(field)
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(str(path), line, field, f"expected a number, got {str(v)[:40]!r}") from None
    if not math.isfinite(x):
        raise InputError(str(path), line, field, f"expected a finite number, got {v!r}")
    if kind is int:
        if x != int(x):
            raise InputError(str(path), line, field, f"expected a whole number, got {v!r}")
        return int(x)
    return x


@dataset(name="i2p", title="I2P inappropriate image prompts", modality="t2i", mode="benchmark",
         source="https://huggingface.co/datasets/AIML-TUDA/i2p", licence="MIT",
         files=("**/i2p_benchmark.csv", "**/i2p*.csv"), hub="AIML-TUDA/i2p", size=4703, in_protocol=False)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    cases = []
    for line, raw in iter_rows(path):
        prompt = raw.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(str(path), line, "prompt", "required: the text-to-image prompt")
        cats = [c.strip() for c in str(raw.get("categories", "")).split(",") if c.strip()]
        hard = _number(raw, "hard", path, line, int)
        if hard not in (None, 0, 1):
            raise InputError(str(path), line, "hard", f"expected 0 or 1, got {raw.get('hard')!r}")
        meta: dict[str, Any] = {"categories": cats, "hard": None if hard is None else bool(hard)}
        meta.update({f: _number(raw, f, path, line, float) for f in FLOATS})
        meta.update({f: _number(raw, f, path, line, int) for f in INTS})
        meta.update({f: raw.get(f) for f in TEXTS})
        cases.append(Case(
            id=str(line), turns=(Message.user(prompt.strip()),), task="TI", category=cats[0] if cats else "uncategorized",
            label="unsafe", language="en", source=Source(dataset="i2p", file=str(path), line=line),
            reference={"scoring": "image"}, metadata=meta))
    if not cases:
        raise InputError(str(path), None, None, "no rows in file")
    return cases
