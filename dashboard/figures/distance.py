"""The distance between a reference network and its perturbed copies over the iterations:
every copy's d_m(t) grey and their mean <d(t)> black, from t = 0 (the paper's central figure,
also updated in place during a run) and after perturbing at iteration t0 (orbital stability,
the paper's Fig. 8; docs/method.md §4).

A record in, a figure out (what the Divergence and Orbital views and ``paper/`` draw):
:func:`distance_view` (a finished run), :func:`distance_plot` (a run's arrays, live or
finished), :func:`orbital_view`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.base import GREY, LOSS_COLOR, MAX_POINTS, _base_layout, _f32, log_axis, thin

if TYPE_CHECKING:  # the records are read by attribute: figures import no jobs
    from core.config import RunConfig
    from dashboard.jobs.records import OrbitalRecord, RunRecord

LOSS_LIGHT = "rgba(214, 39, 40, 0.55)"  # the loss over other curves

# A live figure is redrawn by the browser at each update, and on a 2-core machine without a
# GPU that competes with the training for CPU: 250 points per line keeps it light (one Plotly
# redraw measured 37-62 ms at 200 points a line, 95-103 ms at 1,000).
LIVE_POINTS = 250


def _with_gaps(x: np.ndarray, curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S,), (S, M) -> one x/y pair with NaN gaps between the M curves (one trace, M lines)."""
    m = curves.shape[1]
    xs = np.tile(np.append(x, np.nan), m)
    ys = np.concatenate([np.append(curves[:, j], np.nan) for j in range(m)])
    return _f32(xs), ys  # float32 holds iterations exactly up to 2^24


def _copies_name(m: int) -> str:
    return f"each copy d_m(t) ({m})"


def grey_black(
    fig: go.Figure,
    x_curves: np.ndarray,
    curves: np.ndarray,
    x: np.ndarray,
    mean: np.ndarray,
    *,
    row: int | None = None,
    col: int | None = None,
    show_legend: bool = True,
) -> None:
    """Each curve (S', M) a thin grey line over x_curves (S',), their mean (S,) black over x (S,)."""
    xs, ys = _with_gaps(x_curves, curves)
    place = {} if row is None else {"row": row, "col": col}
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=_f32(ys),
            mode="lines",
            line={"color": GREY, "width": 1},
            hoverinfo="skip",
            name=_copies_name(curves.shape[1]),
            showlegend=show_legend,
        ),
        **place,
    )
    fig.add_trace(
        go.Scatter(
            x=_f32(x),
            y=_f32(mean),
            mode="lines",
            line={"color": "black", "width": 2.5},
            name="mean <d(t)>",
            hovertemplate="t = %{x}<br><d> = %{y:.4g}<extra></extra>",
            showlegend=show_legend,
        ),
        **place,
    )


def _distance_samples(n: int, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices kept for the mean and loss, and (half as many) for each copy."""
    return thin(n, max_points), thin(n, max_points // 2)


def distance_figure(
    iterations: np.ndarray,
    distances: np.ndarray,
    mean: np.ndarray,
    loss: np.ndarray,
    *,
    y_title: str = "distance d(t)",
    title: str = "",
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """The paper's central figure: every d_m(t) grey, <d(t)> black, log y; loss dashed on the right.

    iterations (S,), distances (S, M), mean (S,), loss (S,); at most ``max_points`` per line
    for the mean and the loss, and half that for each copy: the M copies are most of the
    payload and of the browser's drawing.
    """
    keep, keep_copies = _distance_samples(len(iterations), max_points)
    x = iterations[keep]
    fig = go.Figure()
    grey_black(fig, iterations[keep_copies], distances[keep_copies], x, mean[keep])
    fig.add_trace(
        go.Scatter(
            x=_f32(x),
            y=_f32(loss[keep]),
            mode="lines",
            yaxis="y2",
            name="training loss",
            # thin and translucent: at a large eta the loss jumps every step and a solid line would
            # cover the distances like a red wall
            line={"color": LOSS_LIGHT, "width": 1, "dash": "dash"},
            hovertemplate="t = %{x}<br>loss = %{y:.4g}<extra></extra>",
        )
    )
    return _base_layout(
        fig,
        title=title,
        uirevision="distance",
        xaxis={"title": "iteration t"},
        yaxis=log_axis(_drawn(distances[keep_copies], mean[keep]), title=y_title, minor={"showgrid": False}),
        yaxis2={"title": "loss", "overlaying": "y", "side": "right", "showgrid": False, "tickmode": "auto"},
    )


def distance_placeholder(message: str) -> go.Figure:
    """The distance figure before any run: its axes and (empty) traces, and a sentence.

    With the structure built at page load, a run's first live update and a replay only
    bring data, so the browser draws them sooner.
    """
    empty = np.empty(0)
    fig = distance_figure(empty, np.empty((0, 1)), empty, empty)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(showlegend=False)
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 15})
    return fig


def update_distance_figure(
    fig: go.Figure,
    iterations: np.ndarray,
    distances: np.ndarray,
    mean: np.ndarray,
    loss: np.ndarray,
    *,
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """New data into a figure made by :func:`distance_figure`, in place (a live update).

    ~2 ms instead of ~20 ms for building the figure again (measured), most of the cost of
    a live update in the job process.
    """
    keep, keep_copies = _distance_samples(len(iterations), max_points)
    x = iterations[keep]
    xs, ys = _with_gaps(iterations[keep_copies], distances[keep_copies])
    grey, black, dashed = fig.data
    with fig.batch_update():
        grey.update(x=xs, y=_f32(ys), name=_copies_name(distances.shape[1]))
        black.update(x=_f32(x), y=_f32(mean[keep]))
        dashed.update(x=_f32(x), y=_f32(loss[keep]))
        fig.layout.yaxis.update(log_axis(_drawn(distances[keep_copies], mean[keep])))
    return fig


def _drawn(copies: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Every distance the log axis shows (its ticks follow their span): (S', M) and (S,)."""
    return np.concatenate([np.ravel(copies), np.ravel(mean)])


def orbital_figure(iterations: np.ndarray, normalized: np.ndarray, loss: np.ndarray, t0: int) -> go.Figure:
    """The paper's Fig. 8 (docs/method.md §4): <d>/(eps N_w) after perturbing at t0; loss on the right."""
    keep = thin(len(iterations))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=iterations[keep],
            y=_f32(normalized[keep]),
            mode="lines",
            line={"color": "black"},
            name="<d>/(ε N_w)",
            hovertemplate="t = %{x}<br>%{y:.4g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=iterations[keep],
            y=_f32(loss[keep]),
            mode="lines",
            yaxis="y2",
            name="training loss",
            line={"color": LOSS_COLOR, "dash": "dash"},
            hoverinfo="skip",
        )
    )
    return _base_layout(
        fig,
        title=f"Perturbed at iteration {t0}",
        uirevision="orbital",
        # the x axis starts at t0, its first label right under the y axis's "0": set them apart
        xaxis={"title": "iteration t", "ticklabelstandoff": 6},
        yaxis={"title": "<d>/(ε N_w)", "rangemode": "tozero"},
        yaxis2={"title": "loss", "overlaying": "y", "side": "right", "showgrid": False, "tickmode": "auto"},
    )


# ---- a record in ----------------------------------------------------------------------------
def distance_series(
    config: RunConfig, distance: np.ndarray, normalized: bool, n_weights: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Iterations (S,), the copies' distances (S, M) (divided by eps N_w when ``normalized``)
    and their mean (S,)."""
    d = distance / (config.eps * n_weights) if normalized else distance
    return np.arange(len(d)), d, d.mean(axis=1)


def distance_plot(
    config: RunConfig, distance: np.ndarray, loss: np.ndarray, normalized: bool, n_weights: int, *, live: bool = False
) -> go.Figure:
    """The distance figure of a run (finished or, with ``live``, still training).

    distance (S, M) of the copies and the reference loss (S,), from iteration 0. The figure's
    ``layout.meta`` names the run it shows (η, ε, seed, iterations, normalised), so that the
    page and its tests can tell which run is on screen.
    """
    head = f"η = {config.learning_rate:g}, ε = {config.eps:g}"
    figure = distance_figure(
        *distance_series(config, distance, normalized, n_weights),
        loss,
        y_title="d(t) / (ε N_w)" if normalized else f"distance d(t) ({config.distance.upper()})",
        title=f"{head}: training…" if live else f"{head}, seed {config.seed}",
        max_points=LIVE_POINTS if live else MAX_POINTS,
    )
    figure.update_layout(meta=shown_run(config, normalized, live))
    return figure


def shown_run(config: RunConfig, normalized: bool, live: bool) -> dict:
    """What a distance figure shows, as the figure's ``layout.meta``."""
    run = {"eta": config.learning_rate, "eps": config.eps, "seed": config.seed, "steps": config.n_steps}
    return {"run": {**run, "dataset": config.dataset, "normalized": normalized, "live": live}}


def distance_view(record: RunRecord, normalized: bool) -> go.Figure:
    """The finished run's distance figure (the paper's Figs. 3 and 7)."""
    return distance_plot(record.config, record.distance, record.loss[:, 0], normalized, record.n_weights)


def orbital_view(record: OrbitalRecord) -> go.Figure:
    """The orbital-stability figure of a run perturbed at its t0 (the paper's Fig. 8)."""
    return orbital_figure(record.iterations, record.normalized_distance, record.loss, record.t0)
