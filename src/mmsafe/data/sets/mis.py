"""MIS, Multi-Image Safety (Ding et al., 2025, "Rethinking Bottlenecks in Safety Fine-Tuning of
Vision Language Models"): questions over two images whose risk shows only when they are read
together; the test set's hard split.

Source: https://huggingface.co/datasets/Tuwhy/MIS_Test. Licence: as stated on the dataset card
(not checked here; see it before redistributing).

Layout read (under --data): `mis_hard.json`, a JSON array of objects {image_path1, image_path2,
question, category, sub_category}; the image paths (e.g. `hard_image/<n>/…`) are relative to the
JSON's folder, or to `zip_files/` beside it where the published zips were unpacked there, and must
stay inside the JSON's folder. Older field names image1/image2 (or a list `images`) are read too.
Row → case: text `question`, the two images in order, id `id` (else the line), category
`category`, subcategory `sub_category`, label unsafe (benign where a row's `label` / `safety`
field says safe), language en, scored by the run's judges. Run by name only (not in the default
vl/benchmark suite).

The layout was written from the published description (the dataset card and the safety report's
adapter), not tested on the real files here."""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._vl import Ids, first_base, image_at, json_items, label_from, nonempty, row_dict, text, vl_case
from mmsafe.errors import InputError
from mmsafe.schema import Case

NAME = "mis"
PAIRS = (("image_path1", "image_path2"), ("image1", "image2"), ("image_1", "image_2"))


@dataset(name=NAME, title="MIS (Multi-Image Safety, hard test split)", modality="vl", mode="benchmark",
         source="https://huggingface.co/datasets/Tuwhy/MIS_Test", licence="see the dataset card",
         files=("**/mis_hard.json",), hub=None, size=None, in_protocol=False)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    root = path.parent
    bases = [root, root / "zip_files"]
    cases: list[Case] = []
    ids = Ids()
    for line, _, item in json_items(path):
        row = row_dict(item, path, line)
        cid = ids.add(text(row, "id", path, line, required=False) or str(line), path, line, "id")
        refs = next(([(f, text(row, f, path, line) or "") for f in pair] for pair in PAIRS if pair[0] in row), None)
        if refs is None:
            listed = row.get("images")
            if not isinstance(listed, list) or not listed or not all(isinstance(r, str) and r for r in listed):
                raise InputError(str(path), line, "image_path1", "required: the row's two image paths")
            refs = [(f"images.{i}", r) for i, r in enumerate(listed)]
        pics = [image_at(root, first_base(bases, ref), ref, path, line, f, images) for f, ref in refs]
        cases.append(vl_case(cid, text(row, "question", path, line) or "", pics, NAME, path, line,
                             category=text(row, "category", path, line) or "",
                             subcategory=text(row, "sub_category", path, line, required=False),
                             label=label_from(row, ("label", "safety"))))
    return nonempty(cases, path)
