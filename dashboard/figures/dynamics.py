"""Figure builders of the dynamics views: arrays in, ``go.Figure`` out. No Dash, no core calls.

- Edge of stability (docs/method.md §6, §11; Cohen et al. 2021, ICLR): the sharpness lambda_max
  of the loss Hessian rises to about 2/eta (for momentum, its optimizer's threshold) while the
  distance <d(t)> of perturbed copies grows. For Adam, its preconditioned sharpness
  lambda_max(P^-1 H) against (2 + 2 beta1)/((1 - beta1) eta) (docs/method.md §14; Cohen et al.
  2022, "Adaptive gradient methods at the edge of stability").
- Chaos diagnostics of one long run (docs/method.md §7; Danovski, Soriano, Lacasa 2024,
  arXiv 2404.05782, Figs. 13-17): loss dots and weight norm, the ACF against its shuffle-null
  band, the histogram of local expansion rates, the weights that move the most.
- A grid of 8 x 8 digits with the network's predictions.

A record in, figures out (what the Divergence and Chaos views and ``paper/`` draw):
:func:`curvature_view` of a run, :func:`chaos_figures` of a long run's diagnostics.

The look and the helpers come from :mod:`dashboard.figures.base` (no Plotly template lookups).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.analysis.preconditioned import preconditioned_threshold
from core.engine.optimizers import Threshold, stability_threshold
from dashboard.figures.base import (
    CLASS_COLORS,
    GREY,
    HALF_CHARS,
    LOSS_COLOR,
    _base_layout,
    _f32,
    empty_figure,
    log_axis,
    thin,
)

if TYPE_CHECKING:  # the records are read by attribute: figures import no jobs
    from core.experiments.diagnostics import Diagnostics
    from dashboard.jobs.records import RunRecord

MAX_DOTS = 10_001  # a long run of docs/method.md §7 (T = 10,000) is drawn whole, as WebGL dots
MAX_WEIGHT_POINTS = 2_000  # per weight line: n lines of them, ~110 KB for 5 weights
BAND_COLOR = "rgba(76, 120, 168, 0.25)"
SIGNIFICANT_COLOR = "#e45756"
SHADE = {"fillcolor": "rgba(120, 120, 120, 0.12)", "line_width": 0, "layer": "below"}
MAX_DIGITS = 40  # 5 rows of 8: enough to see the kinds of mistakes; captions stay legible
CELL, GAP_X, GAP_Y = 8, 1, 3  # pixels of a digit; blank pixels between columns / above each digit
# 5 rows of digits fill the Data view's 480 px graph exactly (at 95 px a row the fifth was cut off)
DIGITS_ROW_PX, DIGITS_MARGIN_PX = 74, 110
WRONG_COLOR = "#d62728"
SEPARATOR_COLOR = "#dfe5ef"  # the NaN pixels between digits show the plot background


def spread(n: int, max_points: int = MAX_DOTS) -> np.ndarray:
    """Indices of at most ``max_points`` of n samples: one at a random place in each of
    ``max_points`` equal stretches, both ends kept.

    Evenly spaced thinning (:func:`dashboard.figures.base.thin`) of a cycling series aliases: with
    a stride near the period it shows one phase only (a period-10 plateau drawn as a constant).
    A random place per stretch shows each value about as often as the series visits it. The
    generator is fixed (seed 0), so a figure is the same on every redraw.
    """
    if n <= max_points:
        return np.arange(n)
    edges = np.linspace(0, n, max_points + 1)
    keep = np.floor(edges[:-1] + np.random.default_rng(0).random(max_points) * np.diff(edges)).astype(int)
    keep[0], keep[-1] = 0, n - 1
    return np.unique(keep)


def _x(x: np.ndarray) -> dict[str, Any]:
    """The x of a trace: ``x0``/``dx`` for evenly spaced values (half the payload), else float32."""
    x = np.asarray(x)
    if x.size > 1 and x[1] > x[0] and np.array_equal(x, x[0] + (x[1] - x[0]) * np.arange(x.size)):
        return {"x0": x[0].item(), "dx": (x[1] - x[0]).item()}
    return {"x": _f32(x)}


def _check_same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"arrays must have the same length, got {lengths}")


# ---- edge of stability (docs/method.md §6, §11) ------------------------------------------
# each optimizer's threshold is the core's (core.engine.optimizers.stability_threshold)


def curvature_figure(
    iterations: np.ndarray,
    loss: np.ndarray,
    mean_distance: np.ndarray,
    sharpness_steps: np.ndarray,
    sharpness: np.ndarray,
    eta: float,
    *,
    optimizer: str = "gd",
    momentum: float = 0.9,
    preconditioned: np.ndarray | None = None,
) -> go.Figure:
    """Sharpness against the dashed stability threshold of the run's optimizer
    (:func:`stability_threshold`: 2/eta for GD), the training loss, and <d(t)> on log y: three
    panels on one shared iteration axis. For Adam the top panel is its preconditioned sharpness
    ``preconditioned`` (S,) against (2 + 2 beta1)/((1 - beta1) eta) (without it, a note, no line).

    iterations, loss, mean_distance (T+1,); sharpness_steps, sharpness (S,), NaN where the
    network diverged (drawn as a gap). Each line is thinned to ``MAX_POINTS``.
    """
    if not (eta > 0 and math.isfinite(eta)):
        raise ValueError(f"eta must be a positive finite number, got {eta!r}")
    _check_same_length(iterations=iterations, loss=loss, mean_distance=mean_distance)
    _check_same_length(sharpness_steps=sharpness_steps, sharpness=sharpness)
    edge = stability_threshold(optimizer, eta, momentum)
    top = "sharpness λ_max"
    if optimizer == "adam" and preconditioned is not None:
        _check_same_length(sharpness_steps=sharpness_steps, preconditioned=preconditioned)
        sharpness, top = preconditioned, PRECONDITIONED_NAME
        edge = Threshold(preconditioned_threshold(eta, momentum), ADAM_LABEL)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.4, 0.3, 0.3])
    k, keep = thin(len(sharpness_steps)), thin(len(iterations))
    panels = (
        (sharpness_steps[k], sharpness[k], top, "black", "lines+markers"),
        (iterations[keep], loss[keep], "training loss", LOSS_COLOR, "lines"),
        (iterations[keep], mean_distance[keep], "<d(t)>", "#4c78a8", "lines"),
    )
    for row, (x, y, name, color, mode) in enumerate(panels, start=1):
        hover = f"t = %{{x}}<br>{name} = %{{y:.4g}}<extra></extra>"
        trace = go.Scatter(x=_f32(x), y=_f32(y), mode=mode, name=name, line={"color": color}, hovertemplate=hover)
        fig.add_trace(trace, row=row, col=1)
    if edge.value is not None:
        line = {"dash": "dash", "color": LOSS_COLOR}
        fig.add_hline(edge.value, row=1, col=1, line=line, annotation_text=f"{edge.label} = {edge.value:.4g}")
    else:
        note = {"xref": "x domain", "yref": "y domain", "x": 0.01, "y": 0.98, "xanchor": "left", "yanchor": "top"}
        fig.add_annotation(text=f"{edge.note}: no line is drawn", showarrow=False, font={"size": 11}, **note)
    fig.update_yaxes(title_text=top, row=1, col=1)
    fig.update_yaxes(title_text="loss (nats)", row=2, col=1)
    fig.update_yaxes(log_axis(mean_distance[keep], title_text="<d(t)> (log)"), row=3, col=1)
    fig.update_xaxes(title_text="iteration t", row=3, col=1)
    title = _curvature_title(sharpness, eta, optimizer, momentum, edge)
    return _base_layout(fig, title=title, uirevision="curvature", showlegend=False)


PRECONDITIONED_NAME = "preconditioned sharpness λ_max(P⁻¹H)"
ADAM_LABEL = "(2 + 2β1)/((1 − β1)η)"


def _curvature_title(sharpness: np.ndarray, eta: float, optimizer: str, beta: float, edge: Threshold) -> str:
    finite = np.asarray(sharpness, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    rule = "" if optimizer == "gd" else f", {optimizer} β{'1' if optimizer == 'adam' else ''} = {beta:g}"
    head = f"Edge of stability at η = {eta:g}{rule}"
    if not finite.size:
        return f"{head}: no finite sharpness (the run diverged)"
    if edge.value is None:
        return f"{head}: last sharpness {finite[-1]:.4g} (Adam's threshold is on the preconditioned sharpness)"
    what = "preconditioned sharpness" if edge.label == ADAM_LABEL else "sharpness"
    return f"{head}: last {what} {finite[-1]:.4g} = {finite[-1] / edge.value:.2f} × {edge.label}"


def curvature_view(record: RunRecord) -> go.Figure:
    """Sharpness vs the optimizer's threshold, the loss and <d(t)> of a finished run on one time axis."""
    if record.sharpness.size == 0:
        return empty_figure("The run was stopped before it finished: no curvature.")
    config = record.config
    return curvature_figure(
        record.iterations,
        record.loss[:, 0],
        record.mean_distance,
        record.sharpness_steps,
        record.sharpness,
        config.learning_rate,
        optimizer=config.optimizer,
        momentum=config.momentum,
        preconditioned=record.preconditioned_sharpness,
    )


# ---- chaos diagnostics (docs/method.md §7) -----------------------------------------------
def loss_norm_figure(iterations: np.ndarray, loss: np.ndarray, weight_norm: np.ndarray, transient: int) -> go.Figure:
    """Fig. 13: the loss as dots (plateaus, bands, switches) over the weight norm ||θ||₁, one
    shared x; the first ``transient`` iterations shaded. (T+1,) each, sampled by :func:`spread`."""
    _check_same_length(iterations=iterations, loss=loss, weight_norm=weight_norm)
    keep = spread(len(iterations))
    x = _x(iterations[keep])
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.6, 0.4])
    dots = {"size": 2.5, "color": LOSS_COLOR}
    fig.add_trace(go.Scattergl(**x, y=_f32(loss[keep]), mode="markers", marker=dots, name="training loss"), 1, 1)
    fig.add_trace(
        go.Scattergl(**x, y=_f32(weight_norm[keep]), mode="lines", line={"color": "black"}, name="||θ||₁"), 2, 1
    )
    if transient > 0 and len(iterations):
        fig.add_vrect(x0=float(iterations[0]), x1=transient, row="all", col=1, **SHADE)
    fig.update_yaxes(title_text="loss (nats)", row=1, col=1)
    fig.update_yaxes(title_text="||θ||₁", row=2, col=1)
    fig.update_xaxes(title_text="iteration t", row=2, col=1)
    title = (
        f"Loss and weight norm over {max(len(iterations) - 1, 0):,} iterations (first {transient:,} shaded: transient)"
    )
    return _base_layout(fig, title=title, uirevision="chaos-loss", showlegend=False)


def acf_figure(acf: np.ndarray, null_low: np.ndarray, null_high: np.ndarray) -> go.Figure:
    """Fig. 15: ACF of the loss after the transient vs lag, over the shuffle-null band filled
    between ``null_low`` and ``null_high`` (3rd-97th percentiles). (L+1,) each, lag 0 first."""
    _check_same_length(acf=acf, null_low=null_low, null_high=null_high)
    acf, low, high = (np.asarray(a, dtype=np.float64) for a in (acf, null_low, null_high))
    if acf.size < 2 or not np.isfinite(acf).all():
        return empty_figure("No autocorrelation: the loss after the transient is too short or constant")
    lags = np.arange(acf.size)
    outside = int(((acf[1:] < low[1:]) | (acf[1:] > high[1:])).sum())
    edge = {"width": 0, "color": BAND_COLOR}
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=lags, y=low, mode="lines", line=edge, hoverinfo="skip", showlegend=False))
    band = "shuffle null, 3rd-97th percentile"
    fig.add_trace(go.Scatter(x=lags, y=high, mode="lines", line=edge, fill="tonexty", fillcolor=BAND_COLOR, name=band))
    hover = "lag %{x}<br>ACF = %{y:.3f}<extra></extra>"
    line = {"color": "black", "width": 1.5}
    fig.add_trace(go.Scatter(x=lags, y=acf, mode="lines", line=line, name="ACF of the loss", hovertemplate=hover))
    n = acf.size - 1
    title = f"{outside} of {n} lags ({outside / n:.0%}) leave the shuffle-null band"
    axes: dict[str, Any] = {"xaxis": {"title": "lag (iterations)"}, "yaxis": {"title": "autocorrelation"}}
    return _base_layout(fig, title=title, uirevision="chaos-acf", chars=HALF_CHARS, **axes)


def expansion_histogram(rates: np.ndarray, significant: np.ndarray, *, bins: int = 30) -> go.Figure:
    """Fig. 16: histogram of the finite local expansion rates (R,), stacked by ``significant``
    (R,) bool, on shared bins; the median dashed. An empty state when no rate is finite."""
    _check_same_length(rates=rates, significant=significant)
    rates, significant = np.asarray(rates, dtype=np.float64), np.asarray(significant, dtype=bool)
    finite = np.isfinite(rates)
    if not finite.any():
        return empty_figure("No local expansion rate: no reference time had a neighbour within the tolerance")
    edges = np.histogram_bin_edges(rates[finite], bins=bins)
    centres, widths = (edges[1:] + edges[:-1]) / 2, np.diff(edges)
    fig = go.Figure()
    groups = (
        (finite & ~significant, "not significant", GREY),
        (finite & significant, "significant", SIGNIFICANT_COLOR),
    )
    for mask, name, color in groups:
        counts = np.histogram(rates[mask], bins=edges)[0]
        hover = "rate %{x:.3g}<br>%{y} reference times<extra></extra>"
        fig.add_trace(
            go.Bar(
                x=centres,
                y=counts,
                width=widths,
                name=f"{name} ({mask.sum()})",
                marker_color=color,
                hovertemplate=hover,
            )
        )
    median = float(np.median(rates[finite]))
    fig.add_vline(median, line={"dash": "dash", "color": "black"}, annotation_text=f"median {median:.3g}")
    n, k = int(finite.sum()), int((finite & significant).sum())
    title = f"{n} local expansion rates, {k} significant ({k / n:.0%})"
    axes: dict[str, Any] = {
        "xaxis": {"title": "local expansion rate (per iteration)"},
        "yaxis": {"title": "reference times"},
    }
    bars: dict[str, Any] = {"barmode": "stack", "bargap": 0.05}
    return _base_layout(fig, title=title, uirevision="chaos-rates", chars=HALF_CHARS, **bars, **axes)


def top_weights_figure(steps: np.ndarray, series: np.ndarray, labels: tuple[str, ...] | list[str]) -> go.Figure:
    """Fig. 17: the saved values of the weights that move the most: steps (S,), series (S, n),
    one line per weight named by ``labels`` (n,). Sampled by :func:`spread`, at most
    ``MAX_WEIGHT_POINTS`` per line."""
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 2 or series.shape != (len(steps), len(labels)):
        raise ValueError(f"series must be (S, n) = ({len(steps)}, {len(labels)}), got shape {series.shape}")
    if not len(labels):
        return empty_figure("No weights to show")
    keep = spread(len(steps), MAX_WEIGHT_POINTS)
    x = _x(steps[keep])
    fig = go.Figure()
    for j, label in enumerate(labels):
        line = {"color": CLASS_COLORS[j % len(CLASS_COLORS)], "width": 1}
        fig.add_trace(go.Scattergl(**x, y=_f32(series[keep, j]), mode="lines", line=line, name=label))
    axes: dict[str, Any] = {"xaxis": {"title": "iteration t"}, "yaxis": {"title": "weight value"}}
    title = f"The {len(labels)} weights that move the most (longest paths)"
    return _base_layout(fig, title=title, uirevision="chaos-weights", **axes)


def chaos_figures(diagnostics: Diagnostics) -> dict[str, go.Figure]:
    """The four figures of a :class:`core.Diagnostics` (read by attribute; no core import):
    keys "loss_norm", "acf", "rates", "weights"."""
    d, rates = diagnostics, diagnostics.expansion
    return {
        "loss_norm": loss_norm_figure(np.arange(len(d.loss)), d.loss, d.weight_norm, d.transient),
        "acf": acf_figure(d.acf, d.null_low, d.null_high),
        "rates": expansion_histogram(rates.rate, rates.significant),
        "weights": top_weights_figure(d.steps, d.top_series, d.top_labels),
    }


# ---- digits -------------------------------------------------------------------------------
def digits_grid_figure(
    images: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    *,
    side: int = CELL,
    columns: int = 8,
    max_images: int = MAX_DIGITS,
) -> go.Figure:
    """The first ``max_images`` images (n, side * side) in [0, 1] (row-major, ink = 1: the 8 x
    8 digits, MNIST's 28 x 28), each captioned "label → prediction", misclassified ones framed
    and captioned in red.

    One heatmap of the whole grid, NaN between images: one trace and one canvas image in the
    browser, ~4 KB of float32 for digits, where a go.Image needs 3 channels (and a PNG source
    needs an encoder) and one subplot per image costs 40 axes. Captions: one text trace;
    frames: shapes. The gaps scale with the side (8 pixels: 1 between columns, 3 above each
    image for its caption).
    """
    images = np.asarray(images, dtype=np.float64)
    if not (isinstance(side, int) and side >= 1):
        raise ValueError(f"side must be a positive integer, got {side!r}")
    if images.ndim != 2 or images.shape[1] != side * side:
        raise ValueError(f"images must be (n, {side * side}) rows of {side} x {side} pixels, got shape {images.shape}")
    _check_same_length(images=images, labels=labels, predictions=predictions)
    if not (isinstance(columns, int) and columns >= 1):
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    noun = "digits" if side == CELL else "images"
    n = min(len(images), max_images)
    if n == 0:
        return empty_figure(f"No {noun} to show")
    top, left = _cell_origins(n, columns, side)
    fig = go.Figure(go.Heatmap(z=_digit_grid(images[:n], top, left, columns, side), **_GREYS))
    wrong = np.asarray(labels[:n]) != np.asarray(predictions[:n])
    captions = [f"{y} → {p}" for y, p in zip(labels[:n], predictions[:n], strict=True)]
    fig.add_trace(_captions(left + (side - 1) / 2, top - (_gaps(side)[1] + 1) / 2, captions, wrong))
    frame = {"type": "rect", "line": {"color": WRONG_COLOR, "width": 2}, "layer": "above"}
    shapes = [
        {**frame, "x0": x - 0.5, "x1": x + side - 0.5, "y0": y - 0.5, "y1": y + side - 0.5}
        for x, y in zip(left[wrong], top[wrong], strict=True)
    ]
    shown = f"{n} {noun}" if n == len(images) else f"first {n} of {len(images)} {noun}"
    title = f"{shown}: label → prediction, {int(wrong.sum())} wrong (red)"
    hidden = {"visible": False, "showgrid": False, "zeroline": False}
    revision = "digits" if side == CELL else f"images{side}"
    fig = _base_layout(fig, title=title, uirevision=revision, showlegend=False, shapes=shapes)
    fig.update_xaxes(hidden, constrain="domain")
    fig.update_yaxes(hidden, autorange="reversed", scaleanchor="x", constrain="domain")  # row 0 on top
    return fig.update_layout(
        plot_bgcolor=SEPARATOR_COLOR, height=DIGITS_MARGIN_PX + DIGITS_ROW_PX * len(np.unique(top))
    )


_GREYS = {"colorscale": "Greys", "zmin": 0.0, "zmax": 1.0, "showscale": False, "hoverinfo": "skip"}


def _gaps(side: int) -> tuple[int, int]:
    """Blank pixels between columns and above each image (for its caption) of a grid of images
    ``side`` pixels a side: GAP_X and GAP_Y for the 8 x 8 digits, scaled with the side."""
    return max(1, side * GAP_X // CELL), math.ceil(GAP_Y * side / CELL)


def _cell_origins(n: int, columns: int, side: int = CELL) -> tuple[np.ndarray, np.ndarray]:
    """(n,) top row and left column, in grid pixels, of each image's block."""
    gap_x, gap_y = _gaps(side)
    row, col = np.divmod(np.arange(n), columns)
    return gap_y + row * (side + gap_y), col * (side + gap_x)


def _digit_grid(images: np.ndarray, top: np.ndarray, left: np.ndarray, columns: int, side: int = CELL) -> np.ndarray:
    """(n, side * side) -> one float32 image: each image at (top, left), NaN elsewhere."""
    gap_x = _gaps(side)[0]
    width = min(columns, len(images)) * (side + gap_x) - gap_x
    grid = np.full((int(top.max()) + side, width), np.nan, dtype=np.float32)
    for image, y, x in zip(images, top, left, strict=True):
        grid[y : y + side, x : x + side] = image.reshape(side, side)
    return grid


def _captions(x: np.ndarray, y: np.ndarray, text: list[str], wrong: np.ndarray) -> go.Scatter:
    colors = np.where(wrong, WRONG_COLOR, "#2a3f5f").tolist()
    font = {"color": colors, "size": 12}
    return go.Scatter(x=x, y=y, mode="text", text=text, textfont=font, hoverinfo="text", name="label → prediction")
