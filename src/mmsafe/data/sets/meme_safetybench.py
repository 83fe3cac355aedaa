"""MemeSafetyBench (Lee et al., EMNLP 2025, "Are Vision-Language Models Safe in the Wild? A
Meme-Based Benchmark Study"): real meme images paired with instructions; the `mini` split (390
rows) the integrated safety report uses.

Source: https://huggingface.co/datasets/oneonlee/Meme-Safety-Bench (gated: accept its terms on
the hub first). Licence: as stated on the dataset card (not checked here; the memes' rights stay
with their owners).

Layout read (under --data): `mini/test-*.parquet` (else `full/test-*.parquet`), the hub's parquet
shards, columns meme_image ({"bytes", "path"} struct), instruction, sentiment, category, task,
image_path; the loader is handed one shard and reads every `test-*.parquet` beside it.
Row → case: text `instruction`, the meme from `meme_image`'s bytes, id "<shard>:<row>", category
`category`, subcategory `task`, label unsafe (benign where `category` is "benign" or a
`label` / `is_harmful` field says so), language en, metadata {sentiment, image_path}, scored by
the run's judges. Run by name only (not in the default vl/benchmark suite).

The layout was written from the published description (the dataset card and the safety report's
adapter), not tested on the real files here."""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._vl import Ids, embedded_image, label_from, nonempty, parquet_rows, text, vl_case
from mmsafe.schema import Case

NAME = "memesafetybench"


@dataset(name=NAME, title="MemeSafetyBench (mini)", modality="vl", mode="benchmark",
         source="https://huggingface.co/datasets/oneonlee/Meme-Safety-Bench", licence="see the dataset card",
         files=("**/mini/test-*.parquet", "**/full/test-*.parquet"), hub=None, size=390, in_protocol=False)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    cases: list[Case] = []
    ids = Ids()
    for f in sorted(p for p in path.parent.glob("test-*.parquet") if p.is_file()):
        for n, row in parquet_rows(f, "MemeSafetyBench"):
            cid = ids.add(f"{f.stem}:{n}", f, n, "id")
            category = text(row, "category", f, n, required=False) or ""
            label = "benign" if category.lower() == "benign" else label_from(row, ("label", "is_harmful"))
            cases.append(vl_case(cid, text(row, "instruction", f, n) or "",
                                 [embedded_image(row.get("meme_image"), f, n, "meme_image", images)],
                                 NAME, f, n, category=category, subcategory=text(row, "task", f, n, required=False),
                                 label=label,
                                 metadata={"sentiment": text(row, "sentiment", f, n, required=False),
                                           "image_path": text(row, "image_path", f, n, required=False)}))
    return nonempty(cases, path)
