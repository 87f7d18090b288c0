"""Figures of the tangent-space Lyapunov spectrum (docs/method.md §10): the exponents against
their index with the zero line, beside the running estimates of the leading ones; and the
leading exponent as a line of its slope on a run's distance (log) or ln<d> axis.

A record in, figures out (what the Chaos, Divergence and Lyapunov views draw):
:func:`spectrum_view` of a spectrum record; :func:`add_rate_line` puts a rate on an existing
figure.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.base import CLASS_COLORS, _base_layout, _f32, empty_figure

if TYPE_CHECKING:  # the records are read by attribute: figures import no jobs
    from dashboard.jobs.records import RunRecord, SpectrumRecord

TANGENT_COLOR = "#2ca02c"  # the tangent exponent beside the FTLE's red and the distances' black
RUNNING_SHOWN = 3  # running estimates drawn: the leading exponents


def rate_segment(t0: float, y0: float, rate: float, t_end: float, lo: float, hi: float) -> tuple[list, list]:
    """The two ends of ln y = ln y0 + rate (t - t0) from t0 until t_end or until y leaves
    [lo, hi] (y0 > 0 inside it): ([t0, t1], [y0, y1]). A straight line on a log axis; on an
    axis of ln y, take logs of the y values."""
    if not (y0 > 0 and lo > 0 and hi >= lo and math.isfinite(rate)):
        raise ValueError(f"need y0, lo > 0, hi >= lo and a finite rate, got {y0!r}, {lo!r}, {hi!r}, {rate!r}")
    t1 = float(t_end)
    if rate > 0:
        t1 = min(t1, t0 + math.log(hi / y0) / rate)
    elif rate < 0:
        t1 = min(t1, t0 + math.log(lo / y0) / rate)
    t1 = max(t1, t0)
    return [float(t0), t1], [float(y0), float(y0 * math.exp(rate * (t1 - t0)))]


def add_rate_line(
    fig: go.Figure, x: list, y: list, rate: float, name: str, *, row: int | None = None, col: int | None = None
) -> go.Figure:
    """A dashed green segment (from :func:`rate_segment`) named ``name``, its rate in the hover."""
    place = {} if row is None else {"row": row, "col": col}
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="lines",
            line={"color": TANGENT_COLOR, "width": 2.5, "dash": "dashdot"},
            name=name,
            hovertemplate=f"slope λ₁ = {rate:.4g} per iteration<extra></extra>",
        ),
        **place,
    )
    return fig


def spectrum_figure(
    exponents: np.ndarray,
    running_steps: np.ndarray,
    running: np.ndarray,
    *,
    title: str,
) -> go.Figure:
    """Left: the exponents (k,) (largest first) against their index 1..k, positive ones
    filled, with the zero line. Right: the running estimates (S, k) of the first
    ``RUNNING_SHOWN`` QR columns against the iteration ``running_steps`` (S,), zero line too."""
    exponents = np.asarray(exponents, dtype=np.float64)
    running = np.asarray(running, dtype=np.float64).reshape(len(running_steps), -1)
    if exponents.ndim != 1 or running.shape[1] != exponents.size:
        raise ValueError(f"running must be (S, k) with k = {exponents.size} exponents, got {running.shape}")
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.12,
        subplot_titles=("exponents, largest first", "running estimates"),
    )  # fmt: skip
    index = np.arange(1, exponents.size + 1)
    positive = exponents > 0
    fig.add_trace(
        go.Scatter(
            x=index,
            y=exponents,
            mode="lines+markers",
            line={"color": "black", "width": 1},
            marker={"color": np.where(positive, "#e45756", "white").tolist(), "line": {"color": "black", "width": 1}},
            name="λ_i",
            hovertemplate="λ_%{x} = %{y:.4g} per iteration<extra></extra>",
        ),
        row=1,
        col=1,
    )
    for j in range(min(RUNNING_SHOWN, exponents.size)):
        fig.add_trace(
            go.Scatter(
                x=_f32(running_steps),
                y=running[:, j],
                mode="lines",
                line={"color": CLASS_COLORS[j % len(CLASS_COLORS)], "width": 1.5},
                name=f"estimate of λ{j + 1}",
                hovertemplate=f"t = %{{x}}<br>λ{j + 1} so far: %{{y:.4g}}<extra></extra>",
            ),
            row=1,
            col=2,
        )
    for c in (1, 2):
        fig.add_hline(0.0, row=1, col=c, line={"color": "#444", "width": 1})
    fig.update_xaxes(title_text="index i", row=1, col=1)
    fig.update_yaxes(title_text="λ_i (per iteration)", row=1, col=1)
    fig.update_xaxes(title_text="iteration t", row=1, col=2)
    return _base_layout(fig, title=title, uirevision="spectrum", extra_top=24)


def spectrum_title(record: SpectrumRecord) -> str:
    """What the figure shows, every number the record's."""
    c = record.config
    head = f"Lyapunov spectrum at η = {c.learning_rate:g}, seed {c.seed}, {record.n_steps:,} iterations"
    of = f"{record.k} of {record.dim} exponents" if record.k < record.dim else f"all {record.dim} exponents"
    return f"{head}: {of}, {record.n_positive} positive, λ₁ = {record.exponents[0]:.4g}"


def spectrum_view(record: SpectrumRecord) -> go.Figure:
    """The spectrum of a spectrum record, and the running estimates of its leading exponents."""
    if record.n_steps == 0:
        return empty_figure("No spectrum: the network was not finite at the first step, or the job stopped before it.")
    figure = spectrum_figure(record.exponents, record.running_steps, record.running, title=spectrum_title(record))
    c = record.config
    return figure.update_layout(meta={"spectrum": {"eta": c.learning_rate, "seed": c.seed, "k": record.k}})


# ---- the leading exponent beside a run's distances -------------------------------------------
def leading_name(rate: float) -> str:
    return f"slope of the leading tangent exponent λ₁ = {rate:.4f}"


def leading_anchor(record: RunRecord) -> int:
    """Where the line of slope lambda_1 starts: at the FTLE window's start, so that the two
    rates are read over the same iterations; at t = 0 where no window fits."""
    return int(record.ftle.start) if record.ftle.found else 0


def add_leading_to_distance(fig: go.Figure, record: RunRecord, normalized: bool) -> go.Figure:
    """The run's leading tangent exponent as a straight line of its slope on the distance
    figure's log axis, from <d> at :func:`leading_anchor` until the run's end or the range
    of the distances drawn. Unchanged where the record has no exponent (a stopped run)."""
    rate = record.leading_exponent
    d = record.distance / (record.config.eps * record.n_weights) if normalized else record.distance
    mean = d.mean(axis=1)
    a = leading_anchor(record)
    drawn = d[np.isfinite(d) & (d > 0)]
    if not (math.isfinite(rate) and drawn.size and a < mean.size and mean[a] > 0 and math.isfinite(mean[a])):
        return fig
    x, y = rate_segment(a, float(mean[a]), rate, mean.size - 1, float(drawn.min()), float(drawn.max()))
    return add_rate_line(fig, x, y, rate, leading_name(rate))


def add_leading_to_fit(fig: go.Figure, record: RunRecord) -> go.Figure:
    """The same line on the FTLE fit's ln<d(t)> axis: from the fitted line's start over the
    window's length (from ln<d(0)> over the run where no window fits), within the range of
    ln<d> drawn."""
    rate, fit, mean = record.leading_exponent, record.ftle, record.mean_distance
    drawn = mean[np.isfinite(mean) & (mean > 0)]
    if not (math.isfinite(rate) and drawn.size):
        return fig
    if fit.found:
        a, end, log_y0 = int(fit.start), int(fit.start + fit.length - 1), fit.intercept + fit.slope * fit.start
    elif mean[0] > 0:
        a, end, log_y0 = 0, mean.size - 1, math.log(mean[0])
    else:
        return fig
    lo, hi = math.log(drawn.min()), math.log(drawn.max())
    # in ln units: the same segment, shifted so that its start is 1 (exp of differences only)
    x, y = rate_segment(a, 1.0, rate, end, math.exp(min(lo - log_y0, 0.0)), math.exp(max(hi - log_y0, 0.0)))
    return add_rate_line(fig, x, [log_y0 + math.log(v) for v in y], rate, leading_name(rate))


def add_leading_to_ftle(fig: go.Figure, rate: float, seed: int, n_steps: int) -> go.Figure:
    """The leading tangent exponent of a sweep's network 0 (``seed``, over ``n_steps``) as a
    horizontal dash-dot line on the FTLE-against-eps figure (nothing when it is not finite)."""
    if not math.isfinite(rate):
        return fig
    fig.add_hline(
        rate,
        line={"color": TANGENT_COLOR, "width": 2, "dash": "dashdot"},
        annotation_text=f"λ₁ of seed {seed} = {rate:.4f} ({n_steps:,} iterations)",
        annotation_position="bottom right",
    )
    return fig
