"""Predictions produced elsewhere, for `--target replay`: one JSON object per line with the
case `id` and the model's `output` (also accepted: response, output_text, completion).

UniSAFE's prediction format is read as it is: `id, scenario_type, model, output_text |
output_image | output_images, refusal, error, metadata`. A row with a `scenario_type` answers the
case "TASK:id" (UniSAFE's key is (id, scenario_type)). Text tasks need output_text; TI/IE/IC an
image (output_image, or output_images); MT exactly four output_images, turn 1 to 4; a refusal,
an error or a text reply given instead of images (output_text) needs no image (MT: fewer than four). Image paths are absolute or relative to the predictions file; each must
be a regular file within the image size cap and a PNG, JPEG, GIF or WebP (checked up front, read
again when replayed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr

from mmsafe.data.cases import read_image
from mmsafe.data.rows import iter_rows, validate_row
from mmsafe.errors import InputError
from mmsafe.schema import IMAGE_OUT_TASKS, UNISAFE_TASKS, Task
from mmsafe.store.blobs import sniff_mime

MT_IMAGES = 4
OUTPUT_KEYS = ("output", "response", "output_text", "completion")  # the names a reply's text goes by


class Prediction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    scenario_type: Task | None = None
    output: str | None = Field(default=None, validation_alias=AliasChoices(*OUTPUT_KEYS))
    output_image: str | None = Field(default=None, min_length=1)
    output_images: list[str] | None = None
    refusal: bool = False
    error: str | None = None
    model: str | None = None
    metadata: dict[str, Any] | None = None
    _files: tuple[Path, ...] = PrivateAttr(default=())

    @property
    def key(self) -> str:
        """The case this row answers: "TASK:id" for a UniSAFE row, else the id."""
        return f"{self.scenario_type}:{self.id}" if self.scenario_type else self.id

    @property
    def files(self) -> tuple[Path, ...]:
        """The output images, resolved, in order (MT: turn 1 to 4)."""
        return self._files

    @property
    def image_refs(self) -> list[str]:
        return [self.output_image] if self.output_image else list(self.output_images or [])


def load_predictions(path: Path) -> dict[str, Prediction]:
    by_id: dict[str, Prediction] = {}
    lines: dict[str, int] = {}
    for line, raw in iter_rows(path):
        given = [k for k in OUTPUT_KEYS if raw.get(k) is not None]
        if len(given) > 1:  # one would be read and the other dropped without a word
            raise InputError(str(path), line, given[1], f"give one of {', '.join(given)}: they name the same reply")
        if isinstance(raw.get("id"), str):
            raw = {**raw, "id": raw["id"].strip()}  # as a suite's ids are: " a " answers case "a"
        if isinstance(st := raw.get("scenario_type"), str):  # "tt" is TT, as UniSAFE's own reader takes it
            raw = {**raw, "scenario_type": st.strip().upper() if st.strip().upper() in UNISAFE_TASKS else st.strip()}
        if "refusal" in raw and raw["refusal"] is None:  # null: not a refusal (UniSAFE reads bool(None))
            raw = {**raw, "refusal": False}
        p = validate_row(Prediction, raw, path, line)
        check(p, path, line)
        p._files = tuple(image_file(path, line, ref, "output_image" if p.output_image else f"output_images.{i}")
                         for i, ref in enumerate(p.image_refs))
        if p.key in by_id:
            what = "(id, scenario_type)" if p.scenario_type else "id"
            raise InputError(str(path), line, "id", f"duplicate {what} {p.key!r} (first on line {lines[p.key]})")
        by_id[p.key], lines[p.key] = p, line
    if not by_id:
        raise InputError(str(path), None, None, "no predictions in file")
    return by_id


def check(p: Prediction, path: Path, line: int) -> None:
    """The row gives what its task must answer with (a refusal or an error needs nothing)."""
    where = str(path)
    if p.output_image and p.output_images is not None:
        raise InputError(where, line, "output_images", "give output_image or output_images, not both")
    if any(not ref for ref in p.output_images or []):
        raise InputError(where, line, "output_images", "an empty path")
    excused = bool(p.error) or p.refusal or p.output is not None  # a text reply in place of images is judged as text
    n = len(p.image_refs)
    if p.scenario_type == "MT":
        if p.output_image:
            raise InputError(where, line, "output_image", f"task MT gives output_images: {MT_IMAGES} paths, turn 1 to 4")
        if not (n == MT_IMAGES or (excused and n < MT_IMAGES)):
            raise InputError(where, line, "output_images", f"task MT needs exactly {MT_IMAGES} images, got {n}")
    elif p.scenario_type in IMAGE_OUT_TASKS:
        if not n and not excused:
            raise InputError(where, line, "output_image", f"missing: task {p.scenario_type} answers with an image "
                             "(or give refusal or error)")
    elif p.output is None and not excused:
        field = "output_text" if p.scenario_type else "output"
        raise InputError(where, line, field, "missing: give output (or response/output_text), refusal or error")


def image_file(path: Path, line: int, ref: str, field: str) -> Path:
    """A prediction's image: absolute or relative to the predictions file; checked to be a readable
    image within the size cap (here, and again when replayed: the bytes are not kept in memory)."""
    if "\0" in ref or len(ref) > 4096:
        raise InputError(str(path), line, field, f"{ref[:80]!r}… is not a usable file name")
    file = Path(ref) if Path(ref).is_absolute() else path.resolve().parent / ref
    data = read_image(file, str(path), line, field, ref)
    if sniff_mime(data[:16]) is None:
        raise InputError(str(path), line, field, f"{ref!r} is not a PNG, JPEG, GIF or WebP image")
    return file
