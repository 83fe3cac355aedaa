"""A run's outputs in UniSAFE's prediction format, to share or to score again (`--target replay`).

One row per case: id (the shared risk id of a UniSAFE case, else the case id), scenario_type
(the case's task), model, output_text, output_image (one image) or output_images (MT: one per
turn, in order; several images), refusal, error. Images are copied out of the blob store into
`<file stem>-images/<sha256>.<ext>` beside the file and named relative to it: file names come
from content hashes only, never from model output."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmsafe.schema import Case, Generation
from mmsafe.errors import UsageError
from mmsafe.store.sqlite import Store, damaged

EXT = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


def case_key(case: Case) -> str:
    """The `id` to write: re-read with the scenario_type, it answers this case again."""
    if case.target_id is not None and case.id == f"{case.task}:{case.target_id}":
        return case.target_id
    return case.id


def rows(store: Store, images_dir: Path) -> Iterator[dict[str, Any]]:
    """The rows, copying each image the outputs hold into images_dir (once per content hash)."""
    spec = store.spec()
    gens = {g.case_id: g for g in store.generations() if g.attack == "none"}  # the plain replies (UniSAFE has no attacks)
    model = spec.model if spec else None
    for case in store.cases(spec.limit if spec else None):
        row: dict[str, Any] = {"id": case_key(case), "scenario_type": case.task, "model": model}
        g = gens.get(case.id)
        if g is None or g.error:
            row["error"] = g.error if g else "not generated"
            yield row
            continue
        row.update(outputs(store, g, case, images_dir))
        row["refusal"] = g.provider_refusal
        yield row


def outputs(store: Store, g: Generation, case: Case, images_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if g.text:
        out["output_text"] = g.text
    pics = g.turn_images() if case.task == "MT" else g.images
    names = [copy_image(store, p.image_sha256 or "", p.mime, images_dir) for p in pics]
    if case.task == "MT" or len(names) > 1:
        out["output_images"] = names
    elif names:
        out["output_image"] = names[0]
    return out


def copy_image(store: Store, sha: str, mime: str | None, images_dir: Path) -> str:
    """Copy a blob to images_dir/<sha>.<ext> (atomically, once); the path relative to the JSONL."""
    store.blobs.path(sha)  # refuses anything but a SHA-256 hex digest, before it names a file
    name = f"{sha}.{EXT.get(mime or '', 'bin')}"
    dest = images_dir / name
    if images_dir.is_symlink():
        raise UsageError(f"{images_dir}: a link; the images are written into a real folder beside the output only")
    if not dest.exists():
        try:
            data = store.blobs.get(sha)
        except (OSError, ValueError) as exc:  # the run's image is missing, a link, or not what its hash says
            raise damaged(store.path, f"image {sha[:16]}…: {exc}") from None
        images_dir.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f"{name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
    return f"{images_dir.name}/{name}"
