"""Lyapunov: the FTLE window fit of the current run, and the FTLE over many initial networks
against eps (docs/method.md §3; the paper's Fig. 12)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from dash import Dash, Input, Output, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard import figures
from dashboard.jobs import compute
from dashboard.jobs.flow import SideJob, keyed_record, register_csv_export, with_record_key
from dashboard.jobs.records import FTLERecord, RunRecord
from dashboard.jobs.runner import Jobs
from dashboard.page import ids
from dashboard.page.components import explain, graph, job_bar, text_input
from dashboard.state.rules import FTLE_HIST_EXPONENT
from dashboard.views import View

VIEW = View("lyapunov", "Lyapunov")
FTLE = figures.lyapunov.FTLE  # the estimator's settings, as the core applies them
GRAPHS = (ids.FIT_GRAPH, ids.FTLE_EPS_GRAPH, ids.FTLE_HIST_GRAPH)
SIDE_JOBS = (
    SideJob(
        "ftle",
        ids.FTLE_RUN,
        ids.FTLE_CANCEL,
        ids.FTLE_PROGRESS,
        ids.FTLE_MESSAGE,
        ids.FTLE_PENDING,
        (Output(ids.FTLE_STORE, "data"),),
        lambda record, request: (no_update if record.cancelled else request,),
        "initial network",
        (("inits", ids.FTLE_INITS), ("steps", ids.FTLE_STEPS)),
    ),
)


def layout() -> list:
    return [
        explain(
            "The finite-time Lyapunov exponent is the slope of ln<d(t)> where it rises in a straight "
            "line: the rate at which nearby networks separate, per iteration. The highlighted window "
            "is the best straight-line fit (largest R²) of the current run; the green dash-dot line has "
            "the slope of the reference's leading tangent exponent λ₁ (over the whole run)."
        ),
        graph(ids.FIT_GRAPH, 420),
        html.H3("Over many initial networks"),
        explain(
            f"Many initial networks, {compute.FTLE_COPIES} copies each, for ε from {compute.FTLE_EPS[0]:g} to "
            f"{compute.FTLE_EPS[-1]:g}, using the learning rate on the left. A fit counts when R² > "
            f"{FTLE.min_r2:g} and the slope > {FTLE.min_slope:g}. At η = 1 the paper finds λ ≈ 0.285 per "
            "iteration at ε = 1e-8."
        ),
        job_bar(
            ids.FTLE_RUN,
            ids.FTLE_CANCEL,
            ids.FTLE_PROGRESS,
            ids.FTLE_MESSAGE,
            ids.FTLE_PENDING,
            "Run FTLE sweep",
            extra=[
                html.Label(["initial networks ", text_input(ids.FTLE_INITS, 40)]),
                html.Label(["iterations ", text_input(ids.FTLE_STEPS, 200)]),
                html.Button("CSV", id=ids.FTLE_EXPORT, n_clicks=0, title="download every fit"),
                dcc.Download(id=ids.FTLE_DOWNLOAD),
            ],
        ),
        dcc.Store(id=ids.FTLE_STORE),
        graph(ids.FTLE_EPS_GRAPH, 420, "Press Run FTLE sweep."),
        html.Label(
            [
                "histogram at ε = ",
                dcc.Dropdown(
                    id=ids.FTLE_HIST_EPS,
                    options=[{"label": f"{10.0**k:.0e}", "value": k} for k in range(-14, 0)],
                    value=-8,
                    clearable=False,
                    style={"width": "8rem", "display": "inline-block"},
                ),
            ]
        ),
        graph(ids.FTLE_HIST_GRAPH, 360, "Press Run FTLE sweep."),
        html.Div(id=ids.FTLE_TABLE, className="summary"),
    ]


def ftle_csv(record: FTLERecord) -> str:
    """One row per initial network and eps: its FTLE and whether the fit is kept."""
    g, e = np.meshgrid(np.arange(record.slopes.shape[0]), np.arange(record.eps.size), indexing="ij")
    frame = pd.DataFrame(
        {"network": g.ravel(), "eps": record.eps[e.ravel()], "ftle": record.slopes.ravel(), "kept": record.kept.ravel()}
    )
    return frame.to_csv(index=False)


def leading_sentence(record: FTLERecord) -> str:
    """The leading tangent exponent of the sweep's first network, beside the FTLE per eps."""
    if record.leading_steps == 0:
        return "" if record.cancelled else "No tangent exponent: network 0 was not finite at its first step."
    line = " (the dash-dot line)" if record.n_kept.any() else ""
    return (
        f"Leading tangent exponent λ₁ of network 0 (seed {record.seed}) over its first "
        f"{record.leading_steps:,} iterations: {record.leading_exponent:.4f} per iteration{line}, the rate of "
        "an infinitesimal nudge; the FTLE is the rate of a nudge of size ε over its best window."
    )


def ftle_summary(record: FTLERecord) -> html.Div:
    """The sentence on the tangent exponent, and the table."""
    return html.Div([html.P(leading_sentence(record)), ftle_table(record)])


def ftle_table(record: FTLERecord) -> html.Table:
    """Per eps: the FTLE mean with its bootstrap CI, the fits kept, and the plain global rate."""

    def cell(value: float) -> str:
        return "–" if not np.isfinite(value) else f"{value:.4f}"

    head = html.Tr([html.Th(t) for t in ("ε", "FTLE mean", "95% CI", "kept", "global rate ln(d(T)/d(0))/T")])
    rows = [
        html.Tr(
            [
                html.Td(f"{eps:.0e}"),
                html.Td(cell(record.mean[j])),
                html.Td(f"[{cell(record.ci_low[j])}, {cell(record.ci_high[j])}]"),
                html.Td(f"{record.n_kept[j]} of {record.total}"),
                html.Td(cell(record.global_rate[j])),
            ]
        )
        for j, eps in enumerate(record.eps)
    ]
    return html.Table([head, *rows], className="ftle-table")


def register(app: Dash, store: Jobs) -> None:
    @app.callback(Output(ids.FIT_GRAPH, "figure"), Input(ids.RESULT, "data"), prevent_initial_call=True)
    def draw_fit(request: Any) -> Any:
        if request is None:  # the last run was stopped before it finished
            return figures.base.empty_figure("The last run was stopped before it finished: press Run.")
        record, key = keyed_record(store, "run", request)
        assert isinstance(record, RunRecord)  # the record of a plan of kind "run"
        return with_record_key(figures.spectrum.add_leading_to_fit(figures.lyapunov.fit_view(record), record), key)

    register_csv_export(
        app,
        store,
        SIDE_JOBS[0],
        (ids.FTLE_EXPORT, ids.FTLE_DOWNLOAD, ids.FTLE_STORE),
        ftle_csv,
        "weightspace-ftle.csv",
        "Nothing to export yet: run the FTLE sweep to the end first.",
    )

    @app.callback(
        Output(ids.FTLE_EPS_GRAPH, "figure"),
        Output(ids.FTLE_HIST_GRAPH, "figure"),
        Output(ids.FTLE_TABLE, "children"),
        Input(ids.FTLE_STORE, "data"),
        Input(ids.FTLE_HIST_EPS, "value"),
        prevent_initial_call=True,
    )
    def draw_ftle(request: Any, hist_exponent: Any) -> tuple[Any, ...]:
        record, key = keyed_record(store, "ftle", request)
        assert isinstance(record, FTLERecord)  # the record of a plan of kind "ftle"
        try:
            exponent = FTLE_HIST_EXPONENT(hist_exponent)
        except ValueError as exc:
            raise PreventUpdate from exc  # not one of the dropdown's values
        by_eps, histogram = figures.lyapunov.ftle_views(record, exponent)
        if record.n_kept.any():  # else a sentence, not axes: the rate is in the table's sentence
            figures.spectrum.add_leading_to_ftle(by_eps, record.leading_exponent, record.seed, record.leading_steps)
        drawn = (by_eps, histogram)
        return *(with_record_key(figure, key) for figure in drawn), ftle_summary(record)
