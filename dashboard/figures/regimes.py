"""The 1-D regime strip (docs/method.md §6): five panels over one shared log axis of the learning
rate eta, with background bands coloured by each eta's regime and a legend of one sentence per
regime. Pure: arrays in, ``go.Figure`` out.

Edge of stability (Cohen et al. 2021, arXiv:2103.00065): gradient descent drives the
sharpness (largest Hessian eigenvalue of the loss) up to about 2/eta, where a quadratic
model of the loss stops being stable; the strip shows sharpness / (2/eta) against a line at 1.

Regime colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.analysis.labels import REGIME_TEXT, REGIMES
from dashboard.figures.base import LEGEND, _base_layout, log_axis, wrap
from dashboard.figures.maps import log_edges

REGIME_COLORS = {
    "stable": "#0072B2",
    "slow": "#009E73",  # bluish green: apart from stable's blue in a light band
    "edge": "#E69F00",
    "chaotic": "#D55E00",
    "diverged": "#000000",
}
BAND_OPACITY = 0.16  # the bands tint the panels; the data stay readable over every colour
ACCURACY_COLORS = {"train_accuracy": "#009E73", "test_accuracy": "#56B4E9"}
STRIP_HEIGHT = 1050  # px; the Regimes view's graph takes each figure's own height
LINE_LEGEND_PX = 44  # the legend of the lines under the title: two rows in a graph ~720 px wide
PANEL_TITLE_PX = 24  # the first panel's title
REGIME_CHARS = 95  # a regime's sentence per line: ~6.5 px a character at 12 px, in ~720 px
STRIP_PANELS = (
    "FTLE (per step), mean ± 95% CI",
    "final loss and accuracy",
    "iterations to the target test accuracy",
    "fraction of loss-increasing steps",
    "sharpness / (2/η)",
)


def regime_legend_items(regime_text: dict[str, str] = REGIME_TEXT) -> list[tuple[str, str, str]]:
    """(label, colour, sentence) per regime, in the order of REGIMES: the legend as data, so a
    page can also write it as HTML."""
    return [(label, REGIME_COLORS[label], regime_text[label]) for label in REGIMES]


# ---- the 1-D regime strip ----------------------------------------------------------------


def regime_strip_figure(
    etas: npt.ArrayLike,
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
    text = wrap(title)
    fig = go.Figure(_strip_frame(tuple(_panel_titles(target_accuracy)), text.count("<br>") + 1 if text else 0))
    fig.layout.title.text = text  # the frame's is a stand-in of as many lines
    _ftle_panel(fig, x, col)
    _loss_panel(fig, x, col)
    _steps_panel(fig, x, col)
    _scatter(fig, x, col["loss_increase_fraction"], "loss-increasing steps", "#CC79A7", 4, "%{y:.0%}", showlegend=False)
    _scatter(fig, x, col["sharpness_over_2_eta"], "sharpness / (2/η)", "#000000", 5, "%{y:.3g}", showlegend=False)
    edges = log_edges(x) if x.size else x
    _regime_bands(fig, edges, labels)
    _regime_legend(fig, regime_text)
    _strip_log_axes(fig, edges, col)
    return fig


@functools.lru_cache(maxsize=8)
def _strip_frame(panel_titles: tuple[str, ...], title_lines: int) -> go.Figure:
    """The strip without its data: panels, axis titles, the line at 2/eta, layout, under a
    stand-in title of ``title_lines`` lines (the margins and legends follow the count). Made
    once (~0.1 s of Plotly's updates: most of a figure that a live map draws at every
    update; a job forked from the fork server finds it made by its warm-up), then copied;
    never changed."""
    fig = make_subplots(
        rows=5,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.07,  # each panel's eta tick labels, then the next panel's title
        row_heights=[0.24, 0.22, 0.18, 0.16, 0.2],
        subplot_titles=panel_titles,
        specs=[[{"secondary_y": True}], [{"secondary_y": True}], [{}], [{}], [{}]],
    )
    _two_over_eta_line(fig)
    fig.update_xaxes(showticklabels=True)  # the eta axis labelled on every panel: a projector shows one or two
    fig.update_xaxes(title_text="learning rate η", row=5, col=1)
    fig.update_yaxes(title_text="FTLE", row=1, col=1, secondary_y=False)
    fig.update_yaxes(title_text="kept", range=[0, 1.05], row=1, col=1, secondary_y=True)
    fig.update_yaxes(title_text="loss", row=2, col=1, secondary_y=False)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.05], row=2, col=1, secondary_y=True)
    fig.update_yaxes(title_text="iterations", rangemode="tozero", row=3, col=1)
    fig.update_yaxes(title_text="share", range=[0, 1.05], tickformat=".0%", row=4, col=1)
    fig.update_yaxes(title_text="ratio", row=5, col=1)
    return _strip_layout(fig, "<br>".join(["title"] * title_lines))


def _strip_log_axes(fig: go.Figure, edges: np.ndarray, col: dict[str, np.ndarray]) -> None:
    """The axes that follow the data: eta on every panel, decades only; loss and the
    sharpness ratio likewise."""
    x_range = np.log10(edges[[0, -1]]).tolist() if edges.size else None
    fig.update_xaxes(log_axis(edges, range=x_range))
    fig.update_yaxes(log_axis(col["final_loss"]), row=2, col=1, secondary_y=False)
    ratios = [*col["sharpness_over_2_eta"], 1.0]  # the dashed line at 1 is on the axis too
    fig.update_yaxes(log_axis(ratios), row=5, col=1)


def _strip_layout(fig: go.Figure, title: str) -> go.Figure:
    """The strip's title, the legend of its lines under the title, the panels, and the regime
    legend at the foot of the figure (the bands' colours, written once)."""
    fig = _base_layout(fig, title=title, uirevision="regime-strip")
    fig.update_yaxes(showgrid=False, tickmode="auto", secondary_y=True)  # secondaries: the left grid only
    title_px = fig.layout.margin.t
    fig.update_layout(
        height=STRIP_HEIGHT,
        plot_bgcolor="rgba(0,0,0,0)",  # the bands lie below the plot area: keep it see-through
        margin={"t": title_px + LINE_LEGEND_PX + PANEL_TITLE_PX, "b": 40},
        legend={**LEGEND, "y": 1 - (title_px - 6) / STRIP_HEIGHT, "yanchor": "top"},
        legend2={**LEGEND, "orientation": "v", "title": {"text": "background: regime"}},
        dragmode="select",  # dragging marks a span of eta for "Zoom in"
        selectdirection="h",
    )
    return fig


def _panel_titles(target_accuracy: float | None) -> list[str]:
    titles = list(STRIP_PANELS)
    if target_accuracy is not None:
        titles[2] = f"iterations to {target_accuracy:.0%} test accuracy (marker size: share reaching it)"
    return titles


def _scatter(
    fig: go.Figure,
    x: np.ndarray,
    y: np.ndarray,
    name: str,
    color: str,
    row: int,
    y_format: str,
    *,
    secondary_y: bool = False,
    dash: str | None = None,
    **extra: Any,
) -> None:
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


def _ftle_panel(fig: go.Figure, x: np.ndarray, col: dict[str, np.ndarray]) -> None:
    mean = col["ftle_mean"]
    error = {
        "type": "data",
        "array": col["ftle_ci_high"] - mean,
        "arrayminus": mean - col["ftle_ci_low"],
        "visible": True,
        "thickness": 1.2,
        "width": 4,
    }
    _scatter(fig, x, mean, "FTLE mean (95% CI)", "#000000", 1, "%{y:.4f}", error_y=error, showlegend=True)
    kept = col["ftle_kept_fraction"]
    _scatter(fig, x, kept, "FTLE fits kept", "#0072B2", 1, "%{y:.0%}", secondary_y=True, dash="dot", showlegend=True)


def _loss_panel(fig: go.Figure, x: np.ndarray, col: dict[str, np.ndarray]) -> None:
    _scatter(fig, x, col["final_loss"], "final loss", "#D55E00", 2, "%{y:.4g}", showlegend=True)
    for key, color in ACCURACY_COLORS.items():
        name = key.replace("_", " ")
        _scatter(fig, x, col[key], name, color, 2, "%{y:.1%}", secondary_y=True, dash="dash", showlegend=True)


def _steps_panel(fig: go.Figure, x: np.ndarray, col: dict[str, np.ndarray]) -> None:
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


def _two_over_eta_line(fig: go.Figure) -> None:
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


def _ref(axis: Any) -> str:
    """layout.xaxis5 -> "x5", the name a trace or shape refers to it by."""
    return axis.plotly_name.replace("axis", "")


def _regime_bands(fig: go.Figure, edges: np.ndarray, labels: list[str | None]) -> None:
    """One vrect per run of equal labels over every panel (yref paper), under the data. Set
    at once: each ``add_shape`` validated every shape before it again (a strip whose labels
    alternate, 25 bands, took 0.39 s of its 0.7 s)."""
    bands, start = [], 0
    for i in range(1, len(labels) + 1):
        if i < len(labels) and labels[i] == labels[start]:
            continue
        label = labels[start]
        if label is not None:
            bands.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": float(edges[start]),
                    "x1": float(edges[i]),
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": REGIME_COLORS.get(label, "#999999"),
                    "opacity": BAND_OPACITY,
                    "line": {"width": 0},
                    "layer": "below",
                    "name": label,
                }
            )
        start = i
    fig.update_layout(shapes=[*fig.layout.shapes, *bands])


def _regime_legend(fig: go.Figure, regime_text: dict[str, str]) -> None:
    """Legend entries only (no points): a coloured square and one sentence per regime."""
    for label, color, sentence in regime_legend_items(regime_text):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=wrap(sentence, REGIME_CHARS),
                legend="legend2",
                legendgroup=label,
                marker={"symbol": "square", "size": 14, "color": color, "opacity": max(BAND_OPACITY * 3, 0.4)},
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
