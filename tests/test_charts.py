"""Report charts: PNG bytes that decode, light and dark themes, hostile labels drawn literally,
missing values, heatmap colours in the colour map's direction, intervals, determinism, speed."""

from __future__ import annotations

import io
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import matplotlib
import numpy as np
import pytest
from PIL import Image

from mmsafe.errors import UsageError
from mmsafe.report import charts_cells
from mmsafe.report.charts import THEMES, bar_chart, heatmap, radial_profile, render_both
from mmsafe.report.charts_style import DPI, clean_label

HOSTILE = ["$x$", "\x1b[31mred", "a" * 500, "<script>alert(1)</script>", r"$\frac{}{$", "a_b^c",
           "\u202eevil", "line\nbreak", "", r"\textbf{x} $$"]
BARS = [("model a", 0.91, 0.87, 0.94), ("model b", 0.55, 0.48, 0.61), ("model c", None, None, None),
        ("model d", 0.12, 0.05, 0.20)]


def _png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGB")


def _lum(rgb) -> float:
    r, g, b = (float(x) for x in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _lums(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=float) @ np.array([0.2126, 0.7152, 0.0722])


def _charts(theme: str = "light") -> dict[str, bytes]:
    return {
        "bar": bar_chart("Safe rate", BARS, theme=theme),
        "radial": radial_profile("Profile", [("language × benchmark", f"cat {i}", i / 10) for i in range(10)]
                                 + [("vision × benchmark", "missing", None)], theme=theme),
        "heatmap": heatmap("Heat", ["m1", "m2"], ["c1", "c2", "c3"], [[0.1, 0.5, None], [0.9, 0.3, 0.0]],
                           theme=theme),
    }


def test_pngs_decode_with_expected_sizes():
    charts = _charts()
    bar = _png(charts["bar"])
    assert bar.width == 8 * DPI and 2 * DPI <= bar.height <= 4 * DPI
    radial = _png(charts["radial"])
    assert 6 * DPI <= radial.width <= 8 * DPI and radial.height >= radial.width
    heat = _png(charts["heatmap"])
    assert 3 * DPI <= heat.width <= 8 * DPI and 2 * DPI <= heat.height <= 5 * DPI
    # a bar chart grows with its bars; a heatmap with its rows and columns
    many = _png(bar_chart("t", BARS * 10))
    assert many.height > bar.height
    big = _png(heatmap("t", [f"r{i}" for i in range(30)], [f"c{j}" for j in range(12)],
                       [[0.5] * 12 for _ in range(30)]))
    assert big.width > heat.width and big.height > heat.height


def test_light_and_dark_differ_in_background():
    both = {name: render_both(fn, *args, **kw) for name, (fn, args, kw) in {
        "bar": (bar_chart, ("Safe rate", BARS), {}),
        "radial": (radial_profile, ("P", [("g", "a", 0.2), ("g", "b", 0.8)]), {}),
        "heatmap": (heatmap, ("H", ["r"], ["c"], [[0.5]]), {"theme": "light"}),  # render_both overrides it
    }.items()}
    for name, pngs in both.items():
        assert set(pngs) == set(THEMES)
        light, dark = _png(pngs["light"]), _png(pngs["dark"])
        assert light.size == dark.size, name
        assert _lum(light.getpixel((2, 2))) > 230, name  # corners are background
        assert _lum(dark.getpixel((2, 2))) < 50, name
        # and the text follows: the light chart's darkest pixels are dark, the dark chart's lightest light
        assert _lums(light).min() < 80
        assert _lums(dark).max() > 200


def test_hostile_labels_render_literally(monkeypatch):
    # a label parsed as mathtext would call the parser (and r"$\frac{}{$" would raise); none may
    def no_mathtext(*args, **kwargs):
        raise AssertionError("a label was parsed as mathtext")

    monkeypatch.setattr(matplotlib.mathtext.MathTextParser, "parse", no_mathtext)
    # a user's matplotlibrc asking for TeX must not reach the labels either (no latex here: it would fail)
    monkeypatch.setitem(matplotlib.rcParams, "text.usetex", True)
    monkeypatch.setitem(matplotlib.rcParams, "text.parse_math", True)
    _png(bar_chart(HOSTILE[4], [(h, 0.5, 0.4, 0.6) for h in HOSTILE], xlabel="$y$"))
    _png(radial_profile("$t$", [(h, h, 0.3) for h in HOSTILE]))
    _png(heatmap("$t$", HOSTILE, HOSTILE, [[0.5] * len(HOSTILE)] * len(HOSTILE), xlabel="$a$", ylabel="$b$"))
    assert matplotlib.rcParams["text.usetex"] is True  # the caller's settings are left as they were


def test_clean_label():
    assert clean_label("\x1b[31mred\r\nx\u202e") == "[31mred x"
    long = clean_label("a" * 500, 40)
    assert len(long) == 40 and long.endswith("…")
    assert clean_label("  ") == "(blank)"
    assert clean_label("$x$") == "$x$"


def test_none_values_and_empty_inputs():
    _png(bar_chart("all missing", [("a", None, None, None), ("b", None, 0.1, None)]))
    _png(bar_chart("no bars", []))
    _png(bar_chart("nan and inf are no data", [("a", float("nan"), None, None), ("b", float("inf"), 0, 1)]))
    _png(radial_profile("all missing", [("g", "a", None), ("h", "b", None)]))
    _png(radial_profile("no bars", []))
    _png(heatmap("all missing", ["r1", "r2"], ["c"], [[None], [None]], percent=False))
    _png(heatmap("empty", [], [], []))


def _cell_colours(png: bytes) -> list[tuple[tuple[int, int, int], float]]:
    """The two most common colours that are not background, with the mean x of their pixels."""
    img = np.asarray(_png(png))
    bg = tuple(img[2, 2])
    counts = Counter(map(tuple, img.reshape(-1, 3)))
    top = [c for c, _ in counts.most_common(4) if c != bg][:2]
    return [(c, float(np.argwhere(np.all(img == c, axis=-1))[:, 1].mean())) for c in top]


@pytest.mark.parametrize("lower_is_better", [False, True])
@pytest.mark.parametrize("percent,low,high", [(True, 0.1, 0.9), (False, 3.0, 250.0)])
def test_heatmap_colours_follow_values(lower_is_better, percent, low, high):
    png = heatmap("t", ["model"], ["low", "high"], [[low, high]], percent=percent,
                  lower_is_better=lower_is_better)
    (c1, x1), (c2, x2) = sorted(_cell_colours(png), key=lambda cx: cx[1])  # left cell, right cell
    assert x1 < x2
    # cividis is dark for low and bright for high; reversed when lower is better (bright = better)
    if lower_is_better:
        assert _lum(c1) > _lum(c2) + 50
    else:
        assert _lum(c1) + 50 < _lum(c2)


def test_heatmap_falls_back_to_text_labels(monkeypatch):
    fast = heatmap("t", ["r"], ["a", "b"], [[0.2, None]])
    monkeypatch.setattr(charts_cells, "available", lambda: False)
    slow = heatmap("t", ["r"], ["a", "b"], [[0.2, None]])
    assert _png(slow).size == _png(fast).size


def test_intervals_draw_whiskers():
    whiskers = bar_chart("t", [("a", 0.5, 0.2, 0.8), ("b", 0.6, 0.55, 0.65)])
    bare = bar_chart("t", [("a", 0.5, None, None), ("b", 0.6, None, None)])
    dark = [int((_lums(_png(png)) < 60).sum()) for png in (whiskers, bare)]
    assert dark[0] > dark[1] + 50  # the whiskers (near-black in the light theme) add dark pixels
    # an interval that does not contain its value, or negative values, still draw
    _png(bar_chart("diff", [("a", -0.05, -0.09, -0.01), ("b", 0.03, 0.05, 0.01)], xlabel="change"))


def test_deterministic_and_without_metadata():
    first, second = _charts(), _charts()
    assert first == second
    for png in first.values():
        assert b"tIME" not in png and b"Software" not in png and b"matplotlib" not in png.lower()


def test_threads_give_the_same_bytes():
    serial = _charts("dark")
    with ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(lambda _: _charts("dark"), range(3)))
    assert all(t == serial for t in threaded)


def test_bad_input_names_the_problem():
    with pytest.raises(UsageError, match="theme.*'blue'"):
        bar_chart("t", BARS, theme="blue")
    with pytest.raises(ValueError, match=r"bar 1 \('b'\).*number or None.*str"):
        bar_chart("t", [("a", 0.1, None, None), ("b", "0.5", None, None)])
    with pytest.raises(ValueError, match=r"row 1 \('r2'\) has 1 values for 2 columns"):
        heatmap("t", ["r1", "r2"], ["a", "b"], [[0.1, 0.2], [0.3]])
    with pytest.raises(ValueError, match="expected \\(group, label, value\\)"):
        radial_profile("t", [("g", 0.5)])


def test_large_inputs_stay_fast():
    rows, cols = [f"model-{i}" for i in range(60)], [f"category {j}" for j in range(20)]
    values = [[((i * 7 + j * 3) % 100) / 100 if (i + j) % 13 else None for j in range(20)] for i in range(60)]
    bars = [(f"group {i // 30}", f"category {i} with a long name", (i * 37 % 100) / 100) for i in range(120)]
    heatmap("warm-up", ["r"], ["c"], [[0.5]])
    for draw in (lambda: heatmap("60 x 20", rows, cols, values), lambda: radial_profile("120 bars", bars)):
        start = time.process_time()
        img = _png(draw())
        # about 1 s of CPU on the shared 2-core test machine; the bound only catches a slow path
        assert time.process_time() - start < 5
        assert img.width > 1000 and img.height > 1000
