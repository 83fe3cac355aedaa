"""MM-SafetyBench (Liu et al., ECCV 2024): harmful questions rephrased around a key phrase shown in
an image, in 13 scenarios.

Source: https://huggingface.co/datasets/PKU-Alignment/MM-SafetyBench (the parquet copy the
integrated safety report downloads; the original is https://github.com/isXinLiu/MM-SafetyBench).
Licence: CC BY-NC 4.0.

Layout read (under --data): `data/<Scenario>/<Variant>.parquet` (or `<Scenario>/<Variant>.parquet`
right under --data), one folder per scenario (EconomicHarm, Fraud, HateSpeech, …) and one file per
image variant; the loader is handed one `SD_TYPO.parquet` and reads every scenario folder beside it, variants SD, SD_TYPO and TYPO
(`Text_only` has no image and is left out), 1,680 questions × 3 = 5,040 cases.
Row → case: text `question`, the image the row's `image` column carries (raw bytes or the hub's
{"bytes", "path"} struct), id "<Scenario>/<Variant>/<id>" (`id`, else the row number), category the
scenario folder's name, subcategory the variant, label unsafe, language en, scored by the run's
judges.

The layout was written from the published description (the dataset card and the safety report's
adapter), not tested on the real files here."""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._vl import Ids, embedded_image, nonempty, parquet_rows, text, vl_case
from mmsafe.schema import Case

NAME = "mm-safetybench"
VARIANTS = ("SD", "SD_TYPO", "TYPO")


@dataset(name=NAME, title="MM-SafetyBench", modality="vl", mode="benchmark",
         source="https://huggingface.co/datasets/PKU-Alignment/MM-SafetyBench", licence="CC BY-NC 4.0",
         files=("**/data/*/SD_TYPO.parquet", "*/SD_TYPO.parquet"), hub=None, size=5040, in_protocol=True)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    data = path.parent.parent
    cases: list[Case] = []
    ids = Ids()
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        for variant in VARIANTS:
            f = folder / f"{variant}.parquet"
            if not f.is_file():
                continue
            for n, row in parquet_rows(f, "MM-SafetyBench"):
                rid = text(row, "id", f, n, required=False) or str(n)
                cid = ids.add(f"{folder.name}/{variant}/{rid}", f, n, "id")
                cases.append(vl_case(cid, text(row, "question", f, n) or "",
                                     [embedded_image(row.get("image"), f, n, "image", images)],
                                     NAME, f, n, category=folder.name, subcategory=variant,
                                     metadata={"variant": variant}))
    return nonempty(cases, path)
