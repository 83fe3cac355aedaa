"""Folders of real and generated images, their generator families, the held-out split, and the
format control.

Layout: `--real DIR` holds real images (any depth); `--fake DIR` holds one sub-folder per
generator family (`fake/sdxl/*.png`, `fake/dalle3/*.jpg`); images directly in `--fake DIR` form
a family named after that folder. Images are PNG, JPEG, GIF, WebP, BMP or TIFF by content (the
name's extension only picks candidates).

Decisions (and why):
- A missing folder, a folder with no images, or a family sub-folder with no readable image is an
  error naming it: a family with nothing in it cannot be measured, and silently dropping it would
  change what "all families" means.
- An unreadable image (truncated, not an image, too large) is skipped and counted; the count and
  the first few names are reported beside the metrics, so nothing is lost silently.
- Images are identified by the SHA-256 of their bytes: that is what MODEL_DIR remembers of the
  training set, so `eval` can leave out images the model was trained on.

Preprocessing, the same for every detector (`Prep`):
- without the control (`raw`): RGB, short side brought up to `size` only if it is smaller
  (bicubic), then a centre crop of size×size: the pixels, compression traces included, as they are;
- with the control (`controlled`): RGB, short side resized to `size` (Lanczos), centre crop, then
  re-encoded as JPEG at `quality` and decoded: real and fake arrive in the same format, quality
  and size, so a detector cannot tell them apart by file format, compression or resolution.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmsafe.errors import UsageError
from mmsafe.pixels import to_rgb

EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
MAX_PIXELS = 8192 * 8192  # larger images are refused (decompression bombs)
SHOWN_SKIPS = 5


@dataclass(frozen=True)
class Prep:
    """How an image becomes the size×size×3 uint8 array every detector reads."""

    size: int = 128
    control: bool = True
    quality: int = 90

    def as_dict(self) -> dict:
        return {"size": self.size, "control": self.control, "quality": self.quality}

    @classmethod
    def of(cls, d: dict) -> Prep:
        return cls(int(d["size"]), bool(d["control"]), int(d["quality"]))

    def flipped(self) -> Prep:
        return Prep(self.size, not self.control, self.quality)


@dataclass(frozen=True)
class Item:
    path: Path
    label: int  # 1 = fake (generated), 0 = real
    family: str  # generator family; "real" for real images
    sha256: str  # the picture's identity: SHA-256 of its size and decoded RGB pixels (a re-encoded copy is a copy)
    file_sha256: str = ""  # SHA-256 of the file's bytes (what detector folders made before listed)


@dataclass
class ImageSet:
    items: list[Item]
    skipped: list[str] = field(default_factory=list)  # unreadable files, "name: why"

    @property
    def families(self) -> list[str]:
        return sorted({i.family for i in self.items if i.label == 1})

    def describe(self) -> dict:
        counts: dict[str, int] = {}
        for i in self.items:
            counts[i.family] = counts.get(i.family, 0) + 1
        return {"counts": dict(sorted(counts.items())), "skipped": skip_note(self.skipped)}


def skip_note(skipped: list[str]) -> dict:
    return {"count": len(skipped), "examples": skipped[:SHOWN_SKIPS]}


def _candidates(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)


def _check_dir(path: Path, flag: str) -> Path:
    if not path.exists():
        raise UsageError(f"{flag} {path}: no such folder")
    if not path.is_dir():
        raise UsageError(f"{flag} {path}: not a folder")
    return path


def _open(path: Path):
    """The decoded RGB image, or raise ValueError saying why not."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ValueError(f"{im.width}x{im.height} is over the {MAX_PIXELS}-pixel limit")
            im.load()
            return to_rgb(im)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable image ({type(exc).__name__})") from None


def _read(paths: list[Path], label: int, family: str, skipped: list[str], root: Path) -> list[Item]:
    from mmsafe.data.cases import max_image_bytes

    cap, out = max_image_bytes(), []
    for p in paths:
        try:
            if p.stat().st_size > cap:  # before reading: a 2 GB file is never held in memory
                raise ValueError(f"over the {cap / 2**20:.3g} MiB limit per image ($MMSAFE_MAX_IMAGE_MB)")
            data = p.read_bytes()
            im = _open(p)
            pixels = hashlib.sha256(b"%dx%d:" % im.size)
            pixels.update(im.tobytes())
        except (OSError, ValueError) as exc:
            skipped.append(f"{p.relative_to(root)}: {exc}")
            continue
        out.append(Item(p, label, family, pixels.hexdigest(), hashlib.sha256(data).hexdigest()))
    return out


def load_folders(real: Path, fake: Path) -> ImageSet:
    """Real and fake images with their families; errors name the folder at fault. An image has one
    label: folders inside each other, or the same picture under both, are refused."""
    _check_dir(real, "--real")
    _check_dir(fake, "--fake")
    r, f = real.resolve(), fake.resolve()
    if r == f or r in f.parents or f in r.parents:
        raise UsageError(f"--real {real} and --fake {fake} overlap (one is inside the other): every image "
                         "there would be read as both real and fake; give two separate folders")
    skipped: list[str] = []
    reals = _read(_candidates(real), 0, "real", skipped, real.parent)
    if not reals:
        raise UsageError(f"--real {real}: no readable images (PNG, JPEG, GIF, WebP, BMP, TIFF)"
                         + (f"; {len(skipped)} unreadable, e.g. {skipped[0]}" if skipped else ""))
    fakes: list[Item] = []
    loose = sorted(p for p in fake.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if loose:
        fakes += _read(loose, 1, fake.resolve().name or "fake", skipped, fake.parent)
    subdirs = sorted(d for d in fake.iterdir() if d.is_dir() and not d.name.startswith("."))
    for name in [fake.resolve().name if loose else None, *(d.name for d in subdirs)]:
        if name is not None and name.lower() == "real":  # the real class's own name: its images would merge
            raise UsageError(f"--fake {fake}: a generator family named {name!r} would be read as the real images; "
                             "rename the folder")
    for d in subdirs:
        got = _read(_candidates(d), 1, d.name, skipped, fake.parent)
        if not got:
            raise UsageError(f"--fake {fake}: family folder {d.name!r} holds no readable image")
        fakes += got
    if not fakes:
        raise UsageError(f"--fake {fake}: no images (one sub-folder per generator family, each with images)")
    real_names = {i.sha256: i.path for i in reals}
    both = [(real_names[i.sha256], i.path) for i in fakes if i.sha256 in real_names]
    if both:
        (a, b), more = both[0], len(both) - 1
        raise UsageError(f"{len(both)} image(s) are in both --real and --fake (the same picture), e.g. {a} and {b}"
                         + (f" and {more} more" if more else "") + ": each image needs one label")
    return ImageSet(reals + fakes, skipped)


def split(items: list[Item], test_fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """(train, test), stratified by family (real is a family here); each side gets at least one
    image of every family that has two or more. Copies of one picture (the same pixels, whatever
    the file's encoding) stay on one side."""
    by_family: dict[str, list[Item]] = {}
    for it in items:
        by_family.setdefault(it.family, []).append(it)
    train, test = [], []
    held: set[str] = set()
    seen: set[str] = set()
    rng = random.Random(seed)
    for fam in sorted(by_family):
        shas = sorted({i.sha256 for i in by_family[fam]})
        rng.shuffle(shas)
        k = min(len(shas) - 1, max(1, round(len(shas) * test_fraction))) if len(shas) > 1 else 0
        held |= set(shas[:k]) - seen  # bytes already placed by another family stay where they are
        seen |= set(shas)
    for fam in sorted(by_family):  # one picture in two families (a generator's output copied) stays on one side
        for it in by_family[fam]:
            (test if it.sha256 in held else train).append(it)
    for fam in sorted(by_family):  # copies placed by another family can leave one with nothing on a side
        if len({i.sha256 for i in by_family[fam]}) > 1:
            sides = [any(i.family == fam for i in side) for side in (train, test)]
            if not all(sides):
                what = "--real" if fam == "real" else f"--fake family {fam!r}"
                raise UsageError(f"{what}: its images are copies of another family's, so none is left "
                                 f"{'to train on' if not sides[0] else 'held out'} (copies stay on one side); "
                                 "remove the copies or give it images of its own")
    return train, test


def _cropped(path: Path, prep: Prep):
    """RGB, resized (always with the control; only when too small without), centre-cropped."""
    from PIL import Image

    im = _open(path)
    s = prep.size
    short = min(im.size)
    if prep.control or short < s:
        scale = s / short
        im = im.resize((max(s, round(im.width * scale)), max(s, round(im.height * scale))),
                       Image.LANCZOS if prep.control else Image.BICUBIC)
    left, top = (im.width - s) // 2, (im.height - s) // 2
    return im.crop((left, top, left + s, top + s))


def _jpeg(im, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def prepare(path: Path, prep: Prep) -> np.ndarray:
    """The size×size×3 uint8 pixels of one image under `prep` (see the module docstring)."""
    from PIL import Image

    im = _cropped(path, prep)
    if prep.control:
        with Image.open(io.BytesIO(_jpeg(im, prep.quality))) as j:
            im = j.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def encoded(path: Path, prep: Prep) -> tuple[bytes, str]:
    """(bytes, mime) an external detector receives: without the control, the file as it is (BMP
    and TIFF as a PNG of the same pixels); with it, the re-encoded JPEG whose pixels `prepare` gives."""
    from mmsafe.store.blobs import sniff_mime

    if prep.control:
        return _jpeg(_cropped(path, prep), prep.quality), "image/jpeg"
    data = path.read_bytes()
    mime = sniff_mime(data)
    if mime is not None:
        return data, mime
    buf = io.BytesIO()
    _open(path).save(buf, format="PNG")
    return buf.getvalue(), "image/png"


def arrays(items: list[Item], prep: Prep) -> np.ndarray:
    """N×size×size×3 uint8 for `items` (read again from disk; the files were checked on load)."""
    if not items:
        return np.zeros((0, prep.size, prep.size, 3), np.uint8)
    return np.stack([prepare(i.path, prep) for i in items])
