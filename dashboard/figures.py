"""Pure figure builders: arrays in, ``go.Figure`` out. No Dash, no core calls.

Long series are thinned to ~1,000 points and sent as float32 to keep payloads small.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

GREY = "rgba(120, 120, 120, 0.45)"
LOSS_COLOR = "#d62728"
LOSS_LIGHT = "rgba(214, 39, 40, 0.55)"  # the loss over other curves
MAX_POINTS = 1000
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spread samples of n, keeping both ends."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def _f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _with_gaps(x: np.ndarray, curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S,), (S, M) -> one x/y pair with NaN gaps between the M curves (one trace, M lines)."""
    m = curves.shape[1]
    xs = np.tile(np.append(x, np.nan), m)
    ys = np.concatenate([np.append(curves[:, j], np.nan) for j in range(m)])
    return _f32(xs), ys  # float32 holds iterations exactly up to 2^24


# The look of Plotly's "plotly_white" without its template: applying a named template took
# ~25 ms per figure (measured; most of the cost of a live update) and added ~6 KB to each.
_AXIS = {"gridcolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "linecolor": "#ebf0f8", "automargin": True}
STYLE = {
    "template": "none",
    "modebar": {"orientation": "v"},  # at the right edge: over no title, even in a half-width graph
    "font": {"color": "#2a3f5f"},
    "paper_bgcolor": "white",
    "plot_bgcolor": "white",
    "hoverlabel": {"align": "left"},
}


def _styled(fig: go.Figure) -> go.Figure:
    fig.update_layout(STYLE)
    fig.update_xaxes(_AXIS)
    fig.update_yaxes(_AXIS)
    return fig


def _base_layout(fig: go.Figure, *, title: str, uirevision: str, **axes) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        uirevision=uirevision,
        margin={"l": 70, "r": 70, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.18},
        **axes,
    )
    return _styled(fig)


def empty_figure(message: str) -> go.Figure:
    """A blank figure carrying a sentence (before the first run, or when a view has no data)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 15})
    fig.update_layout(STYLE, xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def _copies_name(m: int) -> str:
    return f"each copy d_m(t) ({m})"


def _grey_black(fig, x_curves, curves, x, mean, *, row=None, col=None, show_legend=True):
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
    _grey_black(fig, iterations[keep_copies], distances[keep_copies], x, mean[keep])
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
        yaxis={
            "title": y_title,
            "type": "log",
            "exponentformat": "power",
            "minor": {"showgrid": False},
            "dtick": _log_dtick(mean),
        },
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
        fig.layout.yaxis.dtick = _log_dtick(mean)
    return fig


def _log_dtick(mean: np.ndarray) -> str | None:
    """Minor decades labelled (2, 5) when the curve spans under three decades."""
    return "D2" if _decades(mean) < 3 else None


def _decades(values: np.ndarray) -> float:
    """How many powers of ten the finite positive values span."""
    ok = values[np.isfinite(values) & (values > 0)]
    return float(np.log10(ok.max() / ok.min())) if ok.size else 0.0


def eps_panels_figure(iterations: np.ndarray, eps: np.ndarray, distances: np.ndarray, loss: np.ndarray) -> go.Figure:
    """SPEC Fig. 4: one panel per eps, same initial network; shapes agree up to the scale eps.

    eps (E,), distances (E, S, M), loss (S,).
    """
    keep = thin(len(iterations))
    x = iterations[keep]
    fig = make_subplots(
        rows=1,
        cols=len(eps),
        shared_xaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=[f"ε = {e:.0e}" for e in eps],
        specs=[[{"secondary_y": True}] * len(eps)],
    )
    for j in range(len(eps)):
        d = distances[j][keep]
        _grey_black(fig, x, d, x, d.mean(axis=1), row=1, col=j + 1, show_legend=j == 0)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=_f32(loss[keep]),
                mode="lines",
                line={"color": LOSS_COLOR, "dash": "dash", "width": 1},
                name="training loss",
                showlegend=j == 0,
                hoverinfo="skip",
            ),
            row=1,
            col=j + 1,
            secondary_y=True,
        )
        fig.update_yaxes(type="log", exponentformat="power", row=1, col=j + 1, secondary_y=False)
        fig.update_yaxes(showgrid=False, tickmode="auto", row=1, col=j + 1, secondary_y=True)
    fig.update_xaxes(title_text="iteration t")
    fig = _base_layout(fig, title="Same network, four perturbation sizes", uirevision="eps-panels")
    # the legend below the axis titles, not over them
    return fig.update_layout(legend={"orientation": "h", "y": -0.32, "yanchor": "top"}, margin={"b": 95})


def collapse_figure(iterations: np.ndarray, eps: np.ndarray, normalized: np.ndarray) -> go.Figure:
    """SPEC Fig. 6: <d>/(eps N_w) for each eps, coloured by log10 eps. (E,), (E, S)."""
    keep = thin(len(iterations))
    logs = np.log10(eps)
    lo, hi = logs.min(), logs.max()
    fig = go.Figure()
    for j, e in enumerate(eps):
        share = 0.0 if hi == lo else (logs[j] - lo) / (hi - lo)
        color = _viridis(share)
        fig.add_trace(
            go.Scatter(
                x=iterations[keep],
                y=_f32(normalized[j][keep]),
                mode="lines",
                line={"color": color, "width": 1.5},
                name=f"ε {e:.0e}",
                hovertemplate=f"ε = {e:.0e}<br>t = %{{x}}<br>%{{y:.4g}}<extra></extra>",
            )
        )
    fig.add_trace(  # a hidden marker trace carries the colour bar of log10 eps
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            showlegend=False,
            hoverinfo="skip",
            marker={
                "colorscale": "Viridis",
                "cmin": lo,
                "cmax": hi,
                "color": [lo],
                "colorbar": {"title": "log10 ε"},
                "showscale": True,
            },
        )
    )
    return _base_layout(
        fig,
        title=collapse_title(normalized),
        uirevision="collapse",
        xaxis={"title": "iteration t"},
        yaxis={"title": "<d>/(ε N_w)", "type": "log"},
        showlegend=False,
    )


COLLAPSE_DECADES = 0.5  # curves within a factor ~3 of each other at the end count as one


def collapse_title(normalized: np.ndarray) -> str:
    """What the curves (E, S) show: one curve (linear response), or how far they spread at the
    end, in decades (they do not collapse once nearby networks separate non-linearly)."""
    final = normalized[:, -1]
    final = final[np.isfinite(final) & (final > 0)]
    if final.size < 2:
        return "Normalised distance <d>/(ε N_w) for each ε"
    spread = float(np.log10(final.max() / final.min()))
    if spread <= COLLAPSE_DECADES:
        return "Normalised distance <d>/(ε N_w): one curve for every ε (linear response)"
    return f"Normalised distance <d>/(ε N_w): no collapse, the ε curves end {spread:.1f} decades apart"


def _viridis(share: float) -> str:
    from plotly.colors import sample_colorscale

    return sample_colorscale("Viridis", [min(max(share, 0.0), 1.0)])[0]


def fit_figure(iterations: np.ndarray, mean: np.ndarray, fit: dict) -> go.Figure:
    """ln<d(t)> with the best-R^2 FTLE window and its line (SPEC section 3)."""
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
    """SPEC Fig. 12: lambda vs eps (mean +- std over initial conditions), fraction kept on the right."""
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
        xaxis={"title": "perturbation ε", "type": "log", "exponentformat": "power"},
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


def orbital_figure(iterations: np.ndarray, normalized: np.ndarray, loss: np.ndarray, t0: int) -> go.Figure:
    """SPEC Fig. 8: <d>/(eps N_w) after perturbing at t0; loss on the right."""
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
        xaxis={"title": "iteration t"},
        yaxis={"title": "<d>/(ε N_w)", "rangemode": "tozero"},
        yaxis2={"title": "loss", "overlaying": "y", "side": "right", "showgrid": False, "tickmode": "auto"},
    )


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


def data_figure(
    x: np.ndarray,
    y: np.ndarray,
    predicted: np.ndarray,
    is_train: np.ndarray,
    feature_names: list[str],
    class_names: list[str],
    fx: int,
    fy: int,
) -> go.Figure:
    """SPEC Fig. 2: two features, colour = class, a cross on every misclassified row."""
    fig = go.Figure()
    for c, name in enumerate(class_names):
        for train, symbol in ((True, "circle"), (False, "diamond")):
            rows = (y == c) & (is_train == train)
            fig.add_trace(
                go.Scatter(
                    x=x[rows, fx],
                    y=x[rows, fy],
                    mode="markers",
                    name=f"{name} ({'train' if train else 'test'})",
                    marker={
                        "color": CLASS_COLORS[c % len(CLASS_COLORS)],
                        "symbol": symbol,
                        "size": 8,
                        "line": {"width": 0.5, "color": "white"},
                    },
                    hovertemplate=f"{name}<br>%{{x}}, %{{y}}<extra></extra>",
                )
            )
    wrong = predicted != y
    fig.add_trace(
        go.Scatter(
            x=x[wrong, fx],
            y=x[wrong, fy],
            mode="markers",
            name=f"misclassified ({wrong.sum()})",
            marker={"symbol": "x-thin", "size": 14, "line": {"width": 2, "color": "black"}},
            hovertemplate="misclassified<extra></extra>",
        )
    )
    return _base_layout(
        fig,
        title="The data and the trained network's mistakes",
        uirevision="data",
        xaxis={"title": feature_names[fx]},
        yaxis={"title": feature_names[fy]},
    )
