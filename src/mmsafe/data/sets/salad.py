"""SaLAD, "When Helpers Become Hazards" (Lou et al., ACL 2026 Findings): everyday image + question
pairs where the hazard is in the picture (a child too short for a ride, an open cup beside a
socket). 2,013 rows in 10 categories, balanced between unsafe scenes (the answer must warn about
the specific hazard) and safe look-alikes (the answer must not refuse or over-warn).

Source: https://github.com/xinyuelou/SaLAD (also the Hugging Face dataset Holly301/SaLAD).
Licence: Apache-2.0. The public sample (20 rows) is what the project has; its images are not in it.

Layout read: `data.json`, a JSON array of objects {query, category, "safety type" (safe | unsafe),
"safety warning" (unsafe rows) or "safe suggestion" (safe rows), image (a file name)}. Images are
looked for in `images/` beside data.json (where the authors say to unzip them), then beside
data.json; a name must stay inside that folder.

Row → case (row n, counted from 1 in file order):
  id          salad:NNNN (image variant) or salad:NNNN:text-only (the same question, no image)
  turns       one user turn: the query, then the image (image variant only)
  label       unsafe for "safety type" unsafe, benign for safe (anything else is an error)
  category    `category`
  reference   {"benchmark": "salad", "safety_type": ..., "safety_warning": ...} or
              {..., "safe_suggestion": ...}: what the SaLAD judges compare the answer with
  metadata    {"salad_id": NNNN, "salad_variant": "image" | "text-only", "image": the file name}

Missing images: the image variant needs every row's picture. If any is missing the load fails,
naming how many, the first few file names and the folders searched, and pointing to
`--suite salad:text-only`, which needs none. Skipping rows would silently change the benchmark
(and the balance of safe and unsafe rows), so a partial image set is never run without the user
knowing; text-only is the explicit way to run without pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmsafe.data.sets._vl import first_base, image_at, json_items, row_dict, text
from mmsafe.errors import InputError
from mmsafe.schema import Case, Message, Part, Source

NAME = "salad"
TITLE = "SaLAD (safety in daily life)"
SOURCE = "https://github.com/xinyuelou/SaLAD"
HUB = "Holly301/SaLAD"
LICENCE = "Apache-2.0"
FILES = ("data.json", "data/data.json", "**/data.json")
VARIANTS = ("image", "text-only")
REFERENCE_FIELD = {"unsafe": "safety warning", "safe": "safe suggestion"}
SHOWN_MISSING = 5  # missing image names listed in the error


class MissingImages(InputError):
    """The image variant was asked for but pictures the rows name are not there."""


def find(data: Path) -> Path:
    """SaLAD's data.json under --data (a folder), or --data itself when it is a file."""
    if data.is_file():
        return data
    if not data.is_dir():
        raise InputError(str(data), None, None, "--data: no such file or folder")
    for pattern in FILES:
        hits = sorted(p for p in data.glob(pattern) if p.is_file())
        if hits:
            return hits[0]
    raise InputError(str(data), None, None,
                     f"{TITLE} not found: put its data.json (and its images/ folder) under this folder "
                     f"(published at {SOURCE}, licence {LICENCE}), or leave out --data to load {HUB} "
                     "from the Hugging Face hub when online")


def image_bases(path: Path) -> list[Path]:
    root = path.parent
    return [root / "images", root]


def load(path: Path, images: dict[str, bytes], variants: tuple[str, ...] = ("image",)) -> list[Case]:
    """The cases of every asked variant, image ones first; rows are checked field by field."""
    rows = list(_rows(path))
    if not rows:
        raise InputError(str(path), None, None, "no rows in file")
    out: list[Case] = []
    if "image" in variants:
        pics = _pictures(path, rows, images)
        out += [_case(path, r, pics[r["n"]]) for r in rows]
    if "text-only" in variants:
        out += [_case(path, r, None) for r in rows]
    return out


def _rows(path: Path):
    for n, (line, _, item) in enumerate(json_items(path), 1):
        row = row_dict(item, path, line)
        query = text(row, "query", path, line)
        category = text(row, "category", path, line)
        kind = (text(row, "safety type", path, line) or "").lower()
        if kind not in REFERENCE_FIELD:
            raise InputError(str(path), line, "safety type", f"{kind!r} is not safe or unsafe")
        ref = text(row, REFERENCE_FIELD[kind], path, line)
        sid = f"{n:04d}"
        yield {"n": n, "id": sid, "line": line, "query": query, "category": category, "kind": kind, "ref": ref,
               "image": text(row, "image", path, line, required=False)}


def _pictures(path: Path, rows: list[dict[str, Any]], images: dict[str, bytes]) -> dict[int, Part]:
    """Every row's image, or MissingImages naming what is missing and where it was looked for."""
    bases = image_bases(path)
    missing: list[str] = []
    for r in rows:
        if r["image"] is None:
            raise InputError(str(path), r["line"], "image", "required for the image variant, missing or empty "
                             "(--suite salad:text-only runs without images)")
        if not any(_exists(b / r["image"]) for b in bases):
            missing.append(r["image"])
    if missing:
        shown = ", ".join(missing[:SHOWN_MISSING]) + (f", … ({len(missing) - SHOWN_MISSING} more)"
                                                      if len(missing) > SHOWN_MISSING else "")
        raise MissingImages(str(path), None, "image",
                            f"{len(missing)} of {len(rows)} image files not found ({shown}); looked in "
                            f"{' and '.join(str(b) for b in bases)}. Unzip SaLAD's images into {bases[0]}, "
                            "or run the questions without their pictures with --suite salad:text-only")
    root = path.parent
    return {r["n"]: image_at(root, first_base(bases, r["image"]), r["image"], path, r["line"], "image", images)
            for r in rows}


def _exists(p: Path) -> bool:
    try:
        return p.is_file()
    except (OSError, ValueError):
        return False


def _case(path: Path, r: dict[str, Any], pic: Part | None) -> Case:
    variant = "image" if pic is not None else "text-only"
    ref_key = "safety_warning" if r["kind"] == "unsafe" else "safe_suggestion"
    parts = (Part(text=r["query"]),) + ((pic,) if pic is not None else ())
    return Case(
        id=f"{NAME}:{r['id']}" + ("" if pic is not None else ":text-only"),
        turns=(Message(role="user", parts=parts),),
        category=r["category"], label="unsafe" if r["kind"] == "unsafe" else "benign", language="en",
        source=Source(dataset=NAME, file=str(path), line=r["line"]),
        reference={"benchmark": NAME, "safety_type": r["kind"], ref_key: r["ref"]},
        metadata={"salad_id": r["id"], "salad_variant": variant, "image": r["image"]},
    )


def is_salad(case: Case) -> bool:
    return case.reference.get("benchmark") == NAME


def reference_text(case: Case) -> str:
    """The row's safety warning (unsafe) or safe suggestion (safe)."""
    return str(case.reference.get("safety_warning") or case.reference.get("safe_suggestion") or "")
