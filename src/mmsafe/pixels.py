"""Decoded pictures as every image reader here sees them: upright and 8-bit RGB.

Pillow's own RGB conversion clips a 16-bit grey image (mode I;16, PNG's 16-bit greyscale) at 255, so
a photo reads as a near-white picture, and it ignores a JPEG's EXIF orientation, so a portrait photo
reaches a judge or a model on its side."""

from __future__ import annotations

from typing import Any

WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # integer grey wider than 8 bits


def to_rgb(img: Any) -> Any:
    """`img` (a loaded PIL image) turned upright and converted to 8-bit RGB, scaling wide grey to
    8 bits instead of clipping it."""
    from PIL import Image, ImageOps

    try:
        img = ImageOps.exif_transpose(img)
    except (ValueError, OSError, TypeError, KeyError):  # damaged EXIF: the pixels as stored
        pass
    if img.mode in WIDE_GREY:
        import numpy as np

        a = np.asarray(img).astype(np.int64)
        if img.mode != "I" or a.max(initial=0) > 255:  # a 32-bit "I" image holding 8-bit values stays as it is
            a = np.clip(a, 0, 65535) >> 8
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")
    return img if img.mode == "RGB" else img.convert("RGB")
