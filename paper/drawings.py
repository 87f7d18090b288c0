"""The few figures of the paper the dashboard does not draw: many networks in one panel (the
weight norm of Fig. 9, the loss dots of Figs. 13 and 18) and the histogram of Fig. 10."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.base import _base_layout, thin
from dashboard.figures.dynamics import spread

MAX_DOTS = 2000  # per series
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac")


def series_figure(
    x: np.ndarray, series: dict[str, np.ndarray], *, title: str, y_title: str, dots: bool = False
) -> go.Figure:
    """One line (or cloud of dots) per labelled series over a shared x, thinned for a picture
    (SVG keeps every point: ~2,000 per series keeps a file small)."""
    keep = spread(len(x), MAX_DOTS) if dots else thin(len(x))
    fig = go.Figure()
    for i, (label, y) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        style = {"mode": "markers", "marker": {"size": 2, "color": colour}} if dots else {"line": {"color": colour}}
        fig.add_trace(go.Scatter(x=x[keep], y=y[keep], name=label, **style))
    return _base_layout(fig, title=title, uirevision=title, xaxis={"title": "iteration t"}, yaxis={"title": y_title})


def displacement_histogram(displacement: np.ndarray) -> go.Figure:
    """log10 of each weight's relative displacement |w(T) - w(0)| / |w(0)|."""
    logs = np.log10(displacement[np.isfinite(displacement) & (displacement > 0)])
    fig = go.Figure(go.Histogram(x=logs, nbinsx=30, marker_color="#4c78a8", name="weights"))
    return _base_layout(
        fig,
        title="Per-weight displacement: most weights barely move",
        uirevision="displacement-histogram",
        xaxis={"title": "log₁₀ |w(T) − w(0)| / |w(0)|"},
        yaxis={"title": "weights"},
    )
