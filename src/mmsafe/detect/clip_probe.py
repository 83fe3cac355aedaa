"""Linear probe on CLIP image features, with CLIP weights the user supplies (`--clip PATH`).

The CLIP folder (a Hugging Face save: config.json, weights, preprocessor_config.json) is loaded
offline with `from_pretrained(path, local_files_only=True)`: a full CLIPModel (features are the
projected image embedding) or a CLIPVisionModel (features are the pooled output). Features are
L2-normalised, then a standardised logistic regression is fitted on them (as in "universal" fake
detectors that probe a frozen foundation model). MODEL_DIR keeps the probe and the CLIP folder's
absolute path; `--clip` at eval time points elsewhere if the folder moved. Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mmsafe.detect import linear
from mmsafe.detect.base import Detector, load_npz
from mmsafe.detect.data import Prep
from mmsafe.errors import MissingDependency, UsageError

KINDS = {"clip": "CLIPModel", "clip_vision_model": "CLIPVisionModel"}


def load_clip(path: str | Path):
    """(model, image processor, class name) from a local CLIP folder, offline."""
    folder = Path(path)
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise UsageError(f"--clip {folder}: not a CLIP model folder (no config.json)")
    try:
        model_type = json.loads(cfg.read_text(encoding="utf-8")).get("model_type")
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise UsageError(f"--clip {folder}: config.json is not readable JSON ({exc})") from None
    if model_type not in KINDS:
        raise UsageError(f"--clip {folder}: model_type {model_type!r} is not CLIP (expected one of {', '.join(KINDS)})")
    try:
        import transformers
    except ImportError:
        raise MissingDependency("the clip detector", "detect", "transformers") from None
    try:
        model = getattr(transformers, KINDS[model_type]).from_pretrained(str(folder), local_files_only=True)
        processor = transformers.CLIPImageProcessor.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--clip {folder}: cannot load it offline ({str(exc)[:300]})") from None
    model.eval()
    return model, processor, KINDS[model_type]


class ClipProbe(Detector):
    kind = "clip"
    requires = ("torch", "transformers")

    def __init__(self, prep: Prep, options: dict[str, Any]) -> None:
        super().__init__(prep, options)
        if not options.get("clip"):
            raise UsageError("--clip PATH is required with --detector clip (a local CLIP model folder)")
        self.clip_path = str(Path(options["clip"]).resolve())
        self.c = float(options.get("c", 1.0))
        self.model, self.processor, self.model_class = load_clip(self.clip_path)
        self.w: dict[str, np.ndarray] | None = None

    def features(self, x: np.ndarray) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(x), 16):
                px = self.processor(images=list(x[start:start + 16]), return_tensors="pt")["pixel_values"]
                if self.model_class == "CLIPModel":
                    f = self.model.visual_projection(self.model.vision_model(pixel_values=px).pooler_output)
                else:
                    f = self.model(pixel_values=px).pooler_output
                out.append(torch.nn.functional.normalize(f, dim=-1).numpy())
        return np.concatenate(out).astype(np.float64)

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self.w = linear.fit(self.features(x), y, self.c, int(self.options.get("seed", 0)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        assert self.w is not None, "fit or load first"
        return linear.predict(self.w, self.features(x)) if len(x) else np.zeros(0)

    def params(self) -> dict[str, Any]:
        return {"clip": self.clip_path, "clip_class": self.model_class, "c": self.c,
                "features": int(self.w["coef"].shape[0]) if self.w is not None else None}

    def save_weights(self, folder: Path) -> None:
        assert self.w is not None
        linear.save(self.w, folder / "weights.npz")

    @classmethod
    def load(cls, folder: Path, prep: Prep, params: dict[str, Any], options: dict[str, Any]) -> Detector:
        det = cls(prep, {"clip": options.get("clip") or params.get("clip"), "c": params.get("c", 1.0)})
        det.w = load_npz(folder, linear.KEYS)
        return det
