"""Image-grounded compliance questions (vl/compliance): the `multimodal_generated` variants of the
AI safety report's NIST AI RMF, EU AI Act and MAS FEAT question groups (see compliance.py), asked
with the picture each names in `image_reference` (e.g. "generated_images/generated_img_1_6.png").

Source: https://github.com/XSafeAI/AI-safety-report (Apache-2.0). The published JSON files do not
include the pictures: put them where `image_reference` says, relative to the JSON file's folder or
its parent (a missing picture is an error naming the file, the variant and the path). Mapping as in
compliance.py (scoring "compliance": the judge reads the reply against the group's should /
should-not rules), with the picture after the question in the user turn; language en."""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.datasets import Incomplete, dataset
from mmsafe.data.sets import compliance as text_compliance
from mmsafe.data.sets._vl import first_base, image_at
from mmsafe.errors import InputError
from mmsafe.schema import Case, Message, Part


def load_grounded(path: Path, framework: str, name: str, images: dict[str, bytes]) -> list[Case]:
    out = []
    root = path.parent.parent if path.parent.parent != path.parent else path.parent
    for c in text_compliance.load_groups(path, framework, name):
        if not c.metadata.get("image_grounded"):
            continue
        ref = c.metadata.get("image_reference")
        where = f"question {c.metadata.get('question_id')} (group {c.metadata.get('group_id')})"
        if not isinstance(ref, str) or not ref.strip():
            raise InputError(str(path), None, "image_reference", f"{where}: an image-grounded question names no image")
        base = first_base([path.parent, path.parent.parent], ref)
        if not (base / ref).is_file():
            raise Incomplete(str(path), c.source.line if c.source else None, "image_reference",
                             f"{where}: picture {ref} not found beside the file or in its parent folder "
                             "(the published data leaves the pictures out: put them there)")
        pic = image_at(root, base, ref, path, c.source.line if c.source else 0, "image_reference", images)
        turn = Message(role="user", parts=(Part(text=c.turns[-1].text), pic))
        out.append(c.model_copy(update={"turns": (turn,)}))
    if not out:
        raise InputError(str(path), None, None, "no image-grounded (multimodal_generated) questions in this file")
    return out


@dataset(name="nist-vl", title="NIST AI RMF image-grounded compliance questions (AI safety report)", modality="vl",
         mode="compliance", source=text_compliance.SOURCE, licence=text_compliance.LICENCE, files=("**/NIST.json",),
         size=20)
def load_nist_vl(path: Path, images: dict[str, bytes]) -> list[Case]:
    return load_grounded(path, "NIST AI RMF", "nist-vl", images)


@dataset(name="eu-ai-act-vl", title="EU AI Act image-grounded compliance questions (AI safety report)", modality="vl",
         mode="compliance", source=text_compliance.SOURCE, licence=text_compliance.LICENCE,
         files=("**/EU_AI_Act.json",), size=25)
def load_eu_vl(path: Path, images: dict[str, bytes]) -> list[Case]:
    return load_grounded(path, "EU AI Act", "eu-ai-act-vl", images)


@dataset(name="feat-vl", title="MAS FEAT image-grounded compliance questions (AI safety report)", modality="vl",
         mode="compliance", source=text_compliance.SOURCE, licence=text_compliance.LICENCE, files=("**/FEAT.json",),
         size=14)
def load_feat_vl(path: Path, images: dict[str, bytes]) -> list[Case]:
    return load_grounded(path, "MAS FEAT", "feat-vl", images)
