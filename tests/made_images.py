"""Made images for the corrupted-image rule (src/mmsafe/judges/corruption.py): photographs that
must pass and corrupted outputs that must be flagged, in two disjoint sets.

- `tune`: the set the thresholds were chosen on (photos: camera, astronaut, coffee, coins, brick,
  text; corrupted images drawn with seed 0);
- `heldout`: other photos (every other offline skimage.data picture) under the same and other
  transforms (crops, resizes, JPEG, added noise, small sizes), corrupted images drawn with seed 1
  and kinds the tuning set lacks (Gaussian noise, coloured noise, ramps in colour, 2-level noise).

Run `python tests/made_images.py` to print the rule's confusion on both sets."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

TUNE_PHOTOS = ("camera", "astronaut", "coffee", "coins", "brick", "text")
HELDOUT_PHOTOS = ("chelsea", "rocket", "moon", "page", "clock", "hubble_deep_field", "immunohistochemistry", "retina",
                  "grass", "gravel", "cell", "cat", "colorwheel", "logo", "checkerboard")


def _photo(name: str) -> Image.Image:
    import skimage.data

    a = getattr(skimage.data, name)()
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    return Image.fromarray(a).convert("RGB")


def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 60} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _photo_variants(names, rng) -> list[tuple[str, bytes]]:
    out = []
    for n in names:
        im = _photo(n)
        w, h = im.size
        out.append((f"{n}", _png(im)))
        out.append((f"{n}/jpeg", _png(im, "JPEG")))
        cw, ch = int(w * rng.uniform(0.6, 0.9)), int(h * rng.uniform(0.6, 0.9))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        out.append((f"{n}/crop", _png(im.crop((x, y, x + cw, y + ch)))))
        out.append((f"{n}/64px", _png(im.resize((64, 64)))))
        a = np.asarray(im, dtype=np.float64) + rng.normal(0, 8, (h, w, 3))
        out.append((f"{n}/noisy", _png(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)))))
    return out


def _corrupted(rng, kinds) -> list[tuple[str, bytes]]:
    out = []
    for i in range(4):
        size = (int(rng.integers(64, 768)), int(rng.integers(64, 768)))
        w, h = size
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        made = {
            "black": lambda: Image.new("RGB", size, (0, 0, 0)),
            "white": lambda: Image.new("RGB", size, (255, 255, 255)),
            "single-colour": lambda: Image.new("RGB", size, colour),
            "uniform-noise": lambda: Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)),
            "grey-noise": lambda: Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).convert("RGB"),
            "tiny-gradient": lambda: Image.fromarray(_ramp(w, h, rng, float(rng.uniform(2, 8)), colour)),
            "gaussian-noise": lambda: Image.fromarray(np.clip(rng.normal(128, 40, (h, w, 3)), 0, 255).astype(np.uint8)),
            "faint-noise": lambda: Image.fromarray(np.clip(np.array(colour) + rng.normal(0, 4, (h, w, 3)), 0, 255)
                                                   .astype(np.uint8)),
            "full-ramp": lambda: Image.fromarray(_ramp(w, h, rng, 255.0, (0, 0, 0))),
            "binary-noise": lambda: Image.fromarray((rng.integers(0, 2, (h, w)) * 255).astype(np.uint8)).convert("RGB"),
        }
        for k in kinds:
            out.append((f"{k}#{i}", _png(made[k]())))
    return out


def _ramp(w: int, h: int, rng, span: float, base) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / max(1e-9, t.max() - t.min())
    start = np.array(base, dtype=np.float64)
    if span >= 255:
        a = np.stack([t * 255, (1 - t) * 255, t * 128], axis=-1)
    else:
        a = start[None, None, :] + (t * span)[..., None]
    return np.clip(a, 0, 255).astype(np.uint8)


TUNE_KINDS = ("black", "white", "single-colour", "uniform-noise", "grey-noise", "tiny-gradient")
HELDOUT_KINDS = TUNE_KINDS + ("gaussian-noise", "faint-noise", "full-ramp", "binary-noise")


def made_set(which: str) -> list[tuple[str, bytes, bool]]:
    """(name, image bytes, should be flagged) for `tune` or `heldout`."""
    seed = 0 if which == "tune" else 1
    rng = np.random.default_rng(seed)
    photos = _photo_variants(TUNE_PHOTOS if which == "tune" else HELDOUT_PHOTOS, rng)
    bad = _corrupted(rng, TUNE_KINDS if which == "tune" else HELDOUT_KINDS)
    return [(n, b, False) for n, b in photos] + [(n, b, True) for n, b in bad]


def confusion(which: str) -> dict:
    from mmsafe.judges.corruption import assess

    rows = [(n, truth, assess(b)) for n, b, truth in made_set(which)]
    photos = [r for r in rows if not r[1]]
    bad = [r for r in rows if r[1]]
    return {"photos": len(photos), "photos_passed": sum(not a.corrupted for _, _, a in photos),
            "corrupted": len(bad), "corrupted_flagged": sum(a.corrupted for _, _, a in bad),
            "misses": [(n, a.as_dict()) for n, t, a in rows if a.corrupted != t]}


if __name__ == "__main__":
    for which in ("tune", "heldout"):
        c = confusion(which)
        print(f"{which}: photos passed {c['photos_passed']}/{c['photos']}, corrupted flagged "
              f"{c['corrupted_flagged']}/{c['corrupted']}")
        for n, a in c["misses"]:
            print("   miss:", n, a)
