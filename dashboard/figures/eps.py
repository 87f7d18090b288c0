"""The same network at several perturbation sizes eps (docs/method.md §2): one panel per eps
(Fig. 4; the shapes agree up to the scale eps) and the normalised distance <d>/(eps N_w) of
every eps on one axis (Fig. 6), which is one curve while the response is linear.

A record in, figures out (what the Divergence view and ``paper/`` draw): :func:`eps_views`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.base import LOSS_COLOR, _base_layout, _f32, colorbar_margin, log_axis, thin
from dashboard.figures.distance import grey_black

if TYPE_CHECKING:  # the records are read by attribute: figures import no jobs
    from dashboard.jobs.records import EpsSweepRecord

PANELS_PER_ROW = 2


def eps_panels_figure(iterations: np.ndarray, eps: np.ndarray, distances: np.ndarray, loss: np.ndarray) -> go.Figure:
    """The paper's Fig. 4: one panel per eps, same initial network; shapes agree up to the scale eps.

    eps (E,), distances (E, S, M), loss (S,). Two panels a row: four in a row leave ~110 px
    each in a graph 720 px wide (a 1024 px screen), and their tick labels run into each other.
    The loss (one curve, the same network's) is dashed on every panel, its axis labelled on
    the right-hand column only.
    """
    keep = thin(len(iterations))
    x = iterations[keep]
    cols = min(len(eps), PANELS_PER_ROW)
    rows = -(-len(eps) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        shared_xaxes=True,
        horizontal_spacing=0.16,
        vertical_spacing=0.2 if rows > 1 else 0.0,
        subplot_titles=[f"ε = {e:.0e}" for e in eps],
        specs=[[{"secondary_y": True}] * cols] * rows,
    )
    for j in range(len(eps)):
        row, col = divmod(j, cols)
        place = {"row": row + 1, "col": col + 1}
        d = distances[j][keep]
        grey_black(fig, x, d, x, d.mean(axis=1), **place, show_legend=j == 0)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=_f32(loss[keep]),
                mode="lines",
                line={"color": LOSS_COLOR, "dash": "dash", "width": 1},
                name="training loss",
                showlegend=j == 0,
                hoverinfo="skip",
            ),
            **place,
            secondary_y=True,
        )
        last_col = col + 1 == cols
        fig.update_yaxes(log_axis(d, nticks=5), **place, secondary_y=False)
        fig.update_yaxes(
            showgrid=False,
            tickmode="auto",
            showticklabels=last_col,
            title_text="loss" if last_col else None,
            **place,
            secondary_y=True,
        )
        if col == 0:
            fig.update_yaxes(title_text="distance d(t)", **place, secondary_y=False)
    fig.update_xaxes(showticklabels=True)
    fig.update_xaxes(title_text="iteration t", row=rows)
    return _base_layout(fig, title="Same network, four perturbation sizes", uirevision="eps-panels", extra_top=20)


def collapse_figure(iterations: np.ndarray, eps: np.ndarray, normalized: np.ndarray) -> go.Figure:
    """The paper's Fig. 6: <d>/(eps N_w) for each eps, coloured by log10 eps. (E,), (E, S)."""
    keep = thin(len(iterations))
    logs = np.log10(eps)
    lo, hi = logs.min(), logs.max()
    fig = go.Figure()
    for j, e in enumerate(eps):
        share = 0.0 if hi == lo else (logs[j] - lo) / (hi - lo)
        color = _viridis(share)
        fig.add_trace(
            go.Scatter(
                x=iterations[keep],
                y=_f32(normalized[j][keep]),
                mode="lines",
                line={"color": color, "width": 1.5},
                name=f"ε {e:.0e}",
                hovertemplate=f"ε = {e:.0e}<br>t = %{{x}}<br>%{{y:.4g}}<extra></extra>",
            )
        )
    fig.add_trace(  # a hidden marker trace carries the colour bar of log10 eps
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            showlegend=False,
            hoverinfo="skip",
            marker={
                "colorscale": "Viridis",
                "cmin": lo,
                "cmax": hi,
                "color": [lo],
                "colorbar": {"title": {"text": "log10 ε", "side": "right"}, "thickness": 16},
                "showscale": True,
            },
        )
    )
    fig = _base_layout(
        fig,
        title=collapse_title(normalized),
        uirevision="collapse",
        xaxis={"title": "iteration t"},
        yaxis=log_axis(normalized, title="<d>/(ε N_w)"),
        showlegend=False,
    )
    return colorbar_margin(fig)


COLLAPSE_DECADES = 0.5  # curves within a factor ~3 of each other at the end count as one


def collapse_title(normalized: np.ndarray) -> str:
    """What the curves (E, S) show: one curve (linear response), or how far they spread at the
    end, in decades (they do not collapse once nearby networks separate non-linearly)."""
    final = normalized[:, -1]
    final = final[np.isfinite(final) & (final > 0)]
    if final.size < 2:
        return "Normalised distance <d>/(ε N_w) for each ε"
    spread = float(np.log10(final.max() / final.min()))
    if spread <= COLLAPSE_DECADES:
        return "Normalised distance <d>/(ε N_w): one curve for every ε (linear response)"
    return f"Normalised distance <d>/(ε N_w): no collapse, the ε curves end {spread:.1f} decades apart"


def _viridis(share: float) -> str:
    from plotly.colors import sample_colorscale

    return sample_colorscale("Viridis", [min(max(share, 0.0), 1.0)])[0]


# ---- a record in ----------------------------------------------------------------------------
def eps_views(record: EpsSweepRecord, panel_eps: Sequence[float]) -> tuple[go.Figure, go.Figure]:
    """An eps sweep's panels (one per eps of the sweep nearest each of ``panel_eps``: Fig. 4)
    and the collapse of every eps (Fig. 6)."""
    panel = [int(np.argmin(np.abs(record.eps - e))) for e in panel_eps]
    return (
        eps_panels_figure(record.iterations, record.eps[panel], record.distance[panel], record.loss),
        collapse_figure(record.iterations, record.eps, record.normalized_distance),
    )
