"""JailBreakV-28K (Luo et al., COLM 2024): 28,000 jailbreak queries (LLM-transfer templates,
FigStep, query-related images) pairing a harmful request with an image.

Source: https://huggingface.co/datasets/JailbreakV-28K/JailBreakV-28k. Licence: MIT.

Layout read (under --data): `JailBreakV_28K/JailBreakV_28K.csv` with columns id, jailbreak_query,
redteam_query, format, policy, image_path, from, …; `image_path` is relative to the CSV's folder
(e.g. `llm_transfer_attack/…`, `figstep/…`) and must stay inside it.
Row → case: text `jailbreak_query`, the image at `image_path`, id `id` (else the line), category
`policy`, subcategory `format`, label unsafe, language en, reference {redteam_query} (the plain
harmful request), metadata {format, from}, scored by the run's judges.

The layout was written from the published description (the dataset card and the safety report's
adapter), not tested on the real files here."""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._vl import Ids, csv_rows, image_at, nonempty, text, vl_case
from mmsafe.schema import Case

NAME = "jailbreakv-28k"


@dataset(name=NAME, title="JailBreakV-28K", modality="vl", mode="benchmark",
         source="https://huggingface.co/datasets/JailbreakV-28K/JailBreakV-28k", licence="MIT",
         files=("**/JailBreakV_28K.csv",), hub=None, size=28000, in_protocol=True)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    root = path.parent
    cases: list[Case] = []
    ids = Ids()
    for line, row in csv_rows(path):
        cid = ids.add(text(row, "id", path, line, required=False) or str(line), path, line, "id")
        prompt = text(row, "jailbreak_query", path, line) or ""
        pic = image_at(root, root, text(row, "image_path", path, line) or "", path, line, "image_path", images)
        fmt = text(row, "format", path, line, required=False)
        cases.append(vl_case(cid, prompt, [pic], NAME, path, line,
                             category=text(row, "policy", path, line) or "", subcategory=fmt,
                             reference={"redteam_query": text(row, "redteam_query", path, line, required=False)},
                             metadata={"format": fmt, "from": text(row, "from", path, line, required=False)}))
    return nonempty(cases, path)
