"""What every report chart shares: the light and dark themes, the colour-blind-safe palette,
label cleaning, and turning a figure into PNG bytes.

Charts are drawn with `matplotlib.figure.Figure` and the Agg canvas directly, never pyplot: no
global figure state, so a chart can be drawn in a worker thread and nothing is written to disk.

Labels are untrusted (model names, categories from user files). Every text element is drawn
literally: mathtext and TeX are switched off on each `Text` (`parse_math=False, usetex=False`,
set again on every text of the figure just before drawing), control characters become spaces and
long labels end in "…". Some parts of matplotlib (legends) read the global settings while
drawing, so every chart is drawn under `drawing`: matplotlib's default settings with mathtext and
TeX off, whatever a user's matplotlibrc says, which also keeps the output the same everywhere.
matplotlib's settings are global, so `drawing` holds a lock: charts drawn from several threads
take turns (drawing is bound by the interpreter's lock anyway)."""

from __future__ import annotations

import functools
import io
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator
from PIL import Image

from mmsafe.errors import UsageError

THEMES = ("light", "dark")
DPI = 120  # dots per inch of every chart
LITERAL: dict[str, Any] = {"parse_math": False, "usetex": False}  # keyword arguments for every text

# Okabe & Ito (2008), "Color Universal Design": distinguishable with any common colour-vision
# deficiency.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")


_LOCK = threading.RLock()
_SETTINGS = {k: v for k, v in matplotlib.rcParamsDefault.items() if k != "backend"} | {
    "text.usetex": False, "text.parse_math": False, "axes.formatter.use_mathtext": False}
F = TypeVar("F", bound=Callable[..., Any])


def drawing(fn: F) -> F:
    """Draw `fn`'s chart under matplotlib's defaults with mathtext and TeX off (see above)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        with _LOCK, matplotlib.rc_context(_SETTINGS):
            return fn(*args, **kw)
    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Theme:
    name: str
    bg: str  # figure and axes background
    fg: str  # text, ticks, spines
    muted: str  # "n/a" text, hatching, secondary lines
    grid: str
    bar: str  # the single colour of a bar chart
    whisker: str  # 95% interval whiskers
    alert: str  # reference lines that mark weak spots

    def groups(self) -> tuple[str, ...]:
        """Colours for categories: Okabe–Ito without vermillion, which marks weak spots (`alert`);
        black turns light grey on the dark background."""
        colours = tuple(c for c in OKABE_ITO if c != "#D55E00")
        return colours if self.name == "light" else colours[:-1] + ("#BBBBBB",)


_THEMES = {
    "light": Theme("light", bg="#FFFFFF", fg="#222222", muted="#8A8A8A", grid="#DDDDDD",
                   bar="#0072B2", whisker="#222222", alert="#D55E00"),
    "dark": Theme("dark", bg="#1E1E1E", fg="#E6E6E6", muted="#8F8F8F", grid="#444444",
                  bar="#56B4E9", whisker="#E6E6E6", alert="#FF7A33"),
}


def theme_of(name: str) -> Theme:
    if name not in _THEMES:
        raise UsageError(f"chart theme: {name!r} is not one of {', '.join(THEMES)}")
    return _THEMES[name]


def clean_label(text: object, limit: int = 40) -> str:
    """Untrusted text made into a one-line label: control characters (ESC, CR, bidi overrides,
    line breaks…) become spaces, runs of spaces shrink to one, at most `limit` characters."""
    s = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    if not s:
        return "(blank)"
    return s if len(s) <= limit else s[: limit - 1] + "…"


def number(value: object, where: str) -> float | None:
    """A value to plot: a finite float, or None for "no data" (None, NaN and ±inf all mean that).
    Anything else is an error naming the chart and the item (`where`)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: value must be a number or None, got {type(value).__name__}")
    v = float(value)
    return v if math.isfinite(v) else None


def fmt(value: float, percent: bool, digits: int = 1, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{100 * value:{sign}.{digits}f}%" if percent else f"{value:{sign}.3g}"


def ticks(lo: float, hi: float, percent: bool, nbins: int = 6) -> tuple[list[float], list[str]]:
    """Tick positions within [lo, hi] and their labels, with as many decimals as the step needs."""
    at = [x for x in MaxNLocator(nbins=nbins).tick_values(lo, hi) if lo - 1e-9 <= x <= hi + 1e-9]
    step = (at[1] - at[0]) * (100 if percent else 1) if len(at) > 1 else 1.0
    digits = next((d for d in range(5) if abs(round(step, d) - step) < 1e-9), 4)  # 2.5 → 1, 20 → 0
    labels = [f"{100 * x:.{digits}f}%" if percent else f"{x:.{digits}f}" for x in at]
    return [float(x) for x in at], [label.lstrip("-") if label.strip("-0.%") == "" else label for label in labels]


def new_figure(theme: Theme, width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, facecolor=theme.bg, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def style_axes(ax: Any, theme: Theme) -> None:
    ax.set_facecolor(theme.bg)
    ax.tick_params(colors=theme.fg, labelcolor=theme.fg)
    for spine in ax.spines.values():
        spine.set_edgecolor(theme.muted)
    ax.title.set_color(theme.fg)
    ax.xaxis.label.set_color(theme.fg)
    ax.yaxis.label.set_color(theme.fg)


def set_hatch(patch: Any, color: str) -> None:
    """Hatch colour per patch (matplotlib ≥ 3.10 has `set_hatchcolor`; before, the edge colour)."""
    patch.set_edgecolor(color)
    if hasattr(patch, "set_hatchcolor"):
        patch.set_hatchcolor(color)


def to_png(fig: Figure, late: Callable[[], None] | None = None) -> bytes:
    """The figure as PNG bytes, every text literal. The layout is computed once, before `late`
    adds what stays inside the axes (such as a heatmap's cell annotations); the figure is then drawn
    once (savefig would draw every text twice) and encoded by Pillow without metadata: no
    timestamp or version, so the same input gives the same bytes."""
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine("none")  # keep the positions just computed
    if late is not None:
        late()
    for t in fig.findobj(Text):
        t.set_usetex(False)
        t.set_parse_math(False)
    canvas = fig.canvas
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", compress_level=3)
    return buf.getvalue()
