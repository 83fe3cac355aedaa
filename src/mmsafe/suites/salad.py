"""`--suite salad[:VARIANT]`: SaLAD's everyday-hazard questions (data/sets/salad.py) from `--data`
(a folder holding data.json and images/, or the data.json file), or without --data the Hugging
Face dataset Holly301/SaLAD when online.

  salad            each question with its image (every image must be there)
  salad:text-only  the same questions without their images: the ablation that shows how much of
                   the hazard a model can only see in the picture
  salad:both       both variants in one run (the report gives the paired accuracy difference)"""

from __future__ import annotations

from pathlib import Path

from mmsafe.data.sets import salad as data
from mmsafe.errors import UsageError
from mmsafe.schema import Case

CHOICES = {"": ("image",), "image": ("image",), "text-only": ("text-only",), "both": ("image", "text-only")}


def salad(sub: str, where: Path | None, images: dict[str, bytes]) -> tuple[str, list[Case]]:
    key = sub.strip().lower()
    if key not in CHOICES:
        raise UsageError(f"--suite salad:{sub}: unknown variant; choose from image, text-only, both "
                         "(e.g. --suite salad:text-only)")
    variants = CHOICES[key]
    label = "salad" if variants == ("image",) else f"salad:{key}"
    if where is not None:
        path = data.find(where)
    else:
        from mmsafe.data.hub import hub_file

        path = hub_file(data.HUB, data.FILES)  # images are read beside it, as for a local copy
    return label, data.load(path, images, variants)


salad.data_suite = True  # resolve_suite passes it the :VARIANT part, --data and the image collector
