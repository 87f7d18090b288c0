"""The look every figure shares, and the helpers of every figure module (``figures_*``).

Figure builders are pure: arrays in, ``go.Figure`` out; no Dash, no core calls. Long series
are thinned to ~1,000 points (:func:`thin`) and sent as float32 to keep payloads small.
"""

from __future__ import annotations

import numpy as np
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


def _base_layout(fig: go.Figure, *, title: str, uirevision: str, **axes) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        uirevision=uirevision,
        margin={"l": 70, "r": 70, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.18},
        **axes,
    )
    return _styled(fig)


def empty_figure(message: str) -> go.Figure:
    """A blank figure carrying a sentence (before the first run, or when a view has no data)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 15})
    fig.update_layout(STYLE, xaxis={"visible": False}, yaxis={"visible": False})
    return fig
