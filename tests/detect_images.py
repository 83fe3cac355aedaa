"""Image folders for the fake-image detection tests, made offline.

"Real": crops of scikit-image's sample photos (skimage.data), some flipped. "Fake": two simple
synthetic generators applied to other crops of the same photos, so the content is alike and only
the generator's traces differ:
- `smooth`: 4x box down-sampling, then bilinear up-sampling (missing high frequencies);
- `checker`: 2x down-sampling, then zero-insertion up-sampling smoothed by a 3x3 kernel, the
  checkerboard pattern a transposed convolution leaves (a peak at half the sampling frequency).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
          "camera", "brick", "grass", "gravel", "moon")
CROP = 80


def photos() -> list[np.ndarray]:
    from skimage import data

    out = []
    for name in PHOTOS:
        img = np.asarray(getattr(data, name)())
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        out.append(img[..., :3].astype(np.uint8))
    return out


def crops(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    pics = photos()
    out = []
    for k in range(n):
        img = pics[k % len(pics)]
        y, x = rng.integers(0, img.shape[0] - CROP), rng.integers(0, img.shape[1] - CROP)
        c = img[y:y + CROP, x:x + CROP]
        out.append(c[:, ::-1] if rng.random() < 0.5 else c)
    return out


def smooth(img: np.ndarray) -> np.ndarray:
    from PIL import Image

    im = Image.fromarray(img)
    return np.asarray(im.resize((CROP // 4, CROP // 4), Image.BOX).resize((CROP, CROP), Image.BILINEAR))


def checker(img: np.ndarray) -> np.ndarray:
    small = img[::2, ::2].astype(np.float64)
    up = np.zeros((CROP, CROP, 3))
    up[::2, ::2] = small
    k = np.array([0.25, 0.75, 0.75, 0.25])  # uneven overlap of a stride-2 transposed convolution
    pad = np.pad(up, ((2, 1), (2, 1), (0, 0)), mode="edge")
    rows = sum(k[i] * pad[i:i + CROP + 1] for i in range(3))[:CROP]
    out = sum(k[i] * rows[:, i:i + CROP] for i in range(3))
    return np.clip(out * 1.3, 0, 255).astype(np.uint8)


def save(img: np.ndarray, path: Path, fmt: str = "PNG") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(img)).save(path, format=fmt, **({"quality": 80} if fmt == "JPEG" else {}))


def make_sets(root: Path, n_real: int = 48, n_fake: int = 36, families=("smooth", "checker"),
              real_fmt: str = "PNG", fake_fmt: str = "PNG") -> tuple[Path, Path]:
    """root/real/*.EXT and root/fake/FAMILY/*.EXT; returns (real, fake)."""
    gens = {"smooth": smooth, "checker": checker, "plain": lambda img: img}
    ext = {"PNG": "png", "JPEG": "jpg"}
    for i, img in enumerate(crops(n_real, seed=1)):
        save(img, root / "real" / f"r{i:03d}.{ext[real_fmt]}", real_fmt)
    for f, fam in enumerate(families):
        for i, img in enumerate(crops(n_fake, seed=10 + f)):
            save(gens[fam](img), root / "fake" / fam / f"{fam}{i:03d}.{ext[fake_fmt]}", fake_fmt)
    return root / "real", root / "fake"
