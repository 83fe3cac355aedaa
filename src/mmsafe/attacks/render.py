"""Text rendered into a PNG for the typographic attacks: black on white, word-wrapped to a given
width, optionally followed by an empty numbered list. Same text and settings, same bytes."""

from __future__ import annotations

import io

from mmsafe.attacks.base import NotApplicable

MAX_HEIGHT = 2048  # lines past this are cut: an attack prompt never needs a taller picture


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 (a scalable font with FreeType)
    except TypeError:  # older Pillow: the small bitmap font only
        return ImageFont.load_default()


def _wrap(text: str, font, width: int) -> list[str]:
    """Lines no wider than `width` pixels; a word too long for one line is broken by characters."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            while font.getlength(word) > width:  # break a long word where it overflows
                cut = 1
                while cut < len(word) and font.getlength(word[:cut + 1]) <= width:
                    cut += 1
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:cut])
                word = word[cut:]
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def render_text(text: str, width: int = 512, *, items: int = 0, font_size: int = 22,
                margin: int = 20, min_height: int = 0) -> bytes:
    """PNG bytes of `text` (wrapped to `width`), then `items` empty numbered lines "1." "2." …"""
    try:
        from PIL import Image, ImageDraw
    except ImportError as e:  # Pillow comes with the `hf` extra
        raise NotApplicable("rendering text into an image needs Pillow (pip install 'mmsafe[hf]')") from e
    if width < 2 * margin + 40:
        raise ValueError(f"image width {width} is too small for text")
    font = _font(font_size)
    lines = _wrap(text, font, width - 2 * margin)
    for n in range(1, items + 1):
        lines += ["", f"{n}."]
    ascent, descent = font.getmetrics()
    step = ascent + descent + max(2, font_size // 4)
    fit = max(1, (MAX_HEIGHT - 2 * margin) // step)
    lines = lines[:fit]
    height = max(min_height, 2 * margin + step * len(lines))
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        if line:
            draw.text((margin, margin + i * step), line, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
