"""Figures of the reference network's weights: the ablation ratio L_w / L of every weight,
how far each weight travelled against where it ended, and the weight norm over the iterations.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures import _base_layout, thin


def ablation_heatmap(ratio: np.ndarray, rows: list[str], cols: list[str], title: str) -> go.Figure:
    """L_w / L per weight, diverging colours centred at 1 (no change)."""
    fig = go.Figure(
        go.Heatmap(
            z=ratio,
            x=cols,
            y=rows,
            colorscale="RdBu_r",
            zmid=1.0,
            colorbar={"title": "L_w / L", "exponentformat": "power"},  # 1e14, not "100T"
            hovertemplate="%{y} → %{x}<br>L_w / L = %{z:.3f}<extra></extra>",
        )
    )
    return _base_layout(fig, title=title, uirevision=title, yaxis={"autorange": "reversed"})


def displacement_figure(displacement: np.ndarray, path_length: np.ndarray, labels: list[str]) -> go.Figure:
    """Path length D_w against relative displacement Delta_w, log-log, one point per weight."""
    ok = np.isfinite(displacement) & (displacement > 0) & (path_length > 0)
    fig = go.Figure(
        go.Scatter(
            x=displacement[ok],
            y=path_length[ok],
            mode="markers",
            text=np.asarray(labels)[ok],
            marker={"color": "#4c78a8", "size": 7, "opacity": 0.7},
            hovertemplate="%{text}<br>Δw = %{x:.3g}<br>D_w = %{y:.3g}<extra></extra>",
        )
    )
    return _base_layout(
        fig,
        title="How far each weight travelled vs where it ended",
        uirevision="displacement",
        xaxis={"title": "relative displacement |w(T) - w(0)| / |w(0)|", "type": "log"},
        yaxis={"title": "path length Σ|w(t+1) - w(t)|", "type": "log"},
    )


def norm_figure(iterations: np.ndarray, norm: np.ndarray) -> go.Figure:
    """||theta(t)||_1 of the reference network."""
    keep = thin(len(iterations))
    fig = go.Figure(go.Scatter(x=iterations[keep], y=norm[keep], mode="lines", line={"color": "black"}, name="||θ||₁"))
    return _base_layout(
        fig,
        title="Weight norm ||θ(t)||₁",
        uirevision="norm",
        xaxis={"title": "iteration t"},
        yaxis={"title": "||θ||₁"},
    )
