"""The figures the dashboard does not draw: many networks in one panel (the weight norm of
Fig. 9, the loss dots of Figs. 13 and 18), the histogram of Fig. 10, and this project's
spectra beside the FTLE, spectrum read-outs against eta and the optimizers side by side."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.base import _base_layout, log_axis, thin
from dashboard.figures.dynamics import spread
from dashboard.figures.maps import linear_edges, log_edges
from dashboard.figures.spectrum import TANGENT_COLOR

MAX_DOTS = 2000  # per series
FTLE_COLOR = "#d62728"  # the FTLE's red, as in the Lyapunov view
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac")


def short_eps(eps: float) -> str:
    """A radius as the figures write it: 1e-8, not 1e-08."""
    mantissa, exponent = f"{eps:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


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


def spectra_beside_ftle(
    labels: list[str], spectra: np.ndarray, ftle: np.ndarray, kept: np.ndarray, *, title: str
) -> go.Figure:
    """Per network (a colour), its exponents (N, k) largest first against their index; their
    partial sums S_j = λ_1 + ... + λ_j, which rise while the exponents are positive and cross
    zero at the Kaplan-Yorke dimension; and its leading exponent (column 0) beside its FTLE
    (N,), hollow where the FTLE's fit is not kept (``kept``: (N,) bool)."""
    spectra = np.asarray(spectra, dtype=np.float64)
    fig = make_subplots(
        rows=1, cols=3, column_widths=[0.36, 0.36, 0.28], horizontal_spacing=0.08,
        subplot_titles=("exponents λ_i, largest first", "partial sums S_j (zero: Kaplan-Yorke)", "λ₁ beside the FTLE"),
    )  # fmt: skip
    index = np.arange(1, spectra.shape[1] + 1)
    for i, (label, row) in enumerate(zip(labels, spectra, strict=True)):
        line = {"color": PALETTE[i % len(PALETTE)], "width": 1.5}
        fig.add_trace(go.Scatter(x=index, y=row, mode="lines", line=line, name=f"{label}: λ_i"), row=1, col=1)
        partial = go.Scatter(x=index, y=np.cumsum(row), mode="lines", line=line, name=f"{label}: S_j", showlegend=False)
        fig.add_trace(partial, row=1, col=2)
    fig.add_trace(
        go.Scatter(x=labels, y=spectra[:, 0], mode="markers", name="λ₁ (tangent)",
                   marker={"color": TANGENT_COLOR, "size": 11, "symbol": "diamond"}),
        row=1, col=3,
    )  # fmt: skip
    fills = np.where(np.asarray(kept, dtype=bool), FTLE_COLOR, "white").tolist()
    fig.add_trace(
        go.Scatter(x=labels, y=ftle, mode="markers", name="FTLE (hollow: fit not kept)",
                   marker={"color": fills, "size": 11, "line": {"color": FTLE_COLOR, "width": 2}}),
        row=1, col=3,
    )  # fmt: skip
    for c in (1, 2, 3):
        fig.add_hline(0.0, row=1, col=c, line={"color": "#444", "width": 1})
    for c in (1, 2):
        fig.update_xaxes(title_text="index i or j", row=1, col=c)
    fig.update_yaxes(title_text="per iteration", row=1, col=1)
    return _base_layout(fig, title=title, uirevision=title, extra_top=24)


def against_eta(
    etas: np.ndarray, panels: dict[str, np.ndarray], *, title: str, zero: tuple[str, ...] = ()
) -> go.Figure:
    """One panel per read-out, each (E, G) over ``etas`` (E,) and G networks, two panels a row:
    every network a grey dot, the mean over the finite ones a black line; a zero line in the
    panels named in ``zero``."""
    rows = (len(panels) + 1) // 2
    fig = make_subplots(rows=rows, cols=2, subplot_titles=tuple(panels), vertical_spacing=0.16,
                        horizontal_spacing=0.1)  # fmt: skip
    for i, (name, values) in enumerate(panels.items()):
        values = np.asarray(values, dtype=np.float64).reshape(etas.size, -1)
        place = {"row": i // 2 + 1, "col": i % 2 + 1}
        x = np.repeat(etas, values.shape[1])
        dots = {"color": "#999", "size": 6}
        fig.add_trace(go.Scatter(x=x, y=values.ravel(), mode="markers", marker=dots, name=f"{name}: each network",
                                 showlegend=False), **place)  # fmt: skip
        with np.errstate(all="ignore"):
            mean = np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=1) if values.size else values
        fig.add_trace(go.Scatter(x=etas, y=mean, mode="lines+markers", line={"color": "black"}, name=f"{name}: mean",
                                 showlegend=False), **place)  # fmt: skip
        if name in zero:
            fig.add_hline(0.0, line={"color": "#444", "width": 1, "dash": "dot"}, **place)
        fig.update_xaxes(title_text="learning rate η", **log_axis(etas), **place)
    fig.update_layout(height=360 * rows)
    return _base_layout(fig, title=title, uirevision=title, extra_top=24)


def optimizers_figure(etas: np.ndarray, rows: dict[str, dict[str, np.ndarray]], *, title: str) -> go.Figure:
    """Per optimizer (a colour) over ``etas`` (E,): the mean FTLE of the kept fits with its
    bootstrap interval (``ftle``, ``low``, ``high``), the share of networks whose fit is kept
    (``kept``) and the median final training loss (``loss``), one panel each."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=(
        "FTLE, mean of the kept fits (bars: bootstrap interval)", "share of networks with a kept FTLE",
        "final training loss, median",
    ))  # fmt: skip
    for i, (name, r) in enumerate(rows.items()):
        colour = PALETTE[i % len(PALETTE)]
        style = {"mode": "lines+markers", "line": {"color": colour}, "legendgroup": name}
        error = {"type": "data", "symmetric": False, "array": r["high"] - r["ftle"], "arrayminus": r["ftle"] - r["low"]}
        fig.add_trace(go.Scatter(x=etas, y=r["ftle"], error_y=error, name=name, **style), row=1, col=1)
        fig.add_trace(go.Scatter(x=etas, y=r["kept"], name=f"{name}: kept", showlegend=False, **style), row=2, col=1)
        fig.add_trace(go.Scatter(x=etas, y=r["loss"], name=f"{name}: loss", showlegend=False, **style), row=3, col=1)
    fig.update_xaxes(**log_axis(etas))
    fig.update_xaxes(title_text="learning rate η", row=3, col=1)
    fig.update_yaxes(title_text="per iteration", row=1, col=1)
    fig.update_yaxes(range=[-0.05, 1.05], row=2, col=1)
    losses = np.concatenate([r["loss"] for r in rows.values()])
    fig.update_yaxes(**log_axis(losses), row=3, col=1)
    fig.update_layout(height=900)
    return _base_layout(fig, title=title, uirevision=title, extra_top=24)


def setting_heatmap(
    etas: np.ndarray,
    ys: np.ndarray,
    value: np.ndarray,
    share: np.ndarray,
    diverged: np.ndarray,
    *,
    y_title: str,
    value_title: str,
    title: str,
) -> go.Figure:
    """A map over etas (E,) (log) x ys (Y,) (whole numbers, linear): ``value`` (E, Y) as colour,
    white where it is NaN; each cell's ``share`` (E, Y) written in it, with "÷" where a
    trajectory diverged (``diverged``)."""
    value, share = np.asarray(value, dtype=np.float64).T, np.asarray(share, dtype=np.float64).T  # (Y, E)
    marks = np.where(np.asarray(diverged, dtype=bool).T, " ÷", "")
    text = np.char.add(np.where(np.isfinite(share), np.char.mod("%.2f", np.nan_to_num(share)), ""), marks)
    fig = go.Figure(
        go.Heatmap(x=log_edges(etas), y=linear_edges(ys), z=value, text=text, texttemplate="%{text}",
                   colorscale="Viridis", colorbar={"title": {"text": value_title, "side": "right"}}, name=value_title,
                   customdata=np.broadcast_to(etas, value.shape),
                   hovertemplate="η = %{customdata:.4g}<br>%{y}<br>%{z:.4g}<extra></extra>")
    )  # fmt: skip
    fig.update_xaxes(title_text="learning rate η", **log_axis(etas))
    fig.update_yaxes(title_text=y_title, tickvals=list(ys), range=[ys[0] - 0.5, ys[-1] + 0.5])
    fig.update_layout(height=560, plot_bgcolor="white")
    return _base_layout(fig, title=title, uirevision=title, extra_top=24)
