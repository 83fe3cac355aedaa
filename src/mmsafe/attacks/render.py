"""Text rendered into a PNG for the typographic attacks: black on white, word-wrapped to a given
width, optionally followed by an empty numbered list. Same text and settings, same bytes."""

from __future__ import annotations

import io
import unicodedata
from functools import lru_cache

from mmsafe.attacks.base import NotApplicable

MAX_HEIGHT = 2048  # the tallest picture made; a request that needs more does not apply (never cut)
_PLAIN = {"\u2014": "-", "\u2013": "-", "\u2212": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
          "\u201d": '"', "\u2026": "...", "\u00a0": " ", "\u20ac": "EUR", "\u00ab": '"', "\u00bb": '"'}


@lru_cache(maxsize=16)
def _font(size: int):  # loading the scalable font costs more than drawing a line: once per size
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 (a scalable font with FreeType)
    except TypeError:  # older Pillow: the small bitmap font only
        return ImageFont.load_default()


@lru_cache(maxsize=4096)
def _has(size: int, ch: str) -> bool:
    """Whether the font draws `ch` (its glyph is not the "missing" box)."""
    font = _font(size)
    if not hasattr(font, "getmask") or ch.isspace():
        return True
    missing = font.getmask("\U0010FFFD")
    mask = font.getmask(ch)
    return (mask.size, bytes(mask)) != (missing.size, bytes(missing))


def shown(text: str, size: int) -> str:
    """`text` as the font can draw it: a character it lacks becomes its plain form (accents dropped,
    typographic dashes and quotes made ASCII). A letter with no such form (Chinese, Arabic,
    Cyrillic in the default font) makes the request unreadable in the picture: NotApplicable."""
    out = []
    for ch in text:
        if _has(size, ch):
            out.append(ch)
            continue
        plain = _PLAIN.get(ch) or "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if plain and all(_has(size, c) for c in plain):
            out.append(plain)
        elif ch.isalpha():
            raise NotApplicable(f"the image font has no letter {ch!r} (U+{ord(ch):04X}): the picture "
                                "would not show the request")
        else:
            out.append(ch)  # a symbol or emoji it lacks: drawn as a box, the words stay readable
    return "".join(out)


def _wrap(text: str, font, width: int) -> list[str]:
    """Lines no wider than `width` pixels; a word too long for one line is broken by characters.
    Each word is measured once (a line's width is its words' plus the spaces between them)."""
    space = font.getlength(" ")
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line, used = "", 0.0
        for word in paragraph.split():
            size = font.getlength(word)
            while size > width:  # break a long word where it overflows
                cut = 1
                while cut < len(word) and font.getlength(word[:cut + 1]) <= width:
                    cut += 1
                if line:
                    lines.append(line)
                    line, used = "", 0.0
                lines.append(word[:cut])
                word = word[cut:]
                size = font.getlength(word)
            if not line:
                line, used = word, size
            elif used + space + size <= width:
                line, used = f"{line} {word}", used + space + size
            else:
                lines.append(line)
                line, used = word, size
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
    lines = _wrap(shown(text, font_size), font, width - 2 * margin)
    for n in range(1, items + 1):
        lines += ["", f"{n}."]
    ascent, descent = font.getmetrics()
    step = ascent + descent + max(2, font_size // 4)
    fit = max(1, (MAX_HEIGHT - 2 * margin) // step)
    if len(lines) > fit:  # cutting would drop the end of the request, often the part that matters
        raise NotApplicable(f"the request needs {len(lines)} lines at width {width}, over the {fit} a "
                            f"{MAX_HEIGHT}-pixel picture holds")
    height = max(min_height, 2 * margin + step * len(lines))
    image = Image.new("L", (width, height), 255)  # grayscale: a third of the bytes to encode and send
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        if line:
            draw.text((margin, margin + i * step), line, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=1)  # text on white compresses well even so
    return out.getvalue()
