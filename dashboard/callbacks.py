"""Callbacks, kept thin: parse the controls (dashboard.state), compute (dashboard.jobs through
dashboard.runner: checked, admitted, cached), draw (dashboard.figures). The pure helpers at the
top are unit-tested directly.

Every job has the same life: a plain callback checks the request and answers refusals (and,
for the main run, a cached result) at once; otherwise it writes a *request* (the run settings,
the job's own settings and a random token) to the job's pending store, which starts the
background job. Cancel and a change of settings ask the job, by its token, to stop; it ends
with what it has ("Cancelled at iteration N"). A finished job leaves its request in a result
store, from which the other views load (or, if the cache lost it, recompute) its record.
"""

from __future__ import annotations

import io
import json
import logging
import math
import secrets
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from dash import ALL, Dash, Input, Output, State, ctx, dcc, no_update, set_props
from dash.exceptions import PreventUpdate

from core.config import RunConfig
from core.data import Dataset
from core.model import MLP
from dashboard import figures, ids, jobs
from dashboard.admission import CANCELLED, SETTINGS_CHANGED, Busy, check_token
from dashboard.runner import Control, Jobs, Plan, Record, execute, failure_message, queued_label
from dashboard.state import (
    CONTROLS,
    FEATURE_AXIS,
    FTLE_HIST_EXPONENT,
    PRESETS,
    RULES,
    check_values,
    parse_query,
    quoted,
    run_values,
    to_config,
    to_query,
)

log = logging.getLogger(__name__)

# Live updates: the browser redraws each one, and on a 2-core machine without a GPU that
# competes with the training for CPU; ~3 per second of 250 points per line keeps it light
# (one Plotly redraw measured 37-62 ms at 200 points a line, 95-103 ms at 1,000).
LIVE_SECONDS = 0.35
LIVE_POINTS = 250

# ---- control values <-> component properties ---------------------------------------
CONTROL_INPUTS = [Input(name, "value") for name in CONTROLS]
CONTROL_STATES = [State(name, "value") for name in CONTROLS]
CONTROL_OUTPUTS = [Output(name, "value", allow_duplicate=True) for name in CONTROLS]
GRAPHS = (
    ids.DISTANCE_GRAPH,
    ids.EPS_PANELS_GRAPH,
    ids.COLLAPSE_GRAPH,
    ids.FIT_GRAPH,
    ids.FTLE_EPS_GRAPH,
    ids.FTLE_HIST_GRAPH,
    ids.ORBITAL_GRAPH,
    ids.ABLATION_W1_GRAPH,
    ids.ABLATION_W2_GRAPH,
    ids.DISPLACEMENT_GRAPH,
    ids.NORM_GRAPH,
    ids.DATA_GRAPH,
)


def raw_from_props(props: list[Any]) -> dict[str, Any]:
    """Component values in CONTROLS order -> raw control values (the checklist -> bool)."""
    raw = dict(zip(CONTROLS, props, strict=True))
    raw["normalized"] = isinstance(raw["normalized"], list) and "on" in raw["normalized"]
    return raw


def props_from_values(values: dict[str, Any]) -> list[Any]:
    return [(["on"] if values[n] else []) if n == "normalized" else values[n] for n in CONTROLS]


def checked(props: list[Any], last_valid: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Component values -> (valid values, errors); a bad value falls back to its last valid one."""
    return check_values(raw_from_props(props), last_valid)


def new_token() -> str:
    """The random name a page gives a job, to ask it to stop (dashboard.admission)."""
    return secrets.token_hex(16)


def progress_label(done: int, total: int, elapsed: float) -> str:
    return f"iteration {done:,} of {total:,} · {elapsed:.1f} s"


def summary_text(record: dict) -> str:
    fit = record["ftle"]
    loss = record["loss"][-1, 0]
    parts = [
        f"final loss {loss:.4g}, train accuracy {record['train_accuracy']:.1%}, "
        f"test accuracy {record['test_accuracy']:.1%}.",
        f"FTLE {fit['slope']:.4f} per iteration (R² {fit['r2']:.3f}, {'kept' if fit['kept'] else 'not kept'})."
        if fit["slope"] is not None and math.isfinite(fit["slope"])
        else "No FTLE window fits this run.",
    ]
    if record["diverged_rows"]:
        rows = record["diverged_rows"]
        names = ["the reference" if r == 0 else f"copy {r}" for r in rows[:12]]
        parts.append(f"Diverged (non-finite loss or weights): {', '.join(names)}{' ...' if len(rows) > 12 else ''}.")
    return " ".join(parts)


def _distance_series(config: RunConfig, distance: np.ndarray, normalized: bool):
    """Iterations, the copies' distances (divided by eps N_w when ``normalized``) and their mean."""
    d = distance / (config.eps * MLP(hidden=config.hidden).n_weights) if normalized else distance
    return np.arange(len(d)), d, d.mean(axis=1)


def distance_plot(config: RunConfig, distance: np.ndarray, loss: np.ndarray, normalized: bool, *, live: bool = False):
    """The distance figure of a run (finished or, with ``live``, still training).

    distance (S, M) of the copies and the reference loss (S,), from iteration 0.
    """
    head = f"η = {config.learning_rate:g}, ε = {config.eps:g}"
    return figures.distance_figure(
        *_distance_series(config, distance, normalized),
        loss,
        y_title="d(t) / (ε N_w)" if normalized else f"distance d(t) ({config.distance.upper()})",
        title=f"{head}: training…" if live else f"{head}, seed {config.seed}",
        max_points=LIVE_POINTS if live else figures.MAX_POINTS,
    )


class LivePlot:
    """The live distance figure of one run: drawn on the first update, then only its data
    change (figures.update_distance_figure)."""

    def __init__(self, config: RunConfig, normalized: bool) -> None:
        self.config, self.normalized, self.figure = config, normalized, None

    def __call__(self, distance: np.ndarray, loss: np.ndarray):
        if self.figure is None:
            self.figure = distance_plot(self.config, distance, loss, self.normalized, live=True)
            return self.figure
        series = _distance_series(self.config, distance, self.normalized)
        return figures.update_distance_figure(self.figure, *series, loss, max_points=LIVE_POINTS)


def distance_view(record: dict, normalized: bool):
    """The finished run's distance figure."""
    config = RunConfig.from_dict(record["config"])
    return distance_plot(config, record["distance"], record["loss"][:, 0], normalized)


def weight_labels(hidden: int, n_inputs: int, n_classes: int) -> list[str]:
    """One label per parameter in the flat order of SPEC section 1."""
    return (
        [f"W1 in{i}→h{j}" for i in range(n_inputs) for j in range(hidden)]
        + [f"b1 h{j}" for j in range(hidden)]
        + [f"W2 h{j}→out{c}" for j in range(hidden) for c in range(n_classes)]
        + [f"b2 out{c}" for c in range(n_classes)]
    )


def weights_views(record: dict, data: Dataset):
    """The Weights view of a run on ``data``: ablation maps of W1 and W2, displacement vs path
    length, ||theta||_1."""
    feature_names, class_names = list(data.feature_names), list(data.class_names)
    hidden = record["hidden"]
    mask = record["weight_mask"]
    labels = np.array(weight_labels(hidden, len(feature_names), len(class_names)))
    units = [f"h{j}" for j in range(hidden)]
    if "ablation_w1" in record:
        w1 = figures.ablation_heatmap(record["ablation_w1"], feature_names, units, "Ablation of W1: L_w / L")
        w2 = figures.ablation_heatmap(record["ablation_w2"], units, class_names, "Ablation of W2: L_w / L")
    else:
        w1 = w2 = figures.empty_figure("The reference network diverged: no ablation map.")
    displacement = figures.displacement_figure(record["displacement"][mask], record["path_length"][mask], labels[mask])
    norm = figures.norm_figure(record["iterations"], record["theta_norm"])
    return w1, w2, displacement, norm


def data_view(record: dict, data: Dataset, fx: Any, fy: Any):
    """The scatter of the run's ``data`` with the final reference network's mistakes, and its
    caption. ``fx``, ``fy``: the features on the axes, as the dropdowns send them ("0" to "3").
    """
    try:
        fx, fy = FEATURE_AXIS(fx), FEATURE_AXIS(fy)
    except ValueError as exc:
        message = f"The feature on an axis {exc}."
        return figures.empty_figure(message), message
    x = np.vstack([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    is_train = np.arange(len(y)) < len(data.y_train)
    fig = figures.data_figure(
        x, y, record["predictions"], is_train, list(data.feature_names), list(data.class_names), fx, fy
    )
    text = (
        f"Trained network: {record['train_accuracy']:.1%} of the {len(data.y_train)} training flowers and "
        f"{record['test_accuracy']:.1%} of the {len(data.y_test)} test flowers right."
    )
    return fig, text


def export_csv(record: dict) -> str:
    """Per iteration: reference loss and accuracy, <d>, d_1..d_M, ||theta||_1."""
    frame = pd.DataFrame(
        {
            "iteration": record["iterations"],
            "loss_reference": record["loss"][:, 0],
            "accuracy_reference": record["accuracy"],
            "mean_distance": record["mean_distance"],
            "normalized_mean_distance": record["normalized_distance"],
            "theta_norm_l1": record["theta_norm"],
        }
    )
    copies = pd.DataFrame(record["distance"], columns=[f"d_{m + 1}" for m in range(record["distance"].shape[1])])
    return pd.concat([frame, copies], axis=1).to_csv(index=False)


def export_npz(record: dict) -> bytes:
    arrays = {k: v for k, v in record.items() if isinstance(v, np.ndarray)}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, config=json.dumps(record["config"]), **arrays)
    return buffer.getvalue()


# ---- records and finished views ----------------------------------------------------
def plan_of(store: Jobs, kind: str, request: dict) -> Plan:
    """The checked job of a request's settings (ValueError names what is refused)."""
    return jobs.plan(kind, request.get("values"), request.get("extra"), store.limits, store.admission.slots)


def finished_result(store: Jobs, plan: Plan, request: dict) -> dict:
    """What a finished job leaves in its result store for the views: its settings, signed."""
    return {
        "kind": request.get("kind"),
        "values": request.get("values"),
        "extra": request.get("extra"),
        "signature": store.sign(plan.key),
    }


def record_for(store: Jobs, kind: str, request: Any) -> Record:
    """The record a view draws from: the finished job's ``request`` (its result store),
    checked again with its signature, then its record from the cache, or computed again if
    the cache lost it. No update while there is no finished job."""
    if not isinstance(request, dict):
        raise PreventUpdate
    plan = plan_of(store, kind, request)
    store.check_signature(plan.key, request.get("signature"))
    record = store.load(plan.key)
    if record is None:
        log.warning("the record %s is not in the cache (evicted or unreadable): computing it again", plan.key)
        record = store.compute(plan, Control(store.admission, None, lambda *_: None), lambda *_: None)
    return record


def finished_view(store: Jobs, key: str, normalized: bool, record: Record | None = None) -> tuple[str, dict] | None:
    """(summary, distance figure as a plain dict) of a finished run, or None if it is not stored.

    Built once and kept in the results cache beside the record, so a replay reads a small
    entry instead of the whole record and skips Plotly's figure construction (together
    ~70 ms of a cached replay's ~0.3 s, measured). Given the ``record`` (a job that just
    finished), the answer never depends on what the cache kept.
    """
    view_key = f"{key}:view:{int(normalized)}"
    view = store.load(view_key)
    if view is None:
        record = record if record is not None else store.load(key)
        if record is None:
            return None
        view = (summary_text(record), distance_view(record, normalized).to_plotly_json())
        store.store(view_key, view)
    return view


def replay(store: Jobs, key: str, normalized: bool) -> tuple[str, dict] | None:
    """A stored run's finished view, if its record is stored too (the other views need it)."""
    if not store.has(key):
        return None
    return finished_view(store, key, normalized)


def on_error(exc: Exception) -> None:
    """Any callback's failure as a red message beside Run: a refusal (bad input found on the
    server, a busy server) as such, anything else with its traceback in the log."""
    refused = isinstance(exc, (ValueError, Busy))
    set_props(ids.RUN_MESSAGE, {"children": f"Refused: {exc}" if refused else failure_message(exc)})


# ---- registration ------------------------------------------------------------------
def register(app: Dash, store: Jobs) -> None:
    """All callbacks; jobs are checked, admitted and cached through ``store``."""
    _register_sync(app)
    _register_state(app)
    _register_run(app, store)
    _register_views(app, store)
    for job in side_jobs():
        _register_side_job(app, store, job)
    _register_stops(app, store)
    _register_exports(app, store)


def _register_sync(app: Dash) -> None:
    """Typed box <-> log slider for eta and eps (the box is the value; the slider mirrors it)."""
    for box, slider in ((ids.ETA, ids.ETA_SLIDER), (ids.EPS, ids.EPS_SLIDER)):

        @app.callback(
            Output(box, "value", allow_duplicate=True),
            Output(slider, "value"),
            Input(box, "value"),
            Input(slider, "value"),
            prevent_initial_call=True,
        )
        def sync(typed, position, _box=box):
            if ctx.triggered_id == _box:
                try:
                    return no_update, math.log10(RULES[_box].parse(typed))
                except ValueError:
                    return no_update, no_update  # the message comes from the validation callback
            if isinstance(position, bool) or not isinstance(position, (int, float)) or not -20 < position < 5:
                raise PreventUpdate  # not a position of these sliders
            return float(f"{10.0**position:.3g}"), no_update


# The URL follows the controls in the browser, not through a callback output: an output to
# the URL would close the loop controls -> URL -> controls, and Dash's renderer holds back
# every callback in such a loop while any other callback is pending, so nothing typed
# during a run would register. dcc.Location is told of the new address by the event it
# listens to, so that Back and Forward restore the controls.
PUSH_QUERY = """
function (query) {
    if (query && query !== window.location.search) {
        window.history.pushState({}, '', window.location.pathname + query);
        window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));
    }
}
"""


def _register_state(app: Dash) -> None:
    @app.callback(
        [Output(f"{name}-error", "children") for name in CONTROLS],
        Output(ids.VALID, "data"),
        Output(ids.WRITTEN_QUERY, "data"),
        *CONTROL_INPUTS,
        Input(ids.TABS, "value"),
        State(ids.VALID, "data"),
        prevent_initial_call=True,
    )
    def validate(*args):
        *props, view, last_valid = args
        values, errors = checked(props, last_valid)
        return *[errors.get(n, "") for n in CONTROLS], values, to_query(values, view)

    app.clientside_callback(PUSH_QUERY, Input(ids.WRITTEN_QUERY, "data"), prevent_initial_call=True)

    @app.callback(
        *CONTROL_OUTPUTS,
        Output(ids.TABS, "value"),
        Output(ids.URL_MESSAGE, "children"),
        Output(ids.AUTORUN, "data"),
        Input(ids.URL, "search"),
        State(ids.VALID, "data"),
        State(ids.WRITTEN_QUERY, "data"),
        prevent_initial_call="initial_duplicate",  # runs on page load: a link restores its run
    )
    def from_link(search, last_valid, written):
        if search == written or not isinstance(search, str):  # the app mirrored its own state
            raise PreventUpdate
        parsed, view, messages = parse_query(search)
        if not parsed and not messages and not search:
            raise PreventUpdate
        values = {**check_values(last_valid if isinstance(last_valid, dict) else {}, {})[0], **parsed}
        message = " · ".join(messages)
        return *props_from_values(values), view, message, {"view": view, "token": new_token()}

    @app.callback(
        *CONTROL_OUTPUTS,
        Output(ids.TABS, "value", allow_duplicate=True),
        Output(ids.PRESET_NOTE, "children"),
        Output(ids.AUTORUN, "data", allow_duplicate=True),
        Input({"type": ids.PRESET, "name": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def preset(clicks):
        chosen = PRESETS.get((ctx.triggered_id or {}).get("name"))
        if chosen is None or not any(clicks):
            raise PreventUpdate
        values = {**{n: RULES[n].default for n in CONTROLS}, **chosen.values}
        return *props_from_values(values), chosen.view, chosen.sentence, {"view": chosen.view, "token": new_token()}


FINISHED = [
    Output(ids.RESULT, "data"),
    Output(ids.SUMMARY, "children"),
    Output(ids.RUN_MESSAGE, "children"),
    Output(ids.PROGRESS, "value"),
    Output(ids.PROGRESS_LABEL, "children"),
    Output(ids.DISTANCE_GRAPH, "figure"),  # with the result: one round trip
]


def _register_run(app: Dash, store: Jobs) -> None:
    """Run: a plain callback answers at once from the cache (or with a refusal); only a run
    that must be computed starts the background job, which streams live curves."""

    @app.callback(
        *[Output(o.component_id, o.component_property, allow_duplicate=True) for o in FINISHED],
        Output(ids.PENDING, "data"),
        Input(ids.RUN, "n_clicks"),
        Input(ids.AUTORUN, "data"),
        State(ids.RUN, "disabled"),
        *CONTROL_STATES,
        State(ids.VALID, "data"),
        prevent_initial_call=True,
    )
    def start(_clicks, _autorun, running, *args):
        *props, last_valid = args
        values, _ = checked(props, last_valid)
        request = {"kind": "run", "values": run_values(values)}
        try:
            plan = plan_of(store, "run", request)
        except ValueError as exc:
            return no_update, no_update, str(exc), no_update, no_update, no_update, no_update
        # during a run, even a cached answer goes through a job: starting it stops the old one,
        # whose answer would otherwise arrive later and cover this one
        view = None if running else replay(store, plan.key, values["normalized"])
        if view is None:
            pending = {**request, "normalized": values["normalized"], "token": new_token()}
            return no_update, no_update, "", 0, "starting…", no_update, pending
        summary, figure = view
        label = f"{values['steps']:,} iterations · from the cache"
        return finished_result(store, plan, request), summary, "", 100, label, figure, no_update

    @app.callback(
        *FINISHED,
        Input(ids.PENDING, "data"),
        background=True,
        running=[(Output(ids.RUN, "disabled"), True, False), (Output(ids.CANCEL, "disabled"), False, True)],
        progress=[
            Output(ids.DISTANCE_GRAPH, "figure"),
            Output(ids.PROGRESS, "value"),
            Output(ids.PROGRESS_LABEL, "children"),
        ],
        interval=200,
        prevent_initial_call=True,
    )
    def run(set_progress, pending):
        return run_job(store, pending, set_progress)


def checked_request(store: Jobs, kind: str, request: Any) -> tuple[Plan, str]:
    """A job's request from its page -> (plan, token), every part checked on the server."""
    if not isinstance(request, dict):
        raise ValueError(f"the job request must be a mapping, got {quoted(request)}")
    token = check_token(request.get("token"))
    return plan_of(store, kind, request), token


def run_job(store: Jobs, pending: Any, set_progress: Callable) -> tuple:
    """The main run's background job -> the FINISHED outputs (a plain function for tests)."""
    try:
        plan, token = checked_request(store, "run", pending)
    except ValueError as exc:
        return no_update, no_update, f"Refused: {exc}", 0, "", no_update
    values = run_values(pending["values"])
    plot = LivePlot(to_config(values), pending.get("normalized") is True)
    waiting = figures.distance_placeholder("Waiting for a free slot on the server…").to_plotly_json()

    def live(done, total, elapsed, partial):
        # as a plain dict: the server unpickles each update to answer a poll (5 ms less than a Figure)
        fig = plot(partial.distance[:, 1:], partial.loss[:, 0]).to_plotly_json()
        set_progress((fig, 100 * done / total, progress_label(done, total, elapsed)))

    def wait(ahead, waited):
        set_progress((waiting, 0, queued_label(ahead, waited)))

    outcome = execute(store, plan, token, live, wait, LIVE_SECONDS)
    if outcome.message:
        return no_update, no_update, outcome.message, 0, "", no_update
    record, control = outcome.record, outcome.control
    if record is None:  # stopped while queued
        return None, "", "", 0, control.stopped_label(), no_update
    if record.get("cancelled"):
        summary, figure = summary_text(record), distance_view(record, plot.normalized)
        return None, summary, "", 100 * control.done / max(control.total, 1), control.stopped_label(), figure
    summary, figure = finished_view(store, plan.key, plot.normalized, record)
    # the final figure comes with the result: a live update still in flight cannot outlast it
    label = f"{values['steps']:,} iterations · {control.elapsed:.1f} s"
    return finished_result(store, plan, {"kind": "run", "values": values}), summary, "", 100, label, figure


def _register_views(app: Dash, store: Jobs) -> None:
    @app.callback(
        Output(ids.DISTANCE_GRAPH, "figure", allow_duplicate=True),
        Input(ids.NORMALIZED, "value"),
        State(ids.RESULT, "data"),
        prevent_initial_call=True,
    )
    def renormalize(normalized, request):
        return distance_view(record_for(store, "run", request), "on" in (normalized or []))

    @app.callback(
        Output(ids.FIT_GRAPH, "figure"),
        Output(ids.ABLATION_W1_GRAPH, "figure"),
        Output(ids.ABLATION_W2_GRAPH, "figure"),
        Output(ids.DISPLACEMENT_GRAPH, "figure"),
        Output(ids.NORM_GRAPH, "figure"),
        Output(ids.DATA_GRAPH, "figure"),
        Output(ids.DATA_SUMMARY, "children"),
        Input(ids.RESULT, "data"),
        Input(ids.DATA_X, "value"),
        Input(ids.DATA_Y, "value"),
        prevent_initial_call=True,
    )
    def draw(request, fx, fy):
        """The other views of a finished run (the distance figure comes with the result)."""
        if request is None:  # the last run was stopped before it finished
            blank = figures.empty_figure("The last run was stopped before it finished: press Run.")
            return *[blank] * 6, ""
        record = record_for(store, "run", request)
        fit = figures.fit_figure(record["iterations"], record["mean_distance"], record["ftle"])
        data = jobs.iris_for(RunConfig.from_dict(record["config"]))  # once, for both views
        return fit, *weights_views(record, data), *data_view(record, data, fx, fy)

    @app.callback(
        Output(ids.FTLE_EPS_GRAPH, "figure"),
        Output(ids.FTLE_HIST_GRAPH, "figure"),
        Input(ids.FTLE_STORE, "data"),
        Input(ids.FTLE_HIST_EPS, "value"),
        prevent_initial_call=True,
    )
    def draw_ftle(request, hist_exponent):
        record = record_for(store, "ftle", request)
        try:
            exponent = FTLE_HIST_EXPONENT(hist_exponent)
        except ValueError as exc:
            raise PreventUpdate from exc  # not one of the dropdown's values
        j = int(np.argmin(np.abs(np.log10(record["eps"]) - exponent)))
        slopes = record["slopes"][:, j][record["kept"][:, j]]
        return (
            figures.ftle_eps_figure(record["eps"], record["mean"], record["std"], record["n_kept"], record["total"]),
            figures.ftle_histogram(slopes, record["eps"][j]),
        )


# ---- the side jobs: Compare eps, FTLE sweep, orbital stability ----------------------
@dataclass(frozen=True)
class SideJob:
    """The page parts of one on-demand job and how its record is drawn."""

    kind: str
    run: str
    cancel: str
    label: str
    message: str
    pending: str
    outputs: tuple[Output, ...]
    draw: Callable[[Record, dict], tuple]  # (record, request) -> values of ``outputs``
    unit: str  # what its progress counts
    extras: tuple[tuple[str, str], ...] = ()  # (name in the request, component id)
    autorun_view: str | None = None  # also starts when a link or preset opens this view


def side_jobs() -> tuple[SideJob, ...]:
    return (
        SideJob(
            "sweep",
            ids.SWEEP_RUN,
            ids.SWEEP_CANCEL,
            ids.SWEEP_PROGRESS,
            ids.SWEEP_MESSAGE,
            ids.SWEEP_PENDING,
            (Output(ids.EPS_PANELS_GRAPH, "figure"), Output(ids.COLLAPSE_GRAPH, "figure")),
            _draw_sweep,
            "iteration",
        ),
        SideJob(
            "ftle",
            ids.FTLE_RUN,
            ids.FTLE_CANCEL,
            ids.FTLE_PROGRESS,
            ids.FTLE_MESSAGE,
            ids.FTLE_PENDING,
            (Output(ids.FTLE_STORE, "data"),),
            lambda record, request: (no_update if record.get("cancelled") else request,),
            "initial network",
            (("inits", ids.FTLE_INITS), ("steps", ids.FTLE_STEPS)),
        ),
        SideJob(
            "orbital",
            ids.ORBITAL_RUN,
            ids.ORBITAL_CANCEL,
            ids.ORBITAL_PROGRESS,
            ids.ORBITAL_MESSAGE,
            ids.ORBITAL_PENDING,
            (Output(ids.ORBITAL_GRAPH, "figure"),),
            lambda record, _: (
                figures.orbital_figure(
                    record["iterations"], record["normalized_distance"], record["loss"], record["t0"]
                ),
            ),
            "iteration",
            (("t0", ids.ORBITAL_T0),),
            autorun_view="orbital",
        ),
    )


def _draw_sweep(record: Record, _request: dict) -> tuple:
    panel = [int(np.argmin(np.abs(record["eps"] - e))) for e in jobs.PANEL_EPS]
    iterations = record["iterations"]
    return (
        figures.eps_panels_figure(iterations, record["eps"][panel], record["distance"][panel], record["loss"]),
        figures.collapse_figure(record["iterations"], record["eps"], record["normalized_distance"]),
    )


def _register_side_job(app: Dash, store: Jobs, job: SideJob) -> None:
    inputs = [Input(job.run, "n_clicks")] + ([Input(ids.AUTORUN, "data")] if job.autorun_view else [])

    @app.callback(
        Output(job.pending, "data"),
        Output(job.message, "children", allow_duplicate=True),
        Output(job.label, "children", allow_duplicate=True),
        *inputs,
        *CONTROL_STATES,
        State(ids.VALID, "data"),
        *[State(component, "value") for _, component in job.extras],
        prevent_initial_call=True,
    )
    def request(*args):
        triggers, args = args[: len(inputs)], args[len(inputs) :]
        props, last_valid, extra = args[: len(CONTROLS)], args[len(CONTROLS)], args[len(CONTROLS) + 1 :]
        if ctx.triggered_id == ids.AUTORUN and (triggers[-1] or {}).get("view") != job.autorun_view:
            raise PreventUpdate
        values = run_values(checked(list(props), last_valid)[0])
        names = [name for name, _ in job.extras]
        request = {"kind": job.kind, "values": values, "extra": dict(zip(names, extra, strict=True))}
        try:  # refuse at once, not from a background job
            plan_of(store, job.kind, request)
        except ValueError as exc:
            return no_update, str(exc), ""
        return {**request, "token": new_token()}, "", "starting…"

    @app.callback(
        *job.outputs,
        Output(job.label, "children"),
        Output(job.message, "children"),
        Input(job.pending, "data"),
        background=True,
        running=[(Output(job.run, "disabled"), True, False), (Output(job.cancel, "disabled"), False, True)],
        progress=[Output(job.label, "children")],
        interval=400,
        prevent_initial_call=True,
    )
    def work(set_progress, pending):
        return side_job(store, job, pending, set_progress)


def side_job(store: Jobs, job: SideJob, pending: Any, set_progress: Callable) -> tuple:
    """One side job in the background -> its outputs, label and message."""
    nothing = [no_update] * len(job.outputs)
    try:
        plan, token = checked_request(store, job.kind, pending)
    except ValueError as exc:
        return *nothing, "", f"Refused: {exc}"

    def report(done, total, elapsed, *_):
        set_progress((f"{done:,} of {total:,} · {elapsed:.1f} s",))

    def wait(ahead, waited):
        set_progress((queued_label(ahead, waited),))

    outcome = execute(store, plan, token, report, wait, 0.3)
    record, control = outcome.record, outcome.control
    if outcome.message or record is None:
        return *nothing, control.stopped_label(job.unit) if control.stopped else "", outcome.message
    label = control.stopped_label(job.unit) if record.get("cancelled") else f"done in {control.elapsed:.1f} s"
    return *job.draw(record, finished_result(store, plan, pending)), label, ""


def _register_stops(app: Dash, store: Jobs) -> None:
    """Cancel asks its job to stop; so does a change of the settings a running job was started with."""
    pairs = [(ids.CANCEL, ids.PENDING)] + [(job.cancel, job.pending) for job in side_jobs()]
    for cancel, pending in pairs:

        @app.callback(Input(cancel, "n_clicks"), State(pending, "data"), prevent_initial_call=True)
        def cancel_job(_clicks, request):
            with suppress(ValueError):  # no job (or no token): nothing to stop
                store.admission.request_stop(request.get("token") if isinstance(request, dict) else None, CANCELLED)

    runs = [(ids.RUN, ids.PENDING)] + [(job.run, job.pending) for job in side_jobs()]

    @app.callback(
        Input(ids.VALID, "data"),
        *[State(run, "disabled") for run, _ in runs],
        *[State(pending, "data") for _, pending in runs],
        prevent_initial_call=True,
    )
    def stop_outdated_jobs(valid, *states):
        with suppress(ValueError):
            values = run_values(valid)
            for running, request in zip(states[: len(runs)], states[len(runs) :], strict=True):
                if running and isinstance(request, dict) and request.get("values") != values:
                    with suppress(ValueError):
                        store.admission.request_stop(request.get("token"), SETTINGS_CHANGED)


def _register_exports(app: Dash, store: Jobs) -> None:
    @app.callback(
        Output(ids.DOWNLOAD, "data"),
        Output(ids.RUN_MESSAGE, "children", allow_duplicate=True),
        Input(ids.EXPORT_CSV, "n_clicks"),
        Input(ids.EXPORT_NPZ, "n_clicks"),
        Input(ids.EXPORT_JSON, "n_clicks"),
        State(ids.RESULT, "data"),
        prevent_initial_call=True,
    )
    def export(_csv, _npz, _json, request):
        if request is None:
            return no_update, "Nothing to export yet: run to the end first."
        record = record_for(store, "run", request)
        name = f"weightspace-{RunConfig.from_dict(record['config']).key()[:10]}"
        if ctx.triggered_id == ids.EXPORT_CSV:
            return {"content": export_csv(record), "filename": f"{name}.csv"}, ""
        if ctx.triggered_id == ids.EXPORT_NPZ:
            return dcc.send_bytes(export_npz(record), f"{name}.npz"), ""
        return {"content": json.dumps(record["config"], indent=2), "filename": f"{name}-config.json"}, ""

    @app.callback(
        [Output(graph, "config") for graph in GRAPHS],
        Input(ids.IMAGE_FORMAT, "value"),
        prevent_initial_call=True,
    )
    def image_format(fmt):
        if fmt not in ("png", "svg"):
            raise PreventUpdate
        config = {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "scale": 2 if fmt == "png" else 1}}
        return [config] * len(GRAPHS)
