"""Fast value labels for heatmap cells.

A heatmap of 60 × 20 cells carries 1,200 labels; drawn as matplotlib `Text` artists they take
seconds (each is laid out and rendered glyph by glyph). The labels are our own short strings
("57%", "n/a", "0.31"), so `CellLabels` renders each distinct (string, colour) once with FreeType
into a small RGBA stamp and draws the stamp centred on every cell that shows it. The stamps are
plain text bitmaps: nothing is parsed (no mathtext, no TeX). `available()` says whether this
matplotlib's FreeType binding offers what is needed; if not, the caller falls back to `Text`."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.colors import to_rgb


def _stamp(font: Any, text: str, size: float, dpi: float, colour: str) -> np.ndarray:
    font.clear()
    font.set_size(size, dpi)
    font.set_text(text, 0.0)
    font.draw_glyphs_to_bitmap(antialiased=True)
    alpha = np.asarray(font.get_image())[::-1]  # Agg draws image rows bottom up
    rgba = np.empty(alpha.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = np.round(np.array(to_rgb(colour)) * 255).astype(np.uint8)
    rgba[..., 3] = alpha
    return rgba


def _font(size: float) -> Any:
    return font_manager.get_font(font_manager.findfont(font_manager.FontProperties(size=size)))


def available() -> bool:
    try:
        return _stamp(_font(8), "0%", 8, 100, "#000000").shape[-1] == 4
    except Exception:  # noqa: BLE001 - any failure means: draw the labels as Text instead
        return False


class CellLabels(Artist):
    """Labels centred on data points of an axes: `cells` is a list of (x, y, text, colour)."""

    def __init__(self, cells: list[tuple[float, float, str, str]], size: float) -> None:
        super().__init__()
        self.cells, self.size = cells, size
        self.set_in_layout(False)
        self.zorder = 3

    def draw(self, renderer: Any) -> None:
        if not self.get_visible() or not self.cells or self.axes is None:
            return
        font = _font(self.size)  # one per thread (matplotlib caches fonts per thread)
        points = self.axes.transData.transform([(x, y) for x, y, _, _ in self.cells])
        stamps: dict[tuple[str, str], np.ndarray] = {}
        gc = renderer.new_gc()
        gc.set_clip_rectangle(self.axes.bbox)
        for (_, _, text, colour), (px, py) in zip(self.cells, points):
            stamp = stamps.get((text, colour))
            if stamp is None:
                stamp = stamps[(text, colour)] = _stamp(font, text, self.size, renderer.dpi, colour)
            h, w = stamp.shape[:2]
            renderer.draw_image(gc, round(px - w / 2), round(py - h / 2), stamp)
        gc.restore()
        self.stale = False
