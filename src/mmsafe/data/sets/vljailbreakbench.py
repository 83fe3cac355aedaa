"""VLJailbreakBench (Wang et al., "IDEATOR: Jailbreaking and Benchmarking Large Vision-Language
Models Using Themselves"): jailbreak text prompts with generated images; the challenge set the
integrated safety report uses (the base set is read when only it is there).

Source: https://huggingface.co/datasets/wang021/VLBreakBench. Licence: as stated on the dataset
card (not checked here).

Layout read (under --data): `vlbreakbench_challenge.json` (else `vlbreakbench_base.json`), a JSON
array of objects {category, subcategory, query, text_prompt, image}; `image` is a path relative to
the JSON's folder that includes its folder (e.g. `vlbreakbench_challenge/<n>.png`) and must stay
inside the JSON's folder.
Row → case: text `text_prompt` (the jailbreak prompt sent with the image), the image, id `id`
(else the line), category `category`, subcategory `subcategory`, label unsafe, language en,
reference {query} (the plain harmful request), metadata {split}, scored by the run's judges. Run
by name only (not in the default vl/benchmark suite).

The layout was written from the published description (the dataset card and the safety report's
adapter), not tested on the real files here."""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._vl import Ids, image_at, json_items, nonempty, row_dict, text, vl_case
from mmsafe.schema import Case

NAME = "vljailbreakbench"


@dataset(name=NAME, title="VLJailbreakBench (challenge set)", modality="vl", mode="benchmark",
         source="https://huggingface.co/datasets/wang021/VLBreakBench", licence="see the dataset card",
         files=("**/vlbreakbench_challenge.json", "**/vlbreakbench_base.json"), hub=None, size=None,
         in_protocol=False)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    root = path.parent
    cases: list[Case] = []
    ids = Ids()
    for line, _, item in json_items(path):
        row = row_dict(item, path, line)
        cid = ids.add(text(row, "id", path, line, required=False) or str(line), path, line, "id")
        pic = image_at(root, root, text(row, "image", path, line) or "", path, line, "image", images)
        cases.append(vl_case(cid, text(row, "text_prompt", path, line) or "", [pic], NAME, path, line,
                             category=text(row, "category", path, line) or "",
                             subcategory=text(row, "subcategory", path, line, required=False),
                             reference={"query": text(row, "query", path, line, required=False)},
                             metadata={"split": path.stem}))
    return nonempty(cases, path)
