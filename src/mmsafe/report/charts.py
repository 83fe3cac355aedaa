"""Charts for the HTML report, as PNG bytes: bars with 95% intervals, a radial profile of one
model over many categories, and heatmaps (in `charts_heatmap`, re-exported here).

Each function takes plain data (labels and numbers, not results.json), draws with the Agg canvas
in its own `Figure` (no pyplot state: safe in a worker thread), and returns PNG bytes; the same
input gives the same bytes. `render_both` draws the light and the dark variant, for the report to
show the one that matches the viewer's colour scheme. Themes, palette and the rules for untrusted
labels (drawn literally, never as mathtext) are in `charts_style`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from mmsafe.report.charts_heatmap import heatmap
from mmsafe.report.charts_style import (LITERAL, THEMES, clean_label, drawing, fmt, new_figure, number,
                                        set_hatch, style_axes, theme_of, ticks, to_png)

__all__ = ["THEMES", "bar_chart", "heatmap", "radial_profile", "render_both"]


def _axis_range(points: list[float], percent: bool) -> tuple[float, float]:
    """The x range of a bar chart: 0–100% for rates, else from min(0, data) to max(0, data)."""
    if not points:
        return 0.0, 1.0
    lo, hi = min(points), max(points)
    if percent and lo >= 0 and hi <= 1:
        return 0.0, 1.0
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


@drawing
def bar_chart(title: str, bars: list[tuple[str, float | None, float | None, float | None]], *,
              xlabel: str = "safe rate", theme: str = "light", percent: bool = True,
              lower_is_better: bool = False) -> bytes:
    """One horizontal bar per (label, value, lo, hi), top to bottom in the order given, with its
    95% interval as a whisker (lo/hi None: no whisker) and the value printed at the bar's end.
    A None value is an empty slot reading "n/a". Values may be negative (differences)."""
    t = theme_of(theme)
    rows = []
    for i, item in enumerate(bars):
        if len(item) != 4:
            raise ValueError(f"bar_chart: bar {i}: expected (label, value, lo, hi), got {len(item)} items")
        where = f"bar_chart: bar {i} ({clean_label(item[0])!r})"
        rows.append((clean_label(item[0]), *(number(x, where) for x in item[1:])))
    n = len(rows)
    fig = new_figure(t, 8.0, max(2.2, 1.1 + 0.34 * n))
    ax = fig.add_subplot()
    style_axes(ax, t)
    points = [x for _, v, lo, hi in rows if v is not None for x in (v, lo, hi) if x is not None]
    x0, x1 = _axis_range(points, percent)
    span = x1 - x0
    pad = 0.012 * span
    ys = np.arange(n)
    ax.set_ylim(n - 0.5 if n else 0.5, -0.5)  # first bar on top
    ax.set_xlim(x0 - (0.16 * span if x0 < 0 else 0), x1 + 0.16 * span)  # room for the value text
    if x0 < 0:
        ax.axvline(0, color=t.muted, lw=0.8)
    ax.grid(axis="x", color=t.grid, lw=0.6)
    ax.set_axisbelow(True)
    have = [i for i, r in enumerate(rows) if r[1] is not None]
    ax.barh(ys[have], [rows[i][1] for i in have], height=0.62, color=t.bar)
    whiskers = [i for i in have if rows[i][2] is not None and rows[i][3] is not None]
    if whiskers:
        v = np.array([rows[i][1] for i in whiskers])
        lo = np.array([rows[i][2] for i in whiskers])
        hi = np.array([rows[i][3] for i in whiskers])
        ax.errorbar(v, ys[whiskers], xerr=[np.abs(v - lo), np.abs(hi - v)], fmt="none",
                    ecolor=t.whisker, elinewidth=1.1, capsize=3)
    size = 9 if n <= 30 else 7.5
    for i, (_, v, lo, hi) in enumerate(rows):
        if v is None:
            ax.text(max(x0, 0.0) + pad, i, "n/a", va="center", ha="left", color=t.muted, fontsize=size,
                    fontstyle="italic", **LITERAL)
            continue
        ends = [x for x in (v, lo, hi) if x is not None]
        right = v >= 0
        ax.text((max(ends) + pad) if right else (min(ends) - pad), i, fmt(v, percent, signed=x0 < 0), va="center",
                ha="left" if right else "right", color=t.fg, fontsize=size - 0.5, **LITERAL)
    ax.set_yticks(ys, [r[0] for r in rows], fontsize=size, **LITERAL)
    ax.set_xticks(*ticks(x0, x1, percent), **LITERAL)
    better = "← better" if lower_is_better else "better →"
    ax.set_xlabel(f"{clean_label(xlabel, 80)}   ({better}; whiskers: 95% interval)", **LITERAL)
    ax.set_title(clean_label(title, 110), loc="left", color=t.fg, **LITERAL)
    if n == 0:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color=t.muted, **LITERAL)
    return to_png(fig)


def _grouped(bars: list[tuple[str, str, float | None]]) -> list[tuple[int, str, str, float | None]]:
    """The bars as (group index, group, label, value), groups in order of first appearance."""
    groups: dict[str, int] = {}
    rows = []
    for i, item in enumerate(bars):
        if len(item) != 3:
            raise ValueError(f"radial_profile: bar {i}: expected (group, label, value), got {len(item)} items")
        group, label = clean_label(item[0], 60), clean_label(item[1], 200)
        v = number(item[2], f"radial_profile: bar {i} ({label[:40]!r})")
        rows.append((groups.setdefault(group, len(groups)), group, label, v))
    return sorted(rows, key=lambda r: r[0])  # stable: the order within a group is kept


@drawing
def radial_profile(title: str, bars: list[tuple[str, str, float | None]], *, theme: str = "light",
                   percent: bool = True, weak: float = 0.5) -> bytes:
    """A polar bar chart of values in 0..1 (bar length = value), one bar per (group, label,
    value), grouped and coloured by group (e.g. "language × benchmark") with a legend. Weak spots
    stand out: a dashed ring at `weak`, bars below it outlined in the alert colour and their value
    printed. None = "n/a", drawn as an empty hatched slot. Works for 1 to ~120 bars."""
    t = theme_of(theme)
    rows = _grouped(bars)
    n = len(rows)
    ngroups = len({r[0] for r in rows})
    side = 7.0 if n <= 24 else min(12.0, 7.0 + (n - 24) / 20)
    fig = new_figure(t, side, side + 0.35 * math.ceil(ngroups / 3))
    ax = fig.add_subplot(projection="polar")
    style_axes(ax, t)
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    ax.set_ylim(0, 1)
    ax.set_rorigin(-0.18)  # a hole in the middle, so that short bars still show
    slots = n + (ngroups if ngroups > 1 else 0)  # one empty slot after each group
    step = 2 * math.pi / max(slots, 1)
    thetas, slot, prev = [], 0, None
    for g, *_ in rows:
        if prev is not None and g != prev:
            slot += 1
        thetas.append(slot * step)
        slot, prev = slot + 1, g
    palette = t.groups()
    fontsize = 9 if n <= 24 else 7 if n <= 60 else 5.5
    limit = 28 if n <= 40 else 20
    ring = np.linspace(0, 2 * math.pi, 361)
    ax.fill_between(ring, 0, weak, color=t.alert, alpha=0.08, lw=0)  # the weak zone, lightly shaded
    have = [k for k, r in enumerate(rows) if r[3] is not None]
    values = [min(max(rows[k][3], 0.0), 1.0) for k in have]
    is_weak = [rows[k][3] < weak for k in have]
    ax.bar([thetas[k] for k in have], values, width=step * 0.8, bottom=0,
           color=[palette[rows[k][0] % len(palette)] for k in have],
           edgecolor=[t.alert if w else t.bg for w in is_weak], lw=[1.4 if w else 0.4 for w in is_weak])
    for k in (k for k, r in enumerate(rows) if r[3] is None):
        set_hatch(ax.bar(thetas[k], 1, width=step * 0.8, bottom=0, fill=False, hatch="///", lw=0.5, alpha=0.5)[0],
                  t.muted)
    if n <= 60:  # the values of weak spots; with more bars the outline and the ring must do
        for k, v, w in zip(have, values, is_weak):
            if w:
                ax.text(thetas[k], v + 0.07, fmt(rows[k][3], percent, 0), ha="center", va="center",
                        color=t.alert, fontsize=fontsize - 0.5, fontweight="bold", **LITERAL)
    for (_, _, label, v), th in zip(rows, thetas):
        # the label reads outward along its radius, never upside down
        angle = (90 - math.degrees(th) + 180) % 360 - 180
        flip = not -90 <= angle <= 90
        text = clean_label(label, limit) + (" (n/a)" if v is None else "")
        ax.text(th, 1.05, text, rotation=angle + 180 if flip else angle, rotation_mode="anchor",
                ha="right" if flip else "left", va="center", color=t.fg, fontsize=fontsize, clip_on=False,
                **LITERAL)
    ax.plot(ring, np.full_like(ring, weak), ls="--", lw=1.3, color=t.alert)
    ax.plot(ring, np.ones_like(ring), lw=1.0, color=t.muted)
    ax.set_xticks([])
    rings = [0.25, 0.5, 0.75, 1.0]
    ax.set_yticks(rings, [fmt(r, percent, 0) for r in rings], fontsize=7, color=t.muted, **LITERAL)
    ax.set_rlabel_position(0)
    ax.grid(color=t.grid, lw=0.6)
    ax.spines["polar"].set_visible(False)
    handles: list[Any] = [Patch(facecolor=palette[g % len(palette)], label=grp)
                          for g, grp in sorted({(r[0], r[1]) for r in rows})]
    handles.append(Line2D([], [], ls="--", color=t.alert, label=f"weak: below {fmt(weak, percent, 0)}"))
    leg = fig.legend(handles=handles, loc="outside lower center", ncols=min(3, len(handles)), frameon=False,
                     fontsize=8, labelcolor=t.fg)
    for text in leg.get_texts():
        text.set_parse_math(False)
    fig.suptitle(clean_label(title, 110), color=t.fg, **LITERAL)
    if n == 0:
        ax.text(0, -0.18, "no data", ha="center", va="center", color=t.muted, **LITERAL)
    return to_png(fig)


def render_both(fn: Callable[..., bytes], *args: Any, **kw: Any) -> dict[str, bytes]:
    """The chart `fn(*args, **kw)` in every theme: {"light": png, "dark": png}."""
    return {name: fn(*args, **{**kw, "theme": name}) for name in THEMES}
