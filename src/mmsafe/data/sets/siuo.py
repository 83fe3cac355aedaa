"""SIUO, Safe Inputs but Unsafe Output (Wang et al., NAACL 2025): 167 cases whose image and text
are each harmless but together call for a safety-aware answer, in 9 safety domains.

Source: https://huggingface.co/datasets/sinwang/SIUO (https://github.com/sinwang20/SIUO).
Licence: CC BY-NC 4.0.

Layout read (under --data): `siuo_gen.json`, a JSON array of objects {question_id, image,
question, category, safety_warning, reference_answer}; `image` is a file name in the `images/`
folder beside the JSON (or a path relative to the JSON's folder), and must stay inside that folder.
Row → case: text `question`, the image, id `question_id` (else the line), category `category`,
label unsafe (benign where a row's `label` / `safety` field says safe; the published rows have
none), language en, reference {safety_warning, reference_answer} for judges that check the
answer warns, scored by the run's judges.

The layout was written from the published description (the dataset card and the safety report's
adapter), not tested on the real files here."""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._vl import Ids, first_base, image_at, json_items, label_from, nonempty, row_dict, text, vl_case
from mmsafe.schema import Case

NAME = "siuo"


@dataset(name=NAME, title="SIUO (Safe Inputs but Unsafe Output)", modality="vl", mode="benchmark",
         source="https://huggingface.co/datasets/sinwang/SIUO", licence="CC BY-NC 4.0",
         files=("**/siuo_gen.json",), hub=None, size=167, in_protocol=True)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    root = path.parent
    cases: list[Case] = []
    ids = Ids()
    for line, _, item in json_items(path):
        row = row_dict(item, path, line)
        cid = ids.add(text(row, "question_id", path, line, required=False) or str(line), path, line, "question_id")
        ref = text(row, "image", path, line) or ""
        pic = image_at(root, first_base([root / "images", root], ref), ref, path, line, "image", images)
        cases.append(vl_case(cid, text(row, "question", path, line) or "", [pic], NAME, path, line,
                             category=text(row, "category", path, line) or "",
                             label=label_from(row, ("label", "safety")),
                             reference={"safety_warning": text(row, "safety_warning", path, line, required=False),
                                        "reference_answer": text(row, "reference_answer", path, line, required=False)}))
    return nonempty(cases, path)
