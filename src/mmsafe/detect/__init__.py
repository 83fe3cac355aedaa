"""Fake-image detection: detectors that tell generated images from real ones, measured per
generator family, across families, with and without a format control, and on images a model
made from plainer and richer prompts (`mmsafe detect train|eval|cross|enrich`).

Detectors are registered by name as lazy "module:attr" strings (torch and transformers are only
imported when a detector that needs them is used)."""

from __future__ import annotations

from mmsafe.errors import UsageError

DETECTORS = {
    "spectral": "mmsafe.detect.spectral:SpectralDetector",
    "cnn": "mmsafe.detect.cnn:ResidualCNN",
    "clip": "mmsafe.detect.clip_probe:ClipProbe",
    "http": "mmsafe.detect.http:HttpDetector",
}


def detector_class(kind: str):
    import importlib

    if kind not in DETECTORS:
        raise UsageError(f"--detector: unknown detector {kind!r}; expected one of {', '.join(DETECTORS)}")
    module, attr = DETECTORS[kind].split(":")
    cls = getattr(importlib.import_module(module), attr)
    if cls.requires:  # said before any image is read or any weight is loaded
        from mmsafe.targets.local import require

        require(f"the {kind} detector", "detect", *cls.requires)
    return cls
