"""Figures of the finite-time Lyapunov exponent (FTLE, docs/method.md §3): the best-R^2 window
fit of ln<d(t)> for one run, and over many initial networks the FTLE against eps (Fig. 12)
with its histogram at one eps.

A record in, figures out (what the Lyapunov view and ``paper/`` draw): :func:`fit_view` of a
run, :func:`ftle_views` of an FTLE sweep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from core.config import FTLEConfig
from dashboard.figures.base import _base_layout, _f32, empty_figure, log_axis, thin

if TYPE_CHECKING:  # the records are read by attribute: figures import no jobs
    from dashboard.jobs.records import FTLERecord, RunRecord

FTLE = FTLEConfig()  # the estimator's settings, as the core applies them


def fit_figure(iterations: np.ndarray, mean: np.ndarray, fit: dict) -> go.Figure:
    """ln<d(t)> with the best-R^2 FTLE window and its line (docs/method.md §3)."""
    keep = thin(len(iterations))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=iterations[keep],
            y=_f32(np.log(mean[keep])),
            mode="lines",
            line={"color": "black"},
            name="ln <d(t)>",
            hovertemplate="t = %{x}<br>ln<d> = %{y:.4g}<extra></extra>",
        )
    )
    title = "No window fits this run (too short, or non-finite distances)"
    if fit.get("slope") is not None and np.isfinite(fit["slope"]):
        a, w = int(fit["start"]), int(fit["length"])
        t = np.arange(a, a + w)
        fig.add_trace(
            go.Scatter(
                x=t,
                y=fit["intercept"] + fit["slope"] * t,
                mode="lines",
                line={"color": "#e45756", "width": 4},
                opacity=0.8,
                name=f"fit on [{a}, {a + w}): slope {fit['slope']:.4f}, R² {fit['r2']:.3f}",
            )
        )
        fig.add_vrect(x0=a, x1=a + w - 1, fillcolor="#e45756", opacity=0.08, line_width=0)
        verdict = "kept" if fit["kept"] else "rejected (needs R² > 0.9 and slope > 0.05)"
        title = f"FTLE = {fit['slope']:.4f} per iteration, R² = {fit['r2']:.3f}: {verdict}"
    return _base_layout(
        fig, title=title, uirevision="fit", xaxis={"title": "iteration t"}, yaxis={"title": "ln <d(t)>"}
    )


def ftle_eps_figure(eps: np.ndarray, mean: np.ndarray, std: np.ndarray, kept: np.ndarray, total: int) -> go.Figure:
    """The paper's Fig. 12: lambda vs eps (mean +- std over initial conditions), fraction kept on the right."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=eps,
            y=mean,
            mode="markers+lines",
            error_y={"type": "data", "array": std, "visible": True},
            name="FTLE mean ± std",
            line={"color": "black"},
            hovertemplate="ε = %{x:.0e}<br>λ = %{y:.4f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=eps,
            y=np.asarray(kept) / max(total, 1),
            yaxis="y2",
            name="fraction kept",
            mode="lines+markers",
            line={"color": "#4c78a8", "dash": "dot"},
            marker={"symbol": "square"},
            hovertemplate="ε = %{x:.0e}<br>kept %{y:.0%}<extra></extra>",
        )
    )
    return _base_layout(
        fig,
        title=f"Lyapunov exponent λ vs ε ({total} initial networks)",
        uirevision="ftle-eps",
        xaxis=log_axis(eps, title="perturbation ε"),
        yaxis={"title": "FTLE per iteration"},
        yaxis2={
            "title": "fraction kept",
            "overlaying": "y",
            "side": "right",
            "range": [0, 1.05],
            "showgrid": False,
            "tickmode": "auto",
        },
    )


def ftle_histogram(slopes: np.ndarray, eps: float) -> go.Figure:
    """Histogram of the kept FTLEs at one eps."""
    fig = go.Figure(go.Histogram(x=slopes, nbinsx=30, marker={"color": "#4c78a8"}, name="FTLE"))
    mean = float(np.mean(slopes)) if len(slopes) else float("nan")
    return _base_layout(
        fig,
        title=f"FTLE at ε = {eps:.0e}: {len(slopes)} kept, mean {mean:.3f}",
        uirevision="ftle-hist",
        xaxis={"title": "FTLE per iteration"},
        yaxis={"title": "initial networks"},
    )


# ---- a record in ----------------------------------------------------------------------------
def fit_view(record: RunRecord) -> go.Figure:
    """The run's FTLE window fit (the paper's Fig. 11, right)."""
    return fit_figure(record.iterations, record.mean_distance, vars(record.ftle))


NOTHING_KEPT = (
    "No initial network shows an exponential phase at any ε (no fit has R² > {r2:g} and slope > "
    "{slope:g}): at this learning rate nearby networks do not separate exponentially."
)


def ftle_views(record: FTLERecord, exponent: float) -> tuple[go.Figure, go.Figure]:
    """lambda vs eps, and the histogram of the kept FTLEs at the eps nearest 10**exponent (the
    paper's Fig. 12); a sentence instead where no fit is kept."""
    if not record.n_kept.any():
        empty = empty_figure(NOTHING_KEPT.format(r2=FTLE.min_r2, slope=FTLE.min_slope))
        return empty, empty
    j = int(np.argmin(np.abs(np.log10(record.eps) - exponent)))
    slopes = record.slopes[:, j][record.kept[:, j]]
    return (
        ftle_eps_figure(record.eps, record.mean, record.std, record.n_kept, record.total),
        ftle_histogram(slopes, record.eps[j]),
    )
