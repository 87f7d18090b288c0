"""Figures of the reference network's weights: the ablation ratio L_w / L of every weight,
how far each weight travelled against where it ended, and the weight norm over the iterations.

A record in, figures out (what the Weights view and ``paper/`` draw): :func:`weights_views`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.base import HALF_CHARS, _base_layout, empty_figure, log_axis, thin

if TYPE_CHECKING:  # the records are read by attribute: figures import no jobs
    from core.data import Dataset
    from dashboard.jobs.records import RunRecord

# L_w / L >= 0, and 1 means removing the weight changes nothing: the colours span 0..2, centred
# at 1, so equal steps either side of "no change" look alike. Ratios beyond 2 (a weight the
# network cannot do without: up to ~1e14 seen) all take the darkest red; their true value is
# in the hover and the largest is written in the colour bar's title.
ABLATION_RANGE = (0.0, 2.0)
ABLATION_MEANING = ("blue: removing it lowers the loss", "red: removing it raises the loss")  # a line each: ~220 px


def ablation_heatmap(ratio: np.ndarray, rows: list[str], cols: list[str], title: str) -> go.Figure:
    """L_w / L per weight (rows, cols), diverging colours over :data:`ABLATION_RANGE` centred at
    1 (no change), the colour bar below the map (a half-width graph has no room beside it)."""
    lo, hi = ABLATION_RANGE
    fig = go.Figure(
        go.Heatmap(
            z=ratio,
            x=cols,
            y=rows,
            colorscale="RdBu_r",
            zmin=lo,
            zmax=hi,
            colorbar=ablation_colorbar(ratio),
            hovertemplate="%{y} → %{x}<br>L_w / L = %{z:.4g}<extra></extra>",
        )
    )
    # categories, also for class names that read as numbers (digits "0".."9": a number axis wrote 0 and 5 only)
    axes: dict[str, Any] = {"xaxis": {"type": "category"}, "yaxis": {"type": "category", "autorange": "reversed"}}
    fig = _base_layout(fig, title=title, uirevision=title, chars=HALF_CHARS, **axes)
    return fig.update_xaxes(tickangle=-45 if len(cols) > 8 else 0)


def ablation_colorbar(ratio: np.ndarray) -> dict[str, Any]:
    """A horizontal colour bar at the foot of the figure: its ticks over :data:`ABLATION_RANGE`
    ("≥ 2" when some ratio saturates), its title the largest ratio and what the colours mean."""
    lo, hi = ABLATION_RANGE
    finite = np.asarray(ratio, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    top = float(finite.max()) if finite.size else float("nan")
    saturated = top > hi
    head = f"L_w / L (1: no change; largest {top:.3g})" if saturated else "L_w / L (1: no change)"
    ticks = np.linspace(lo, hi, 5)
    text = [f"{t:g}" for t in ticks]
    if saturated:
        text[-1] = f"≥ {hi:g}"
    return {
        "orientation": "h",
        "yref": "container",
        "y": 0,
        "yanchor": "bottom",
        "thickness": 12,
        "tickvals": ticks.tolist(),
        "ticktext": text,
        # below the bar: Plotly stacks the lines of a title there, while above it they ran onto the bar
        "title": {"text": "<br>".join((head, *ABLATION_MEANING)), "side": "bottom"},
    }


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
        chars=HALF_CHARS,
        xaxis=log_axis(displacement[ok], title="relative displacement |w(T) − w(0)| / |w(0)|"),
        yaxis=log_axis(path_length[ok], title="path length Σ|w(t+1) − w(t)|"),
    )


def norm_figure(iterations: np.ndarray, norm: np.ndarray) -> go.Figure:
    """||theta(t)||_1 of the reference network."""
    keep = thin(len(iterations))
    fig = go.Figure(go.Scatter(x=iterations[keep], y=norm[keep], mode="lines", line={"color": "black"}, name="||θ||₁"))
    return _base_layout(
        fig,
        title="Weight norm ||θ(t)||₁",
        uirevision="norm",
        chars=HALF_CHARS,
        xaxis={"title": "iteration t"},
        yaxis={"title": "||θ||₁"},
    )


# ---- a record in ----------------------------------------------------------------------------
def unit_names(widths: tuple[int, ...]) -> list[list[str]]:
    """The units of each hidden layer: h0 .. h9 for the one hidden layer (as the page always
    named them), h1.0 .. h1.9, h2.0 .. for layers 1, 2, ... of a deeper network."""
    if len(widths) == 1:
        return [[f"h{j}" for j in range(widths[0])]]
    return [[f"h{layer}.{j}" for j in range(width)] for layer, width in enumerate(widths, start=1)]


def weight_labels(hidden: int | tuple[int, ...], n_inputs: int, n_classes: int) -> list[str]:
    """One label per parameter in the flat order of docs/method.md §1 (W1, b1, W2, b2, ...)."""
    widths = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    sides = [[f"in{i}" for i in range(n_inputs)], *unit_names(widths), [f"out{c}" for c in range(n_classes)]]
    labels: list[str] = []
    for n, (below, above) in enumerate(zip(sides[:-1], sides[1:], strict=True), start=1):
        labels += [f"W{n} {a}→{b}" for a in below for b in above] + [f"b{n} {b}" for b in above]
    return labels


def ablation_views(record: RunRecord, data: Dataset) -> list[go.Figure]:
    """One ablation map L_w / L per weight matrix of the run on ``data``, W1 (features x first
    layer's units) .. W_{L+1} (last layer's units x classes), each shaped like its matrix; for a
    diverged reference, one message per matrix."""
    widths = (record.hidden,) if isinstance(record.hidden, int) else tuple(record.hidden)
    sides = [list(data.feature_names), *unit_names(widths), list(data.class_names)]
    ratios = record.ablations()
    if not ratios:
        return [empty_figure("The reference network diverged: no ablation map.") for _ in sides[1:]]
    return [
        ablation_heatmap(ratio, rows, cols, f"Ablation of W{n}: L_w / L")
        for n, (ratio, rows, cols) in enumerate(zip(ratios, sides[:-1], sides[1:], strict=True), start=1)
    ]


def movement_views(record: RunRecord, data: Dataset) -> tuple[go.Figure, go.Figure]:
    """How far each weight travelled against where it ended, and ||theta||_1 over the run."""
    mask = record.weight_mask
    labels = np.array(weight_labels(record.hidden, len(data.feature_names), len(data.class_names)))
    displacement = displacement_figure(record.displacement[mask], record.path_length[mask], labels[mask])
    return displacement, norm_figure(record.iterations, record.theta_norm)


def weights_views(record: RunRecord, data: Dataset) -> tuple[go.Figure, go.Figure, go.Figure, go.Figure]:
    """The Weights view of a one-hidden-layer run on ``data`` (the paper's Figs. 5 and 9):
    ablation maps of W1 and W2, displacement vs path length, ||theta||_1 (a deeper network's
    maps are all in :func:`ablation_views`)."""
    w1, w2, *_ = ablation_views(record, data)
    return (w1, w2, *movement_views(record, data))
