"""Divergence: the main run's distance curves, live while training, and the comparison of eps
(docs/method.md §2; the paper's Figs. 3, 4 and 6)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from core.config import RunConfig
from dashboard import figures
from dashboard.figures.distance import distance_plot
from dashboard.jobs import compute
from dashboard.jobs.flow import (
    CONTROL_STATES,
    JobSteps,
    Report,
    SetProgress,
    SideJob,
    Wait,
    background_job,
    checked,
    finished_result,
    keyed_record,
    new_job,
    plan_of,
    record_for,
    register_csv_export,
    stop_replaced,
    with_record_key,
)
from dashboard.jobs.records import EpsSweepRecord, Record, RunRecord
from dashboard.jobs.runner import Control, Jobs, Plan, queued_label
from dashboard.page import ids
from dashboard.page.components import explain, graph, job_bar
from dashboard.state.rules import mlp_of, run_values, to_config, training_rows
from dashboard.views import View

if TYPE_CHECKING:
    import plotly.graph_objects as go

VIEW = View("divergence", "Divergence")
GRAPHS = (ids.DISTANCE_GRAPH, ids.CURVATURE_GRAPH, ids.EPS_PANELS_GRAPH, ids.COLLAPSE_GRAPH)

# Live updates: the browser redraws each one, and on a 2-core machine without a GPU that
# competes with the training for CPU; ~3 per second (of figures.distance.LIVE_POINTS points
# per line) keeps it light.
LIVE_SECONDS = 0.35


def layout() -> list[Component]:
    return [
        explain(
            "Each grey line is the distance between the original network and one nudged copy as both "
            "train; the black line is their average. On a log scale, a straight rising line means "
            "exponential separation (chaos); a flat band means training is stable. The dashed red line "
            "is the loss (right axis). The green dash-dot line has the slope of the reference's leading "
            "tangent exponent λ₁ (the growth rate of an infinitesimal nudge, averaged over the whole run), "
            "drawn from the start of the FTLE's window."
        ),
        dcc.Loading(
            graph(ids.DISTANCE_GRAPH, 500, placeholder=figures.distance.distance_placeholder),
            delay_show=1500,
            overlay_style={"visibility": "visible"},
        ),
        html.Div(id=ids.SUMMARY, className="summary"),
        html.H3("Curvature: the edge of stability"),
        explain(
            "The sharpness is the largest curvature of the loss (the top eigenvalue of its Hessian). "
            "Gradient descent with step η is stable on a valley only while the sharpness stays below "
            "2/η (dashed): where it reaches 2/η the loss starts to jump and nearby networks separate. "
            "Momentum methods have their own threshold; for Adam the panel shows the preconditioned "
            "sharpness (the top eigenvalue of P⁻¹H, P Adam's preconditioner) against (2 + 2β1)/((1 − β1)η)."
        ),
        graph(ids.CURVATURE_GRAPH, 560),
        html.H3("Does the size of the nudge matter?"),
        explain(
            "The same network, nudged by ε from 1e-15 to 1e-2 (5 copies each). If the curves differ "
            "only by the factor ε, training responds linearly to small perturbations: divided by "
            "ε N_w they collapse onto one curve."
        ),
        job_bar(
            ids.SWEEP_RUN,
            ids.SWEEP_CANCEL,
            ids.SWEEP_PROGRESS,
            ids.SWEEP_MESSAGE,
            ids.SWEEP_PENDING,
            "Compare ε",
            extra=[
                html.Button("CSV", id=ids.SWEEP_EXPORT, n_clicks=0, title="download the curves"),
                dcc.Download(id=ids.SWEEP_DOWNLOAD),
                dcc.Store(id=ids.SWEEP_STORE),
            ],
        ),
        graph(ids.EPS_PANELS_GRAPH, 560, "Press Compare ε."),  # four panels, 2 x 2
        graph(ids.COLLAPSE_GRAPH, 420, "Press Compare ε."),
    ]


# ---- record -> words (its figures: dashboard.figures.distance, dynamics, eps) ----------------
def progress_label(done: int, total: int, elapsed: float) -> str:
    """What the run is doing: training, or (its last iteration reported) the analyses that
    follow it (the weights' ablation, the sharpness at the saved steps, the FTLE fit)."""
    if done >= total:
        return (
            f"trained {total:,} iterations · {elapsed:.1f} s · now the ablation, curvature, FTLE fit "
            "and tangent exponent…"
        )
    return f"iteration {done:,} of {total:,} · {elapsed:.1f} s"


def summary_text(record: RunRecord) -> str:
    fit = record.ftle
    parts = [batch_sentence(record.config)] if record.config.batch_size is not None else []
    parts += [
        f"final loss {record.loss[-1, 0]:.4g}, train accuracy {record.train_accuracy:.1%}, "
        f"test accuracy {record.test_accuracy:.1%}.",
        f"FTLE {fit.slope:.4f} per iteration (R² {fit.r2:.3f}, {'kept' if fit.kept else 'not kept'})."
        if fit.found
        else "No FTLE window fits this run.",
    ]
    tangent = leading_sentence(record)
    if tangent:
        parts.append(tangent)
    if record.diverged_rows:
        rows = record.diverged_rows
        names = ["the reference" if r == 0 else f"copy {r}" for r in rows[:12]]
        parts.append(f"Diverged (non-finite loss or weights): {', '.join(names)}{' ...' if len(rows) > 12 else ''}.")
    return " ".join(parts)


MINI_BATCH_NAMES = {"gd": "SGD", "momentum": "SGD with momentum", "nesterov": "SGD with Nesterov momentum"}


def batch_sentence(config: RunConfig) -> str:
    """How a mini-batch run trained (docs/method.md §13): its rule, batch and order."""
    rows, size = training_rows(config.dataset), config.batch_size
    assert size is not None  # only a mini-batch run has this sentence
    rule = MINI_BATCH_NAMES.get(config.optimizer, config.optimizer.capitalize())
    return (
        f"Mini-batch {rule}, batch {size} of the {rows} training rows ({rows // size} steps per epoch, "
        f"batch seed {config.batch_seed}); the loss and accuracy are the full training set's:"
    )


def leading_sentence(record: RunRecord) -> str:
    """The reference's leading tangent exponent (docs/method.md §10), beside the FTLE: over
    which iterations each is a rate; why there is none (a stopped run, or a reference not
    finite at its first step: every update rule has its tangent map)."""
    config = record.config
    if record.leading_steps == 0:
        return "" if record.cancelled else "No tangent exponent: the reference was not finite at its first step."
    rate, steps = record.leading_exponent, record.leading_steps
    over = f"all {steps:,} iterations"
    if steps < config.n_steps:
        over = f"its first {steps:,} iterations (then it diverged)"
    fit = record.ftle
    window = f"; the FTLE is the rate of <d> over iterations {fit.start:.0f}-{fit.start + fit.length:.0f}"
    head = f"Leading tangent exponent of the reference λ₁ {rate:.4f} per iteration, over {over}"
    return f"{head}{window if fit.found else ''}."


def weight_count(config: RunConfig) -> int:
    """N_w of the run's own network: its data set's features and classes, not Iris's."""
    return mlp_of(config).n_weights


class LivePlot:
    """The live distance figure of one run: drawn on the first update, then only its data
    change (figures.distance.update_distance_figure)."""

    def __init__(self, config: RunConfig, normalized: bool) -> None:
        self.config, self.normalized = config, normalized
        self.figure: go.Figure | None = None
        self.n_weights = weight_count(config)

    def __call__(self, distance: np.ndarray, loss: np.ndarray) -> go.Figure:
        """The figure of the partial run: distance (t, M), loss (t,)."""
        if self.figure is None:
            self.figure = distance_plot(self.config, distance, loss, self.normalized, self.n_weights, live=True)
            return self.figure
        series = figures.distance.distance_series(self.config, distance, self.normalized, self.n_weights)
        return figures.distance.update_distance_figure(
            self.figure, *series, loss, max_points=figures.distance.LIVE_POINTS
        )


def draw_sweep(record: EpsSweepRecord, request: dict[str, Any]) -> tuple[Any, ...]:
    """The eps sweep's two figures, and the request the export reads (none for a stopped sweep)."""
    return (*figures.eps.eps_views(record, compute.PANEL_EPS), None if record.cancelled else request)


def eps_sweep_csv(record: EpsSweepRecord) -> str:
    """Per iteration: the reference loss, <d>/(eps N_w) at each eps, and every copy's d_m(t)."""
    columns = {"iteration": record.iterations, "train_loss_reference": record.loss}
    columns |= {f"normalized_mean_eps_{e:.0e}": record.normalized_distance[j] for j, e in enumerate(record.eps)}
    for j, e in enumerate(record.eps):
        columns |= {f"d_eps_{e:.0e}_{m + 1}": record.distance[j, :, m] for m in range(record.distance.shape[2])}
    return pd.DataFrame(columns).to_csv(index=False)


SIDE_JOBS = (
    SideJob(
        "sweep",
        ids.SWEEP_RUN,
        ids.SWEEP_CANCEL,
        ids.SWEEP_PROGRESS,
        ids.SWEEP_MESSAGE,
        ids.SWEEP_PENDING,
        (Output(ids.EPS_PANELS_GRAPH, "figure"), Output(ids.COLLAPSE_GRAPH, "figure"), Output(ids.SWEEP_STORE, "data")),
        draw_sweep,
        "iteration",
    ),
)


# ---- the main run -----------------------------------------------------------------
def finished_view(
    store: Jobs, key: str, normalized: bool, record: RunRecord | None = None
) -> tuple[str, dict[str, Any]] | None:
    """(summary, distance figure as a plain dict) of a finished run, or None if it is not stored.

    Built once and kept in the results cache beside the record, so a replay reads a small
    entry instead of the whole record and skips Plotly's figure construction (together
    ~70 ms of a cached replay's ~0.3 s, measured). Given the ``record`` (a job that just
    finished), the answer never depends on what the cache kept.
    """
    view_key = f"{key}:view:{int(normalized)}"
    kept = store.entry(view_key)
    if kept is not None:
        assert isinstance(kept, tuple)  # as stored below: (summary, figure)
        return kept
    if record is None:
        stored = store.load(key)
        if stored is None:
            return None
        assert isinstance(stored, RunRecord)  # the record of a plan of kind "run"
        record = stored
    figure = figures.spectrum.add_leading_to_distance(
        figures.distance.distance_view(record, normalized), record, normalized
    )
    view = (summary_text(record), figure.to_plotly_json())
    store.store(view_key, view)
    return view


def finished_figure(store: Jobs, request: dict[str, Any], normalized: bool) -> dict[str, Any]:
    """The distance figure of the finished run a page's RESULT names (signed by this server)."""
    plan = plan_of(store, "run", request)
    store.check_signature(plan.key, request.get("signature"))
    view = finished_view(store, plan.key, normalized)  # the stored figure, if the cache kept it
    if view is None:
        record = record_for(store, "run", request)
        assert isinstance(record, RunRecord)  # the record of a plan of kind "run"
        view = finished_view(store, plan.key, normalized, record)
        assert view is not None  # drawn from the record given
    return with_record_key(view[1], plan.key)


def replay(store: Jobs, key: str, normalized: bool) -> tuple[str, dict[str, Any]] | None:
    """A stored run's finished view, if its record is stored too (the other views need it)."""
    if not store.has(key):
        return None
    return finished_view(store, key, normalized)


# The distance graph has one writer per state of the page: the running job's live curves
# (its progress, and the partial figure of a stopped run), and ``draw_distance`` for every
# finished run, from the record named by RESULT and the normalised switch. Both are Inputs of
# that one callback, so a click that changes both (a preset, Back) requests it twice and the
# browser drops the older request: a redraw for older settings cannot land after a newer one.
FINISHED = [
    Output(ids.RESULT, "data"),
    Output(ids.SUMMARY, "children"),
    Output(ids.RUN_MESSAGE, "children"),
    Output(ids.PROGRESS, "value"),
    Output(ids.PROGRESS_LABEL, "children"),
]


class RunSteps(JobSteps):
    """The main run's steps: live curves while it trains, its FINISHED outputs at the end."""

    every = LIVE_SECONDS

    def __init__(self, store: Jobs) -> None:
        self.store = store
        self.values: dict[str, Any] = {}  # the run's checked settings, once its request passed
        self.plot: LivePlot | None = None

    def progress(self, plan: Plan, pending: dict[str, Any], set_progress: SetProgress) -> tuple[Report, Wait]:
        self.values = run_values(pending["values"])
        plot = self.plot = LivePlot(to_config(self.values), pending.get("normalized") is True)

        def live(done: int, total: int, elapsed: float, partial: Any) -> None:
            # as a plain dict: the server unpickles each update to answer a poll (5 ms less than a Figure)
            fig = with_record_key(plot(partial.distance[:, 1:], partial.loss[:, 0]).to_plotly_json(), plan.key)
            set_progress((progress_label(done, total, elapsed), fig, 100 * done / total))

        def wait(ahead: int, waited: float) -> None:
            set_progress((queued_label(ahead, waited), _waiting_figure(), 0))

        return live, wait

    def refused(self, message: str) -> tuple[Any, ...]:
        return no_update, no_update, message, 0, "", no_update

    def ended(self, message: str, control: Control) -> tuple[Any, ...]:
        if message:
            return no_update, no_update, message, 0, "", no_update
        return None, "", "", 0, control.stopped_label(), no_update  # stopped while queued

    def drawn(self, record: Record, control: Control, plan: Plan, pending: dict[str, Any]) -> tuple[Any, ...]:
        assert isinstance(record, RunRecord) and self.plot is not None  # a plan of kind "run", after progress()
        normalized = self.plot.normalized
        if record.cancelled:
            summary, figure = summary_text(record), figures.distance.distance_view(record, normalized)
            done = 100 * control.done / max(control.total, 1)
            return None, summary, "", done, control.stopped_label(), with_record_key(figure, plan.key)
        view = finished_view(self.store, plan.key, normalized, record)
        assert view is not None  # drawn from the record given
        summary, _ = view
        label = f"{self.values['steps']:,} iterations · {control.elapsed:.1f} s"
        result = finished_result(self.store, plan, {"kind": "run", "values": self.values})
        return result, summary, "", 100, label, no_update


@functools.cache
def _waiting_figure() -> dict[str, Any]:
    """The graph of a run that waits for a slot: drawn once a process, when a run first waits
    (~75 ms: not for every run, most of which never wait)."""
    return figures.distance.distance_placeholder("Waiting for a free slot on the server…").to_plotly_json()


def run_job(store: Jobs, pending: Any, set_progress: SetProgress) -> tuple[Any, ...]:
    """The main run's background job -> the FINISHED outputs and the distance figure (only for
    a stopped run: a finished one is drawn by ``draw_distance`` from its RESULT)."""
    return background_job(store, "run", RunSteps(store), pending, set_progress)


# When a run starts, its graph comes into view if the page is scrolled away from it (on a
# projector the graph starts near the bottom edge): the browser does it, no round trip.
SHOW_GRAPH = """
function (pending) {
    const graph = document.getElementById('distance-graph');
    if (pending && graph) {
        const box = graph.getBoundingClientRect();
        if (box.top < 0 || box.bottom > window.innerHeight) { graph.scrollIntoView({block: 'nearest'}); }
    }
}
"""


def register(app: Dash, store: Jobs) -> None:
    """Run: a plain callback answers at once from the cache (or with a refusal); only a run
    that must be computed starts the background job, which streams live curves."""
    app.clientside_callback(SHOW_GRAPH, Input(ids.PENDING, "data"), prevent_initial_call=True)

    @app.callback(
        # a cached run answers at once, from this plain callback, not through the job that
        # writes these while it runs (Dash: a background job's outputs come only from its job)
        output={
            "finished": [Output(o.component_id, o.component_property, allow_duplicate=True) for o in FINISHED],
            "pending": Output(ids.PENDING, "data"),
        },
        inputs={"run": Input(ids.RUN, "n_clicks"), "autorun": Input(ids.AUTORUN, "data")},
        state={
            "running": State(ids.RUN, "disabled"),
            "previous": State(ids.PENDING, "data"),
            "controls": CONTROL_STATES,
            "last_valid": State(ids.VALID, "data"),
        },
        prevent_initial_call=True,
    )
    def start(
        run: Any, autorun: Any, running: Any, previous: Any, controls: dict[str, Any], last_valid: Any
    ) -> dict[str, Any]:
        values, _ = checked(controls, last_valid)
        request = {"kind": "run", "values": run_values(values)}
        try:
            plan = plan_of(store, "run", request)
        except ValueError as exc:
            return {"finished": [no_update, no_update, str(exc), no_update, no_update], "pending": no_update}
        # during a run, even a cached answer goes through a job: starting it stops the old one,
        # whose answer would otherwise arrive later and cover this one
        view = None if running else replay(store, plan.key, values["normalized"])
        if view is None:
            stop_replaced(store, running, previous)
            pending = {**request, "normalized": values["normalized"], **new_job(store)}
            return {"finished": [no_update, no_update, "", 0, "starting…"], "pending": pending}
        summary, _ = view
        label = f"{values['steps']:,} iterations · from the cache"
        return {"finished": [finished_result(store, plan, request), summary, "", 100, label], "pending": no_update}

    @app.callback(
        *FINISHED,
        # a stopped run's partial curves come with its job's end, together with its other
        # outputs; the job's progress (below) is the graph's writer while it runs
        Output(ids.DISTANCE_GRAPH, "figure", allow_duplicate=True),
        Input(ids.PENDING, "data"),
        background=True,
        running=[(Output(ids.RUN, "disabled"), True, False), (Output(ids.CANCEL, "disabled"), False, True)],
        progress=[  # the label first, as in every job (dashboard.server.manager: news of a queued job)
            Output(ids.PROGRESS_LABEL, "children"),
            Output(ids.DISTANCE_GRAPH, "figure"),
            Output(ids.PROGRESS, "value"),
        ],
        interval=200,
        prevent_initial_call=True,
    )
    def run(set_progress: SetProgress, pending: Any) -> tuple[Any, ...]:
        return run_job(store, pending, set_progress)

    @app.callback(
        # every finished run, cached or just computed, is drawn here from RESULT; the running
        # job's progress output draws its live curves (the two states of the one graph)
        Output(ids.DISTANCE_GRAPH, "figure", allow_duplicate=True),
        Input(ids.RESULT, "data"),
        Input(ids.NORMALIZED, "value"),
        prevent_initial_call=True,
    )
    def draw_distance(request: Any, normalized: Any) -> dict[str, Any]:
        """The finished run named by RESULT; nothing while there is none (a stopped run keeps
        the partial curves its job drew)."""
        if request is None:
            raise PreventUpdate
        return finished_figure(store, request, "on" in (normalized or []))

    register_csv_export(
        app,
        store,
        SIDE_JOBS[0],
        (ids.SWEEP_EXPORT, ids.SWEEP_DOWNLOAD, ids.SWEEP_STORE),
        eps_sweep_csv,
        "weightspace-eps-comparison.csv",
        "Nothing to export yet: press Compare ε and let it finish.",
    )

    @app.callback(Output(ids.CURVATURE_GRAPH, "figure"), Input(ids.RESULT, "data"), prevent_initial_call=True)
    def draw_curvature(request: Any) -> go.Figure:
        if request is None:  # the last run was stopped before it finished
            return figures.base.empty_figure("The last run was stopped before it finished: press Run.")
        record, key = keyed_record(store, "run", request)
        assert isinstance(record, RunRecord)  # the record of a plan of kind "run"
        return with_record_key(figures.dynamics.curvature_view(record), key)
