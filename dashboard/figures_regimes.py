"""Figures of the learning-rate regimes (SPEC section 6): the 1-D regime strip, the 2-D maps
(eta x eps, eta x seed) and the orbit diagram. Pure: arrays in, ``go.Figure`` out.

Edge of stability (Cohen et al. 2021, arXiv:2103.00065): gradient descent drives the
sharpness (largest Hessian eigenvalue of the loss) up to about 2/eta, where a quadratic
model of the loss stops being stable; the strip shows sharpness / (2/eta) against a line at 1.

Regime colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies).
Cells of a grid on a log axis are drawn between geometric midpoints (:func:`log_edges`), so
each value sits in the middle of its cell on screen.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.labels import REGIME_TEXT, REGIMES
from dashboard.figures import _base_layout, _f32

REGIME_COLORS = {"stable": "#0072B2", "edge": "#E69F00", "chaotic": "#D55E00", "diverged": "#000000"}
BAND_OPACITY = 0.16  # the bands tint the panels; the data stay readable over every colour
ACCURACY_COLORS = {"train_accuracy": "#009E73", "test_accuracy": "#56B4E9"}
STRIP_PANELS = (
    "FTLE (per step), mean ± 95% CI",
    "final loss and accuracy",
    "iterations to the target test accuracy",
    "fraction of loss-increasing steps",
    "sharpness / (2/η)",
)


def log_edges(centres) -> np.ndarray:
    """(n,) ascending positive centres -> (n + 1,) cell edges: the geometric midpoints of
    neighbours, and outer edges as far beyond the end centres as the nearest midpoint
    (half a decade either side of a single centre)."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        return c[0] * np.array([10**-0.5, 10**0.5])
    mid = np.sqrt(c[:-1] * c[1:])
    return np.concatenate([[c[0] ** 2 / mid[0]], mid, [c[-1] ** 2 / mid[-1]]])


def linear_edges(centres) -> np.ndarray:
    """(n,) ascending centres -> (n + 1,) edges at the midpoints (+-0.5 around a single one)."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        return c[0] + np.array([-0.5, 0.5])
    mid = (c[:-1] + c[1:]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def regime_legend_items(regime_text: dict[str, str] = REGIME_TEXT) -> list[tuple[str, str, str]]:
    """(label, colour, sentence) per regime, in the order of REGIMES: the legend as data, so a
    page can also write it as HTML."""
    return [(label, REGIME_COLORS[label], regime_text[label]) for label in REGIMES]


# ---- the 1-D regime strip ----------------------------------------------------------------


def regime_strip_figure(
    etas,
    table: dict[str, np.ndarray],
    regimes: list[str | None],
    *,
    regime_text: dict[str, str] = REGIME_TEXT,
    target_accuracy: float | None = None,
    title: str = "Regimes of the learning rate",
) -> go.Figure:
    """Five panels over one shared log eta axis, one point per eta of a sweep.

    etas (E,); ``table`` maps each column of ``SweepResult.summary()`` to an (E,) array;
    ``regimes`` (E,) the majority label per eta (None or NaN: not computed yet). NaN entries (cells
    not yet computed in a live sweep) are gaps in the lines. Each eta's background band, from
    the geometric midpoint with its left neighbour to the one with its right, has the colour
    of its label; neighbours with one label share a band.
    """
    order = np.argsort(np.asarray(etas, dtype=np.float64))
    x = np.asarray(etas, dtype=np.float64)[order]
    col = {k: np.asarray(v, dtype=np.float64)[order] for k, v in table.items()}
    labels = [regimes[i] if isinstance(regimes[i], str) else None for i in order]  # pandas 3 writes NaN for None
    fig = make_subplots(
        rows=5,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.035,
        row_heights=[0.24, 0.22, 0.18, 0.16, 0.2],
        subplot_titles=_panel_titles(target_accuracy),
        specs=[[{"secondary_y": True}], [{"secondary_y": True}], [{}], [{}], [{}]],
    )
    _ftle_panel(fig, x, col)
    _loss_panel(fig, x, col)
    _steps_panel(fig, x, col)
    _scatter(fig, x, col["loss_increase_fraction"], "loss-increasing steps", "#CC79A7", 4, "%{y:.0%}", showlegend=False)
    _scatter(fig, x, col["sharpness_over_2_eta"], "sharpness / (2/η)", "#000000", 5, "%{y:.3g}", showlegend=False)
    _two_over_eta_line(fig)
    edges = log_edges(x) if x.size else x
    _regime_bands(fig, edges, labels)
    _regime_legend(fig, regime_text)
    fig.update_xaxes(type="log", exponentformat="power", range=np.log10(edges[[0, -1]]).tolist() if x.size else None)
    fig.update_xaxes(title_text="learning rate η", row=5, col=1)
    fig.update_yaxes(title_text="FTLE", row=1, col=1, secondary_y=False)
    fig.update_yaxes(title_text="kept", range=[0, 1.05], row=1, col=1, secondary_y=True)
    fig.update_yaxes(title_text="loss", type="log", exponentformat="power", row=2, col=1, secondary_y=False)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.05], row=2, col=1, secondary_y=True)
    fig.update_yaxes(title_text="iterations", rangemode="tozero", row=3, col=1)
    fig.update_yaxes(title_text="share", range=[0, 1.05], tickformat=".0%", row=4, col=1)
    fig.update_yaxes(title_text="ratio", type="log", row=5, col=1)
    fig = _base_layout(fig, title=title, uirevision="regime-strip")
    fig.update_yaxes(showgrid=False, tickmode="auto", secondary_y=True)  # secondaries: the left grid only
    fig.update_layout(
        height=1050,
        plot_bgcolor="rgba(0,0,0,0)",  # the bands lie below the plot area: keep it see-through
        margin={"b": 40},
        legend={"orientation": "h", "x": 0, "y": -0.075, "yanchor": "top"},
        legend2={"orientation": "v", "x": 0, "y": -0.11, "yanchor": "top", "title": {"text": "background: regime"}},
        dragmode="select",  # dragging marks a span of eta for "Zoom in"
        selectdirection="h",
    )
    return fig


def _panel_titles(target_accuracy: float | None) -> list[str]:
    titles = list(STRIP_PANELS)
    if target_accuracy is not None:
        titles[2] = f"iterations to {target_accuracy:.0%} test accuracy (marker size: share reaching it)"
    return titles


def _scatter(fig, x, y, name, color, row, y_format, *, secondary_y=False, dash=None, **extra) -> None:
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="lines+markers",
            name=name,
            line={"color": color, "dash": dash, "width": 1.5},
            marker={"color": color, "size": 6},
            unselected={"marker": {"opacity": 1}},  # a span drawn for a zoom leaves the points as they are
            hovertemplate=f"η = %{{x:.4g}}<br>{name} = {y_format}<extra></extra>",
            **extra,
        ),
        row=row,
        col=1,
        secondary_y=secondary_y,
    )


def _ftle_panel(fig, x, col) -> None:
    mean = col["ftle_mean"]
    error = {
        "type": "data",
        "array": col["ftle_ci_high"] - mean,
        "arrayminus": mean - col["ftle_ci_low"],
        "visible": True,
        "thickness": 1.2,
        "width": 4,
    }
    _scatter(fig, x, mean, "FTLE mean (95% CI)", "#000000", 1, "%{y:.4f}", error_y=error)
    _scatter(
        fig, x, col["ftle_kept_fraction"], "FTLE fits kept", "#0072B2", 1, "%{y:.0%}", secondary_y=True, dash="dot"
    )


def _loss_panel(fig, x, col) -> None:
    _scatter(fig, x, col["final_loss"], "final loss", "#D55E00", 2, "%{y:.4g}")
    for key, color in ACCURACY_COLORS.items():
        name = key.replace("_", " ")
        _scatter(fig, x, col[key], name, color, 2, "%{y:.1%}", secondary_y=True, dash="dash")


def _steps_panel(fig, x, col) -> None:
    reached = col["reached_target"]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=col["steps_to_accuracy"],
            mode="lines+markers",
            name="iterations to target",
            showlegend=False,
            customdata=reached,
            line={"color": "#009E73", "width": 1.5},
            marker={"color": "#009E73", "size": 5 + 11 * np.nan_to_num(reached, nan=0.0), "sizemode": "diameter"},
            hovertemplate="η = %{x:.4g}<br>iterations = %{y:.0f}<br>reached by %{customdata:.0%}<extra></extra>",
        ),
        row=3,
        col=1,
    )


def _two_over_eta_line(fig) -> None:
    """A dashed line at sharpness = 2/eta; a shape's label, since annotations on a log axis
    take log10 positions and shapes take data values."""
    panel = fig.get_subplot(5, 1)
    fig.add_shape(
        type="line",
        xref=f"{_ref(panel.xaxis)} domain",
        x0=0,
        x1=1,
        yref=_ref(panel.yaxis),
        y0=1,
        y1=1,
        line={"color": "#555555", "dash": "dash", "width": 1.5},
        label={"text": "2/η", "textposition": "end", "yanchor": "bottom", "font": {"size": 12}},
    )


def _ref(axis) -> str:
    """layout.xaxis5 -> "x5", the name a trace or shape refers to it by."""
    return axis.plotly_name.replace("axis", "")


def _regime_bands(fig, edges: np.ndarray, labels: list[str | None]) -> None:
    """One vrect per run of equal labels over every panel (yref paper), under the data."""
    start = 0
    for i in range(1, len(labels) + 1):
        if i < len(labels) and labels[i] == labels[start]:
            continue
        label = labels[start]
        if label is not None:
            fig.add_shape(
                type="rect",
                xref="x",
                yref="paper",
                x0=float(edges[start]),
                x1=float(edges[i]),
                y0=0,
                y1=1,
                fillcolor=REGIME_COLORS.get(label, "#999999"),
                opacity=BAND_OPACITY,
                line_width=0,
                layer="below",
                name=label,
            )
        start = i


def _regime_legend(fig, regime_text: dict[str, str]) -> None:
    """Legend entries only (no points): a coloured square and one sentence per regime."""
    for label, color, sentence in regime_legend_items(regime_text):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=sentence,
                legend="legend2",
                legendgroup=label,
                marker={"symbol": "square", "size": 14, "color": color, "opacity": max(BAND_OPACITY * 3, 0.4)},
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )


# ---- 2-D maps -----------------------------------------------------------------------------

MAP_TEXT = {  # kind -> (y name, y format, value title, share title, what an empty computed cell means)
    "eta-eps": ("ε", ".1e", "FTLE (per step)", "kept fraction", "no kept FTLE fit"),
    "eta-seed": ("seed", ".0f", "final loss", "test accuracy", "diverged"),
}
NOT_DONE_COLOR = "#d9d9d9"  # the plot background, seen through cells not computed yet


def map_heatmap(kind, etas, ys, value, share, done, *, diverged=None, title: str = "") -> go.Figure:
    """A map over etas (E,) x ys (Y,) (eps for ``eta-eps``, seeds for ``eta-seed``); value,
    share, done and the optional diverged are (E, Y). Drawn as z[y][x] = value.T, NaN where
    not done: such cells are transparent over a grey background, while cells computed
    without a value (no kept fit, or diverged) are white (a layer underneath).

    Cells tile the axes: x (and y for eps) are given as (E + 1,) edges at geometric midpoints
    (:func:`log_edges`), seeds on a linear axis as midpoints; the axis ranges are the outer
    edges. ``eta-seed`` is coloured by log10 of the final loss, its colour bar labelled in loss.

    Selecting and clicking: ``dragmode="select"``. A heatmap has no selectable points, so an
    invisible scatter (the last trace) holds the cell centres; a box drawn over the map then
    gives ``selectedData["range"] = {"x": [eta0, eta1], "y": [y0, y1]}`` and the centres
    inside in ``selectedData["points"]`` (each with ``customdata`` [eta, y]). Every cell's
    ``customdata`` is [eta, y, value, share], so ``clickData["points"][0]["customdata"][:2]``
    is the clicked (eta, y), the float64 grid values.
    """
    y_name, y_format, value_title, share_title, empty = MAP_TEXT[kind]
    e_order, y_order = np.argsort(etas), np.argsort(ys)
    etas, ys = np.asarray(etas, dtype=np.float64)[e_order], np.asarray(ys, dtype=np.float64)[y_order]
    grid = np.ix_(e_order, y_order)
    done = np.asarray(done, dtype=bool)[grid].T  # (Y, E) from here on
    value = np.where(done, np.asarray(value, dtype=np.float64)[grid].T, np.nan)
    share = np.where(done, np.asarray(share, dtype=np.float64)[grid].T, np.nan)
    x_edges = log_edges(etas)
    y_edges = log_edges(ys) if kind == "eta-eps" else linear_edges(ys)
    eta_grid, y_grid = np.meshgrid(etas, ys)  # (Y, E)
    colour, colorbar = _map_colour(kind, value, value_title)
    fig = go.Figure(_computed_layer(x_edges, y_edges, done))
    fig.add_trace(
        go.Heatmap(
            x=x_edges,
            y=y_edges,
            z=colour,
            customdata=np.stack([eta_grid, y_grid, value, share], axis=-1),  # (Y, E, 4)
            colorscale="Viridis",
            colorbar=colorbar,
            name=value_title,
            hovertemplate=f"η = %{{customdata[0]:.4g}}<br>{y_name} = %{{customdata[1]:{y_format}}}<br>"
            f"{value_title} = %{{customdata[2]:.4g}}<br>{share_title} = %{{customdata[3]:.2f}}<extra></extra>",
        )
    )
    if diverged is not None:
        _diverged_marks(fig, eta_grid, y_grid, np.asarray(diverged, dtype=bool)[grid].T & done)
    fig.add_trace(_selectable_centres(eta_grid, y_grid))
    return _map_layout(fig, kind, x_edges, y_edges, title, f"white: computed, {empty} · grey: not computed yet")


def _computed_layer(x_edges, y_edges, done) -> go.Heatmap:
    """White under every computed cell, so an empty computed cell differs from a pending one."""
    return go.Heatmap(
        x=x_edges,
        y=y_edges,
        z=np.where(done, 0.0, np.nan),
        colorscale=[[0, "white"], [1, "white"]],
        showscale=False,
        hoverinfo="skip",
        name="computed",
    )


def _map_layout(fig, kind, x_edges, y_edges, title, note) -> go.Figure:
    log_y = kind == "eta-eps"
    y_range = np.log10(y_edges[[0, -1]]) if log_y else y_edges[[0, -1]]
    y_axis = {"title": MAP_TEXT[kind][0], "range": y_range.tolist(), "showgrid": False}
    y_axis.update({"type": "log", "exponentformat": "power"} if log_y else {"tickformat": "d"})
    x_range = np.log10(x_edges[[0, -1]]).tolist()  # a log axis's range is in log10 units
    x_axis = {"title": "learning rate η", "type": "log", "range": x_range, "exponentformat": "power", "showgrid": False}
    fig = _base_layout(fig, title=title, uirevision=f"map-{kind}", xaxis=x_axis, yaxis=y_axis)
    fig.add_annotation(
        text=note, showarrow=False, x=0, y=1, xref="paper", yref="paper", xanchor="left", yanchor="bottom"
    )
    fig.update_layout(dragmode="select", selectdirection="any", plot_bgcolor=NOT_DONE_COLOR)
    return fig


def _map_colour(kind: str, z: np.ndarray, title: str) -> tuple[np.ndarray, dict]:
    """(Y, E) values -> what the heatmap colours by and its colour bar."""
    if kind == "eta-eps":
        return z, {"title": {"text": title}}
    with np.errstate(all="ignore"):
        logs = np.where(z > 0, np.log10(z), np.nan)
    return logs, {"title": {"text": f"{title} (log scale)"}, **_log_ticks(logs)}


def _log_ticks(logs: np.ndarray) -> dict:
    """Colour-bar ticks at 1, 2, 5 x powers of ten inside the finite range of log10 values."""
    ok = logs[np.isfinite(logs)]
    if ok.size == 0:
        return {}
    lo, hi = float(ok.min()), float(ok.max())
    ticks = [m * 10.0**k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
    inside = [t for t in ticks if lo - 1e-9 <= math.log10(t) <= hi + 1e-9] or [10**lo, 10**hi]
    if len(inside) > 8:  # many decades: the powers of ten alone
        inside = [t for t in inside if math.log10(t).is_integer()] or inside[:: len(inside) // 4]
    return {"tickvals": [math.log10(t) for t in inside], "ticktext": [f"{t:.3g}" for t in inside]}


def _diverged_marks(fig, eta_grid, y_grid, diverged) -> None:
    fig.add_trace(
        go.Scatter(
            x=eta_grid[diverged],
            y=y_grid[diverged],
            mode="markers",
            name="diverged",
            marker={"symbol": "x-thin", "size": 9, "line": {"width": 1.5, "color": "#333333"}},
            hoverinfo="skip",
        )
    )


def _selectable_centres(eta_grid, y_grid) -> go.Scatter:
    """Invisible points at every cell centre: they make a box selection report its range."""
    centres = np.column_stack([eta_grid.ravel(), y_grid.ravel()])  # (Y E, 2)
    hidden = {"marker": {"opacity": 0}}
    return go.Scatter(
        x=centres[:, 0],
        y=centres[:, 1],
        customdata=centres,
        mode="markers",
        name="cell centres",
        marker={"opacity": 0, "size": 4},
        selected=hidden,
        unselected=hidden,
        hoverinfo="skip",
        showlegend=False,
    )


# ---- the orbit diagram --------------------------------------------------------------------


def orbit_figure(etas, losses, *, n_classes: int = 3, title: str = "Orbit diagram") -> go.Figure:
    """The last N training losses at each eta as dots: one value for a fixed point, p for a
    period-p orbit, a band for chaos. etas (E,), losses (E, N) (NaN: diverged or not yet
    computed, not drawn). A dotted line at ln C, the loss of a network that gives every
    one of C classes the same probability."""
    losses = np.asarray(losses, dtype=np.float64)
    x = np.repeat(np.asarray(etas, dtype=np.float64), losses.shape[1])  # (E N,)
    fig = go.Figure(
        go.Scattergl(
            x=_f32(x),
            y=_f32(losses.ravel()),
            mode="markers",
            name="last losses",
            marker={"color": "#000000", "size": 3, "opacity": 0.6},
            unselected={"marker": {"opacity": 0.6}},
            hovertemplate="η = %{x:.4g}<br>loss = %{y:.4g}<extra></extra>",
        )
    )
    fig.add_shape(
        type="line",
        xref="x domain",
        x0=0,
        x1=1,
        yref="y",
        y0=math.log(n_classes),
        y1=math.log(n_classes),
        line={"color": "#D55E00", "dash": "dot", "width": 1.5},
        label={"text": f"ln {n_classes}: every class alike", "textposition": "end", "yanchor": "bottom"},
    )
    return _base_layout(
        fig,
        title=title,
        uirevision="orbit",
        xaxis={"title": "learning rate η", "type": "log", "exponentformat": "power"},
        yaxis={"title": "training loss (last steps)", "type": "log"},
        dragmode="select",  # dragging marks a span of eta for "Zoom in"
        selectdirection="h",
    )
