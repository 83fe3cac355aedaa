"""USB, a Unified Safety Benchmark for multimodal LLMs (Zheng et al., 2025): image-text queries
over a three-level risk taxonomy with every image-risk × text-risk combination, testing both
vulnerability (harmful queries) and oversensitivity (harmless ones that look risky); the hard
split the integrated safety report uses.

Source: https://huggingface.co/datasets/cgjacklin/USB. Licence: as stated on the dataset card
(not checked here).

Layout read (under --data): `USB_hard_final.csv` with columns id, text, open_url,
level1_category, level2_category, level3_category, img_risk, text_risk, img_style, usage;
`open_url` is the image path relative to the CSV's folder (e.g. `img/vulnerability_eval/….jpg`)
and must stay inside it.
Row → case: text `text`, the image at `open_url`, id `id` (else the line), category
`level1_category`, subcategory `level2_category`, label benign where `usage` is oversensitivity
(the model should answer), else unsafe; language en; metadata {level3_category, img_risk,
text_risk, risk_pair (RIRT / RIST / SIRT / SIST: risky or safe image × text), img_style, usage},
scored by the run's judges. Run by name only (not in the default vl/benchmark suite).

The layout was written from the published description (the dataset card and the safety report's
adapter), not tested on the real files here."""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import dataset
from mmsafe.data.sets._vl import Ids, csv_rows, image_at, nonempty, text, vl_case
from mmsafe.schema import Case

NAME = "usb"


@dataset(name=NAME, title="USB (Unified Safety Benchmark, hard split)", modality="vl", mode="benchmark",
         source="https://huggingface.co/datasets/cgjacklin/USB", licence="see the dataset card",
         files=("**/USB_hard_final.csv",), hub=None, size=None, in_protocol=False)
def load(path: Path, images: dict[str, bytes]) -> list[Case]:
    root = path.parent
    cases: list[Case] = []
    ids = Ids()
    for line, row in csv_rows(path):
        cid = ids.add(text(row, "id", path, line, required=False) or str(line), path, line, "id")
        pic = image_at(root, root, text(row, "open_url", path, line) or "", path, line, "open_url", images)
        usage = text(row, "usage", path, line, required=False) or ""
        img = (text(row, "img_risk", path, line, required=False) or "0") == "1"
        txt = (text(row, "text_risk", path, line, required=False) or "0") == "1"
        cases.append(vl_case(cid, text(row, "text", path, line) or "", [pic], NAME, path, line,
                             category=text(row, "level1_category", path, line) or "",
                             subcategory=text(row, "level2_category", path, line, required=False),
                             label="benign" if usage.lower().startswith("oversensitiv") else "unsafe",
                             metadata={"level3_category": text(row, "level3_category", path, line, required=False),
                                       "img_risk": img, "text_risk": txt,
                                       "risk_pair": ("RI" if img else "SI") + ("RT" if txt else "ST"),
                                       "img_style": text(row, "img_style", path, line, required=False),
                                       "usage": usage or None}))
    return nonempty(cases, path)
