"""Pure figure builders: arrays in, ``go.Figure`` out. No Dash, no core calls."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

GREY = "rgba(120, 120, 120, 0.45)"
MAX_POINTS = 1000


def thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spread samples of n, always keeping the last."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def _with_gaps(x: np.ndarray, curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S,), (S, M) -> one x/y pair with NaN gaps between the M curves (one trace, M lines)."""
    m = curves.shape[1]
    xs = np.concatenate([np.append(x, np.nan)] * m)
    ys = np.concatenate([np.append(curves[:, j], np.nan) for j in range(m)])
    return xs, ys


def distance_figure(
    iterations: np.ndarray,
    distances: np.ndarray,
    mean: np.ndarray,
    loss: np.ndarray,
    *,
    y_title: str = "distance d(t)",
    title: str = "",
) -> go.Figure:
    """The paper's central figure: every d_m(t) grey, <d(t)> black, log y; loss dashed on the right.

    iterations (S,), distances (S, M), mean (S,), loss (S,); thinned to ~1000 points, float32.
    """
    keep = thin(len(iterations))
    x = iterations[keep]
    xs, ys = _with_gaps(x, distances[keep])
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=xs,
            y=ys.astype(np.float32),
            mode="lines",
            line={"color": GREY, "width": 1},
            name=f"d_m(t), {distances.shape[1]} copies",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=mean[keep].astype(np.float32),
            mode="lines",
            line={"color": "black", "width": 2.5},
            name="<d(t)>",
            hovertemplate="t = %{x}<br><d> = %{y:.4g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=loss[keep].astype(np.float32),
            mode="lines",
            yaxis="y2",
            line={"color": "#d62728", "width": 1.5, "dash": "dash"},
            name="training loss",
            hovertemplate="t = %{x}<br>loss = %{y:.4g}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"title": "iteration t"},
        yaxis={"title": y_title, "type": "log", "exponentformat": "power"},
        yaxis2={"title": "loss", "overlaying": "y", "side": "right", "showgrid": False, "tickmode": "auto"},
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 70, "r": 70, "t": 50, "b": 40},
        uirevision="distance",
        template="plotly_white",
    )
    return fig
