"""Pictures as every image reader sees them (mmsafe.pixels): 16-bit grey scaled, not clipped; EXIF
orientation applied; and the diffusers target's composed canvas bounded whatever its inputs."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mmsafe.judges.corruption import assess
from mmsafe.pixels import to_rgb


def photo() -> np.ndarray:
    import skimage.data

    return skimage.data.camera()[::2, ::2]  # 256x256, 8-bit grey


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_a_16_bit_grey_photo_reads_as_the_photo_not_white():
    grey = photo()
    wide = Image.fromarray(grey.astype(np.uint16) * 257)  # the same photo at 16 bits
    with Image.open(io.BytesIO(png(wide))) as im:
        assert im.mode.startswith("I")
        rgb = np.asarray(to_rgb(im))
    assert rgb.shape == (256, 256, 3) and np.abs(rgb[..., 0].astype(int) - grey).max() <= 1
    # the corrupted-image rule sees the photo, as at 8 bits (Pillow's own conversion read it as "noise")
    assert assess(png(wide)).as_dict() == assess(png(Image.fromarray(grey))).as_dict()
    assert not assess(png(wide)).corrupted


def test_exif_orientation_is_applied():
    img = Image.fromarray(np.stack([photo()[:128]] * 3, -1))  # 256 wide, 128 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        assert im.size == (256, 128) and to_rgb(im).size == (128, 256)


def test_the_composed_canvas_of_hostile_inputs_stays_bounded():
    from mmsafe.targets.diffusers import CANVAS_SIDE, side_by_side

    thin, flat = Image.new("RGB", (1, 600)), Image.new("RGB", (600, 1))
    canvas = side_by_side([thin, flat])  # unbounded, 360,001 x 600 pixels
    assert max(canvas.size) <= CANVAS_SIDE + 2 and canvas.width * canvas.height < 5_000_000
    a, b = Image.new("RGB", (64, 32), "red"), Image.new("RGB", (32, 32), "blue")
    assert side_by_side([a, b]).size == (96, 32)  # ordinary inputs: as before, left to right
