"""The Regimes view's maps besides the strip (docs/method.md §6): the 2-D maps eta x eps (FTLE),
eta x seed (final loss) and eta x a setting (width, depth, l2, momentum, batch size; each map's
points show the value its record names) as heatmaps, and the orbit diagram (the last training losses at
each eta). Pure: arrays in, ``go.Figure`` out.

Cells of a grid on a log axis are drawn between geometric midpoints (:func:`log_edges`), so
each value sits in the middle of its cell on screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go

from dashboard.figures.base import _base_layout, _f32, colorbar_margin, log_axis
from dashboard.state.map_kinds import MAP_VIEWS, SettingView


def log_edges(centres: npt.ArrayLike) -> np.ndarray:
    """(n,) ascending positive centres -> (n + 1,) cell edges: the geometric midpoints of
    neighbours, and outer edges as far beyond the end centres as the nearest midpoint
    (half a decade either side of a single centre)."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        return c[0] * np.array([10**-0.5, 10**0.5])
    mid = np.sqrt(c[:-1] * c[1:])
    return np.concatenate([[c[0] ** 2 / mid[0]], mid, [c[-1] ** 2 / mid[-1]]])


def linear_edges(centres: npt.ArrayLike) -> np.ndarray:
    """(n,) ascending centres -> (n + 1,) edges at the midpoints (+-0.5 around a single one)."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        return c[0] + np.array([-0.5, 0.5])
    mid = (c[:-1] + c[1:]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


# ---- 2-D maps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Heatmap:
    """How a kind of 2-D map is drawn: its y axis (name, hover format, log or linear; a linear
    axis of whole numbers has one tick per value), its own value and share, what an empty
    computed cell means, and whether the colour is the value's log10 (a loss over decades) or
    the value itself. ``click``: what a click on it cannot do ('' if it opens the run)."""

    y_name: str
    y_format: str
    value_title: str
    share_title: str
    empty: str
    log_y: bool
    log_colour: bool
    whole_y: bool = True
    click: str = ""


@dataclass(frozen=True)
class Value:
    """How a value a map's points can show is drawn: its title, what a computed cell without
    it means, and whether it is coloured by log10."""

    title: str
    empty: str
    log_colour: bool


_FTLE = ("FTLE (per step)", "kept fraction", "no kept FTLE fit")  # value_title, share_title, empty
# The page's name of each setting map's y axis, and the hover format of its values if they are
# not whole numbers. Whether the axis is log and whole-numbered is its core Setting's
# (core.experiments.setting_maps, as dashboard.state.map_kinds.SettingView reads it); what a
# click cannot do is the view's ``click_hint``.
SETTING_AXES = {
    "eta-width": ("width (hidden units)", ""),
    "eta-depth": ("depth (hidden layers)", ""),
    "eta-l2": ("L2 penalty", ".2g"),
    "eta-momentum": ("momentum β", ".3g"),
    "eta-batch": ("batch size", ""),
}


def _setting_text(kind: str, y_name: str, fraction_format: str) -> Heatmap:
    """How the map over eta and a setting is drawn: the FTLE by default, its axis as its Setting's."""
    view = MAP_VIEWS[kind]
    assert isinstance(view, SettingView)  # SETTING_AXES names the setting maps
    setting = view.setting
    y_format = ".0f" if setting.integer else fraction_format
    return Heatmap(y_name, y_format, *_FTLE, log_y=setting.log, log_colour=False, whole_y=setting.integer,
                   click=view.click_hint)  # fmt: skip


MAP_TEXT = {  # the 2-D map kinds of core.experiments.map_kinds
    "eta-eps": Heatmap("ε", ".1e", *_FTLE, log_y=True, log_colour=False),
    "eta-seed": Heatmap("seed", ".0f", "final loss", "test accuracy", "diverged", log_y=False, log_colour=True),
    **{kind: _setting_text(kind, *axis) for kind, axis in SETTING_AXES.items()},
}
# by the column of core.experiments.maps (MapResult.value_name, share_name)
VALUE_TEXT = {
    "ftle_mean": Value("FTLE (per step)", "no kept FTLE fit", False),
    "leading_exponent": Value("leading exponent (per step)", "diverged", False),
    "final_loss": Value("final loss", "diverged", True),
    "steps_to_accuracy": Value("steps to the target accuracy", "target not reached", True),
}
SHARE_TEXT = {
    "ftle_kept_fraction": "kept fraction",
    "test_accuracy": "test accuracy",
    "reached_target": "share reaching the target",
}


def steps_title(target: float) -> str:
    """The title of the steps to a target test accuracy: 'steps to 90% test accuracy'."""
    return f"steps to {100 * target:g}% test accuracy"


NOT_DONE_COLOR = "#d9d9d9"  # the plot background, seen through cells not computed yet


def map_heatmap(
    kind: str,
    etas: npt.ArrayLike,
    ys: npt.ArrayLike,
    value: npt.ArrayLike,
    share: npt.ArrayLike,
    done: npt.ArrayLike,
    *,
    diverged: npt.ArrayLike | None = None,
    title: str = "",
    value_name: str = "",
    share_name: str = "",
    target_accuracy: float = 0.9,
) -> go.Figure:
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
    text = MAP_TEXT[kind]
    y_name, y_format, value_title, share_title, empty, log_colour = (
        text.y_name, text.y_format, text.value_title, text.share_title, text.empty, text.log_colour,
    )  # fmt: skip
    if value_name:  # the value the record shows (its kind's own if not named)
        shown = VALUE_TEXT[value_name]
        value_title, empty, log_colour = shown.title, shown.empty, shown.log_colour
        if value_name == "steps_to_accuracy":
            value_title = steps_title(target_accuracy)
    share_title = SHARE_TEXT.get(share_name, share_title)
    e_order, y_order = np.argsort(etas), np.argsort(ys)
    etas, ys = np.asarray(etas, dtype=np.float64)[e_order], np.asarray(ys, dtype=np.float64)[y_order]
    grid = np.ix_(e_order, y_order)
    done = np.asarray(done, dtype=bool)[grid].T  # (Y, E) from here on
    value = np.where(done, np.asarray(value, dtype=np.float64)[grid].T, np.nan)
    share = np.where(done, np.asarray(share, dtype=np.float64)[grid].T, np.nan)
    x_edges = log_edges(etas)
    y_edges = log_edges(ys) if text.log_y else linear_edges(ys)
    eta_grid, y_grid = np.meshgrid(etas, ys)  # (Y, E)
    colour, colorbar = _map_colour(log_colour, value, value_title)
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
            f"{value_title} = %{{customdata[2]:.4g}}<br>{share_title} = %{{customdata[3]:.2f}}"
            + (f"<br>click: {text.click}" if text.click else "")
            + "<extra></extra>",
        )
    )
    if diverged is not None:
        _diverged_marks(fig, eta_grid, y_grid, np.asarray(diverged, dtype=bool)[grid].T & done)
    fig.add_trace(_selectable_centres(eta_grid, y_grid))
    return _map_layout(fig, kind, x_edges, y_edges, title, f"white: computed, {empty} · grey: not computed yet")


def _computed_layer(x_edges: np.ndarray, y_edges: np.ndarray, done: np.ndarray) -> go.Heatmap:
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


MAX_SEED_TICKS = 10


def _map_layout(
    fig: go.Figure, kind: str, x_edges: np.ndarray, y_edges: np.ndarray, title: str, note: str
) -> go.Figure:
    log_y = MAP_TEXT[kind].log_y
    y_range = np.log10(y_edges[[0, -1]]) if log_y else y_edges[[0, -1]]
    y_axis = {"title": MAP_TEXT[kind].y_name, "range": y_range.tolist(), "showgrid": False}
    y_axis.update(log_axis(y_edges) if log_y else _seed_ticks(y_edges) if MAP_TEXT[kind].whole_y else {})
    x_range = np.log10(x_edges[[0, -1]]).tolist()  # a log axis's range is in log10 units
    x_axis = log_axis(x_edges, title="learning rate η", range=x_range, showgrid=False)
    fig = _base_layout(fig, title=title, uirevision=f"map-{kind}", xaxis=x_axis, yaxis=y_axis, extra_top=18)
    fig.add_annotation(
        text=note, showarrow=False, x=0, y=1, xref="paper", yref="paper", xanchor="left", yanchor="bottom"
    )
    fig.update_layout(dragmode="select", selectdirection="any", plot_bgcolor=NOT_DONE_COLOR)
    return colorbar_margin(fig)


def _seed_ticks(y_edges: np.ndarray) -> dict:
    """One tick per seed (integers), or every k-th when there are many: Plotly's own ticks on
    a range like -0.5..3.5 fall on halves, which the integer format writes twice ("1, 1, 2, 2")."""
    first, last = math.ceil(y_edges[0]), math.floor(y_edges[-1])
    step = max(1, math.ceil((last - first + 1) / MAX_SEED_TICKS))
    return {"tickmode": "linear", "tick0": first, "dtick": step, "tickformat": "d"}


def _map_colour(log_colour: bool, z: np.ndarray, title: str) -> tuple[np.ndarray, dict]:
    """(Y, E) values -> what the heatmap colours by (the values or their log10) and its colour bar."""
    if not log_colour:
        return z, _colorbar(title)
    with np.errstate(all="ignore"):
        logs = np.where(z > 0, np.log10(z), np.nan)
    return logs, {**_colorbar(f"{title} (log scale)"), **_log_ticks(logs)}


def _colorbar(title: str) -> dict:
    """A slim colour bar with its title along it: narrower than a title on top, which ran
    under the mode bar."""
    return {"thickness": 16, "title": {"text": title, "side": "right"}}


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


def _diverged_marks(fig: go.Figure, eta_grid: np.ndarray, y_grid: np.ndarray, diverged: np.ndarray) -> None:
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


def _selectable_centres(eta_grid: np.ndarray, y_grid: np.ndarray) -> go.Scatter:
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


def orbit_figure(
    etas: npt.ArrayLike, losses: npt.ArrayLike, *, n_classes: int = 3, title: str = "Orbit diagram"
) -> go.Figure:
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
        xaxis=log_axis(etas, title="learning rate η"),
        yaxis=log_axis([*np.ravel(losses), math.log(n_classes)], title="training loss (last steps)"),
        dragmode="select",  # dragging marks a span of eta for "Zoom in"
        selectdirection="h",
    )
