"""What every detector provides, and the MODEL_DIR folder a trained detector lives in.

A detector maps images to P(fake) in [0, 1]; an image is called fake at p >= 0.5. Local
detectors read the preprocessed pixels (data.prepare); the HTTP detector sends image bytes.

MODEL_DIR holds `detector.json` (format tag, version, kind, parameters, preprocessing, training
set description, held-out metrics), the weights (`weights.npz` numpy arrays read with
allow_pickle=False, or `weights.pt` a torch state_dict read with torch.load(weights_only=True):
loading never runs code), and `train_images.txt` (two SHA-256 per training image, of its decoded pixels and of its
file's bytes, so `eval` leaves them out, re-encoded copies too)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mmsafe.detect.data import Item, Prep, arrays
from mmsafe.errors import UsageError

FORMAT = "mmsafe-detector"
VERSION = 1
META = "detector.json"
TRAIN_LIST = "train_images.txt"


class Detector:
    """Base: subclasses set `kind`, implement fit / predict / params / save_weights / load."""

    kind = ""
    requires: tuple[str, ...] = ()  # packages it needs (the `detect` extra), checked by detect.detector_class
    trainable = True

    def __init__(self, prep: Prep, options: dict[str, Any]) -> None:
        self.prep = prep
        self.options = options

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(fake) for N×S×S×3 uint8 pixels."""
        raise NotImplementedError

    def score(self, items: list[Item], prep: Prep | None = None) -> np.ndarray:
        """P(fake) per item under `prep` (default the detector's own); NaN where it could not be scored."""
        return self.predict(arrays(items, prep or self.prep)) if items else np.zeros(0)

    def params(self) -> dict[str, Any]:
        return {}

    def save_weights(self, folder: Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, folder: Path, prep: Prep, params: dict[str, Any], options: dict[str, Any]) -> Detector:
        raise NotImplementedError


def save(det: Detector, folder: Path, training: dict[str, Any], metrics: dict[str, Any], train_shas: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    det.save_weights(folder)
    (folder / TRAIN_LIST).write_text("".join(s + "\n" for s in sorted(set(train_shas))), encoding="utf-8")
    meta = {"format": FORMAT, "version": VERSION, "kind": det.kind, "params": det.params(),
            "prep": det.prep.as_dict(), "training": training, "metrics": metrics}
    (folder / META).write_text(json.dumps(meta, indent=2, allow_nan=False, default=_finite), encoding="utf-8")


def _finite(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        v = o.item()
        return None if isinstance(v, float) and not math.isfinite(v) else v
    raise TypeError(f"not JSON: {type(o).__name__}")


def read_meta(folder: Path) -> dict[str, Any]:
    flag = f"--model {folder}"
    if not folder.is_dir():
        raise UsageError(f"{flag}: no such folder")
    path = folder / META
    if not path.is_file():
        raise UsageError(f"{flag}: not a detector folder (no {META}; make one with `mmsafe detect train`)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{flag}: {META} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UsageError(f"{flag}: {META} is not an mmsafe detector (format is not {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise UsageError(f"{flag}: {META} version {meta.get('version')!r} is not supported (expected {VERSION})")
    for key, kind in (("kind", str), ("params", dict), ("prep", dict)):
        if not isinstance(meta.get(key), kind):
            raise UsageError(f"{flag}: {META}: field {key!r} is missing or not a {kind.__name__}")
    return meta


def load(folder: Path, options: dict[str, Any] | None = None) -> tuple[Detector, dict[str, Any], set[str]]:
    """(detector, its detector.json, SHA-256 of its training images) from MODEL_DIR."""
    from mmsafe.detect import DETECTORS, detector_class

    meta = read_meta(folder)
    if meta["kind"] not in DETECTORS:
        raise UsageError(f"--model {folder}: {META}: unknown detector kind {meta['kind']!r}")
    try:
        prep = Prep.of(meta["prep"])
        if not (16 <= prep.size <= 1024 and 1 <= prep.quality <= 100):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"--model {folder}: {META}: field 'prep' needs size (16-1024), control and quality (1-100)") from None
    det = detector_class(meta["kind"]).load(folder, prep, meta["params"], options or {})
    listed = folder / TRAIN_LIST
    shas = set(listed.read_text(encoding="utf-8").split()) if listed.is_file() else set()
    return det, meta, shas


def weights_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise UsageError(f"--model {folder}: the weights file {name} is missing")
    return path


def load_npz(folder: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    path = weights_file(folder, "weights.npz")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise UsageError(f"--model {folder}: weights.npz lacks {', '.join(missing)}")
            return {k: np.asarray(z[k], dtype=np.float64) for k in keys}
    except (OSError, ValueError) as exc:
        raise UsageError(f"--model {folder}: weights.npz is not readable ({exc})") from None
