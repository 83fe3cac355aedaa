"""The report's heatmap (e.g. models × categories): cells coloured with cividis, a colour-blind-
safe sequential map, and annotated with their value; missing cells hatched and marked "n/a".

Colour always means the same thing: the bright end is the better end. When lower is better
(attack success, over-refusal) the map is reversed, and the colour bar says which way is better."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle

from mmsafe.report import charts_cells
from mmsafe.report.charts_style import (LITERAL, clean_label, drawing, fmt, new_figure, number, style_axes,
                                        theme_of, ticks, to_png)

ANNOTATE_MAX = 2400  # cells; beyond that the colour alone tells the value


def _grid(rows: list[str], cols: list[str], values: list[list[float | None]]) -> np.ndarray:
    if len(values) != len(rows):
        raise ValueError(f"heatmap: {len(rows)} row labels but {len(values)} rows of values")
    out = np.full((len(rows), len(cols)), np.nan)
    for i, row in enumerate(values):
        if len(row) != len(cols):
            raise ValueError(f"heatmap: row {i} ({clean_label(rows[i])!r}) has {len(row)} values "
                             f"for {len(cols)} columns")
        for j, v in enumerate(row):
            x = number(v, f"heatmap: row {i} ({clean_label(rows[i])!r}), column {j} ({clean_label(cols[j])!r})")
            out[i, j] = np.nan if x is None else x
    return out


def _luminance(rgba: np.ndarray) -> np.ndarray:
    """Relative luminance (WCAG) of colours, to pick dark or light annotation text."""
    c = rgba[..., :3]
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


@drawing
def heatmap(title: str, rows: list[str], cols: list[str], values: list[list[float | None]], *,
            theme: str = "light", percent: bool = True, lower_is_better: bool = False,
            xlabel: str = "", ylabel: str = "") -> bytes:
    """values[i][j] is the cell of row i, column j (None = no data). Rates (percent=True) use a
    fixed 0–100% scale, so two heatmaps compare by colour; other values span their own range.
    Readable up to ~60 rows × ~20 columns: the figure grows, fonts shrink, column labels turn."""
    t = theme_of(theme)
    grid = _grid(rows, cols, values)
    nr, nc = grid.shape
    present = grid[~np.isnan(grid)]
    if percent:
        vmin, vmax = 0.0, 1.0
    elif present.size and present.max() > present.min():
        vmin, vmax = float(present.min()), float(present.max())
    else:
        mid = float(present[0]) if present.size else 0.5
        vmin, vmax = mid - 0.5, mid + 0.5
    norm = Normalize(vmin, vmax, clip=True)
    cmap = matplotlib.colormaps["cividis_r" if lower_is_better else "cividis"].with_extremes(bad=(0, 0, 0, 0))
    row_labels = [clean_label(r, 40) for r in rows]
    col_labels = [clean_label(c, 28) for c in cols]
    turn = nc > 6 or any(len(c) > 6 for c in col_labels)
    small = nr > 25 or nc > 10
    fontsize = 6.5 if small else 8.5
    width = min(24.0, max(6.4, 3.4 + max(nc, 1) * (0.62 if small else 0.85)))  # room for the title
    height = min(28.0, 1.8 + max(nr, 1) * (0.27 if small else 0.38) + (1.2 if turn else 0))
    fig = new_figure(t, width, height)
    ax = fig.add_subplot()
    style_axes(ax, t)
    masked = np.ma.masked_invalid(grid)
    # a mesh of quads (rows downwards), not imshow: no resampling of a large image
    im = ax.pcolormesh(np.arange(nc + 1) - 0.5, np.arange(nr + 1) - 0.5, masked, cmap=cmap, norm=norm,
                       edgecolors="none", antialiased=False)
    ax.set_xlim(-0.5, max(nc, 1) - 0.5)
    ax.set_ylim(max(nr, 1) - 0.5, -0.5)
    missing = np.argwhere(np.isnan(grid))
    if missing.size:
        boxes = [Rectangle((j - 0.5, i - 0.5), 1, 1) for i, j in missing]
        ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor=t.grid, hatch="///", lw=0))
    ax.set_xticks(range(nc), col_labels, fontsize=fontsize + 0.5, rotation=45 if turn else 0,
                  ha="right" if turn else "center", rotation_mode="anchor", **LITERAL)
    ax.set_yticks(range(nr), row_labels, fontsize=fontsize + 0.5, **LITERAL)
    ax.tick_params(length=0)
    ax.set_xlabel(clean_label(xlabel, 80) if xlabel else "", **LITERAL)
    ax.set_ylabel(clean_label(ylabel, 80) if ylabel else "", **LITERAL)
    ax.set_title(clean_label(title, 110), loc="left", color=t.fg, **LITERAL)
    cb = fig.colorbar(im, ax=ax, fraction=0.05 if nc > 4 else 0.1, pad=0.02, aspect=30 if nr > 25 else 20)
    at, labels = ticks(vmin, vmax, percent, nbins=5)
    cb.set_ticks(at, labels=labels, **LITERAL)
    cb.set_label("lower is better" if lower_is_better else "higher is better", color=t.fg, **LITERAL)
    cb.ax.tick_params(colors=t.fg, labelcolor=t.fg)
    cb.outline.set_edgecolor(t.muted)
    if not grid.size:
        ax.text(0, 0, "no data", ha="center", va="center", color=t.muted, **LITERAL)

    def annotate() -> None:  # inside the cells: added after the layout, which they do not change
        if grid.size > ANNOTATE_MAX:
            return
        lum = _luminance(cmap(norm(np.nan_to_num(grid, nan=vmin))))
        cells = [(j, i, "n/a" if np.isnan(v) else fmt(v, percent, 0),
                  t.fg if np.isnan(v) else "#111111" if lum[i, j] > 0.3 else "#FFFFFF")
                 for (i, j), v in np.ndenumerate(grid)]
        if charts_cells.available():
            ax.add_artist(charts_cells.CellLabels(cells, fontsize))
        else:
            for x, y, text, colour in cells:
                ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=colour, **LITERAL)

    return to_png(fig, annotate)
