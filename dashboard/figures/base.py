"""The look every figure shares, and the helpers of every figure module (``figures_*``).

Figure builders are pure: arrays in, ``go.Figure`` out; no Dash, no core calls. Long series
are thinned to ~1,000 points (:func:`thin`) and sent as float32 to keep payloads small.

Every figure must read at 1024 x 768 (a projector: a full-width graph is ~720 px wide, a
half-width one ~350 px) and at 1920 x 1080: titles are wrapped to the width they get
(:data:`FULL_CHARS`, :data:`HALF_CHARS`), legends sit at the bottom of the figure below the
axis titles, the vertical mode bar keeps the right edge free of axis titles and colour bars
(:data:`MODEBAR_CLEARANCE`), and log axes label decades or whole values, never a bare "2"
or "5" (:func:`log_axis`).
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go

GREY = "rgba(120, 120, 120, 0.45)"
LOSS_COLOR = "#d62728"
MAX_POINTS = 1000
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spread samples of n, keeping both ends."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def _f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


# The look of Plotly's "plotly_white" without its template: applying a named template took
# ~25 ms per figure (measured; most of the cost of a live update) and added ~6 KB to each.
_AXIS = {"gridcolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "linecolor": "#ebf0f8", "automargin": True}
STYLE = {
    "template": "none",
    "modebar": {"orientation": "v"},  # at the right edge: over no title, even in a half-width graph
    "font": {"color": "#2a3f5f"},
    "paper_bgcolor": "white",
    "plot_bgcolor": "white",
    "hoverlabel": {"align": "left"},
}


def _styled(fig: go.Figure) -> go.Figure:
    fig.update_layout(STYLE)
    fig.update_xaxes(_AXIS)
    fig.update_yaxes(_AXIS)
    return fig


# Characters of a 17 px title per line: ~8.5 px a character (measured in Chromium), less the
# mode bar, in a full-width graph at 1024 px (~720 px) and in a half-width one (~350 px).
FULL_CHARS = 74
HALF_CHARS = 34
TITLE_LINE_PX = 22  # one line of a 17 px title
TITLE_TOP_PX = 12  # from the top of the figure to the title
# Plotly 7 draws a title of two or more lines anchored at the top 12 px higher than one line
# (measured in Chromium for 2 and 3 lines, any pad): without this its first line was clipped
MULTILINE_TITLE_SHIFT_PX = 12
# The vertical mode bar is ~30 px wide at the right edge, from the top down ~220 px: a figure
# with a right-hand axis or a colour bar keeps this much free beyond them.
MODEBAR_CLEARANCE = 36
MARGIN = {"l": 70, "r": 70, "b": 50}
RIGHT_AXIS_MARGIN = 70 + MODEBAR_CLEARANCE  # tick labels "1.08" and a rotated title, then the mode bar
# The legend at the bottom of the figure, below the x axis title: a legend placed in plot
# fractions (y = -0.18) lands on the axis title in a short graph; in container coordinates
# Plotly moves the plot up to make room for it.
LEGEND = {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0, "xanchor": "left"}


def wrap(text: str, chars: int = FULL_CHARS) -> str:
    """``text`` broken at spaces into lines of at most ``chars`` characters, joined by <br>."""
    return "<br>".join(textwrap.wrap(text, chars, break_long_words=False)) if text else text


def title_block(title: str, chars: int = FULL_CHARS, *, extra_top: int = 0) -> tuple[dict[str, Any], int]:
    """A left-aligned title wrapped to ``chars`` a line, pinned to the top of the figure, and the
    top margin that holds it (plus ``extra_top`` px, e.g. for subplot titles)."""
    text = wrap(title, chars)
    lines = text.count("<br>") + 1 if text else 0
    block: dict[str, Any] = {"text": text, "x": 0.01, "xanchor": "left", "yref": "container", "y": 1, "yanchor": "top"}
    block["pad"] = {"t": TITLE_TOP_PX + (MULTILINE_TITLE_SHIFT_PX if lines > 1 else 0)}
    return block, TITLE_TOP_PX + TITLE_LINE_PX * max(lines, 1) + 16 + extra_top


def _base_layout(
    fig: go.Figure, *, title: str, uirevision: str, chars: int = FULL_CHARS, extra_top: int = 0, **axes: Any
) -> go.Figure:
    """The shared look: the title wrapped to ``chars`` a line (:data:`HALF_CHARS` in a
    half-width graph), the legend below the axis titles, room for the mode bar on the right."""
    title_dict, top = title_block(title, chars, extra_top=extra_top)
    fig.update_layout(title=title_dict, uirevision=uirevision, margin={**MARGIN, "t": top}, legend=LEGEND, **axes)
    if _has_right_axis(fig):
        fig.update_layout(margin_r=RIGHT_AXIS_MARGIN)
    return _styled(fig)


def _has_right_axis(fig: go.Figure) -> bool:
    layout = fig.layout.to_plotly_json()
    return any(k.startswith("yaxis") and v.get("side") == "right" for k, v in layout.items())


def colorbar_margin(fig: go.Figure, bar_px: int = 110) -> go.Figure:
    """A right margin that holds a vertical colour bar of ``bar_px`` (its ticks and rotated
    title) and leaves the mode bar's strip free."""
    return fig.update_layout(margin_r=bar_px + MODEBAR_CLEARANCE)


# ---- log axes -------------------------------------------------------------------------------
WHOLE_DECADES = 2.0  # from this span on, the decades alone carry the labels
PLOTLY_OWN_TICKS = 0.7  # under this span Plotly labels whole values itself (3.6×10⁻¹³, 3.8×10⁻¹³)


def log_axis(values: npt.ArrayLike, **extra: Any) -> dict[str, Any]:
    """A log axis over ``values`` (any shape; non-finite and non-positive ignored) whose
    labels a projector can read: decades written 10⁻³ and never a bare "2" or "5".

    Spanning two decades or more: Plotly's ticks with the minor ones (at 2 and 5) unlabelled.
    Between 0.7 and 2 decades, where a decade or two would be the only labels: ticks at 1, 2
    and 5 times the powers of ten, each written whole ("0.2", "5×10⁻⁷"). Under 0.7 decades:
    Plotly's own ticks, which are whole numbers there. Every key is always set (None clears
    it), so a live update that changes the span leaves no stale ticks behind.
    """
    axis: dict[str, Any] = {"type": "log", "exponentformat": "power", "minorloglabels": "none"}
    axis.update({"tickmode": "auto", "tickvals": None, "ticktext": None})
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if v.size:
        lo, hi = float(np.log10(v.min())), float(np.log10(v.max()))
        if PLOTLY_OWN_TICKS <= hi - lo < WHOLE_DECADES:
            ticks = [m * 10.0**k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
            ticks = [t for t in ticks if lo - 1e-9 <= math.log10(t) <= hi + 1e-9]
            axis.update(tickmode="array", tickvals=ticks, ticktext=[whole_number(t) for t in ticks])
    return {**axis, **extra}


def whole_number(value: float) -> str:
    """0.2, 50, 5×10⁻⁷: plain between 0.001 and 10,000, else a mantissa times a power of ten."""
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:g}"
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10.0**exponent
    power = f"10<sup>{exponent}</sup>".replace("-", "\u2212")
    return power if round(mantissa, 6) == 1 else f"{mantissa:g}×{power}"


def empty_figure(message: str) -> go.Figure:
    """A blank figure carrying a sentence (before the first run, or when a view has no data)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 15})
    fig.update_layout(STYLE, xaxis={"visible": False}, yaxis={"visible": False})
    return fig
