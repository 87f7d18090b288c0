"""Regimes: how the learning rate sorts training into regimes (docs/method.md §6). A map over eta
fills in live as its chunks finish: the 1-D strip (FTLE, loss and accuracy, iterations to the
target accuracy, loss-increasing steps, sharpness over 2/eta, with regime bands), the orbit
diagram, and the eta x eps and eta x seed maps. A box drawn on a map and "Zoom in" recompute
that rectangle at a finer grid (its title, a line under the settings and the URL say what it
covers; "Zoom out" goes back to the map it refines); a click opens that point's run in the Divergence view (what a
box or a click asks for: dashboard.views.map_zoom)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from core.engine.parallel import sent_again_news
from dashboard.figures.map_kinds import map_figure
from dashboard.jobs import compute, plans
from dashboard.jobs.flow import (
    CONTROL_OUTPUTS,
    CONTROL_STATES,
    checked,
    checked_request,
    finished_result,
    new_job,
    new_token,
    plan_of,
    props_from_values,
    visitor_of,
)
from dashboard.jobs.records import MapRecord
from dashboard.jobs.runner import Jobs, execute, queued_label
from dashboard.page import ids
from dashboard.page.components import explain, graph, job_bar, text_input
from dashboard.state.map_kinds import MAP_VIEWS
from dashboard.state.rules import MAP_CONTROLS, MAP_RULES, check_values, map_values, run_values
from dashboard.views import View
from dashboard.views.map_zoom import clicked_run, with_coarse, zoom_note, zoom_out_request, zoom_request

VIEW = View("regimes", "Regimes")
GRAPHS = (ids.MAP_GRAPH,)
SIDE_JOBS = ()
STOPPABLE = ((ids.MAP_RUN, ids.MAP_CANCEL, ids.MAP_PENDING),)  # (run, cancel, pending): stopped like side jobs
LIVE_SECONDS = 0.5
MAP_STATES = [State(name, "value") for name in MAP_CONTROLS]


def layout() -> list:
    def field(label: str, name: str, width: str = "6rem"):
        return html.Label([label, text_input(name, MAP_RULES[name].default, "decimal", style={"width": width})])

    return [
        explain(
            "Many learning rates at once, each with several initial networks (5 nudged copies each): "
            "where does training stay stable, where do nearby networks separate exponentially while "
            "it still learns (the edge of stability), where does it stop learning (chaos)? The "
            "network, data set, seed and ε are the controls on the left; the map has its own iterations. Drag across a "
            "map (on the strip or the orbit diagram: across a span of η) and press Zoom in to "
            "recompute it finer (Zoom out goes back); click a point to open that run."
        ),
        html.Div(
            className="row-controls",
            children=[
                html.Label(
                    [
                        "map ",
                        dcc.Dropdown(
                            id=ids.MAP_KIND,
                            options=[{"label": view.label, "value": name} for name, view in MAP_VIEWS.items()],
                            value=MAP_RULES["map"].default,
                            clearable=False,
                            style={"width": "15rem"},
                        ),
                    ]
                ),
                field("η from ", ids.ETA_MIN),
                field(" to ", ids.ETA_MAX),
                field(" points ", ids.ETA_POINTS, "4rem"),
                field(" networks ", ids.MAP_INITS, "4rem"),
                field(" iterations ", ids.MAP_STEPS, "5rem"),
            ],
        ),
        job_bar(
            ids.MAP_RUN,
            ids.MAP_CANCEL,
            ids.MAP_PROGRESS,
            ids.MAP_MESSAGE,
            ids.MAP_PENDING,
            "Run map",
            extra=[html.Button("Zoom in", id=ids.MAP_ZOOM, n_clicks=0, title="recompute the box drawn on the map")],
        ),
        html.Div(
            id=ids.MAP_ZOOM_NOTE,
            className="zoom-note",
            hidden=True,
            children=[
                html.Span(id=f"{ids.MAP_ZOOM_NOTE}-text"),
                html.Button("Zoom out", id=ids.MAP_ZOOM_OUT, n_clicks=0, title="back to the map this zoom refines"),
            ],
        ),
        dcc.Store(id=ids.MAP_STORE),
        # as tall as its figure (the strip 1,050 px, the orbit diagram and maps 600-650): a
        # fixed height left ~450 px empty under the maps; the strip draws its regime legend
        graph(ids.MAP_GRAPH, None, "Press Run map."),
    ]


def progress_label(done: int, total: int, elapsed: float, estimate: float | None = None) -> str:
    """'5 of 12 cells · 20.3 s · ~28 s left'. The time left is the model's (``estimate``, the
    plan's seconds for the whole map, core.engine.speed) for the cells not done, scaled by how much
    slower or faster than the model the job has run so far, trusted in proportion to the share
    of cells done: a naive extrapolation from the first cells starts 2-3x high, because they
    also carry the start of the worker processes (a map done in 77 s first read "~261 s left")."""
    text = f"{done:,} of {total:,} cells · {elapsed:.1f} s"
    if not 0 < done < total:
        return text
    share = done / total
    if estimate is None or estimate <= 0:
        left = elapsed * (total - done) / done
    else:
        observed = elapsed / (estimate * share)  # > 1: slower than the model
        left = estimate * (1 - share) * ((1 - share) + share * observed)
    return f"{text} · ~{left:.0f} s left"


def map_job(store: Jobs, pending: Any, set_progress: Callable) -> tuple:
    """The map's background job -> (figure, finished request, label, message) (plain, for tests)."""
    try:
        plan, token = checked_request(store, "map", pending)
    except ValueError as exc:
        return no_update, no_update, "", f"Refused: {exc}"
    config = plans.map_config(pending["values"], map_values(pending["extra"]))
    kind, n_inits = pending["extra"]["map"], int(pending["extra"]["inits"])
    coarse = _coarse_record(store, pending)  # a zoom: the coarse map shows until replaced
    zoomed = pending["extra"].get("zoom") is not None
    estimate = plan.seconds

    def live(done, total, elapsed, partial):
        record = compute.map_record(kind, config, n_inits, partial)
        record = record if coarse is None else with_coarse(record, coarse)
        label = progress_label(done, total, elapsed, estimate)
        news = sent_again_news("cell")  # e.g. '8 cells sent again (a worker stopped)'
        label = f"{label} · {news}" if news else label
        set_progress((label, map_figure(record, live=True, zoomed=zoomed).to_plotly_json()))

    def wait(ahead, waited):
        set_progress((queued_label(ahead, waited), no_update))

    outcome = execute(store, plan, token, live, wait, LIVE_SECONDS, visitor=visitor_of(store, pending))
    record, control = outcome.record, outcome.control
    if outcome.message or record is None:
        return no_update, no_update, control.stopped_label("cell") if control.stopped else "", outcome.message
    if record.cancelled:
        return map_figure(record, zoomed=zoomed), None, control.stopped_label("cell"), ""
    label = f"{record.etas.size} learning rates · done in {control.elapsed:.1f} s"
    figure = map_figure(record, zoomed=zoomed).to_plotly_json()
    store.store(view_key(plan.key), figure)  # a replay sends it as it is
    return figure, finished_result(store, plan, pending), label, ""


def _coarse_record(store: Jobs, pending: dict) -> MapRecord | None:
    """The map a zoom refines, if the cache has it (its request is the zoom's without the box)."""
    extra = pending.get("extra") or {}
    if extra.get("zoom") is None:
        return None
    coarse = {**pending, "extra": {k: v for k, v in extra.items() if k != "zoom"}}
    return store.load(plan_of(store, "map", coarse).key)


def view_key(key: str) -> str:
    """Where a finished map's figure is kept beside its record."""
    return f"{key}:view"


def replay(store: Jobs, key: str):
    """A finished map's figure, if it and its record are stored (a click or zoom needs the record)."""
    return store.load(view_key(key)) if store.has(key) else None


def register(app: Dash, store: Jobs) -> None:
    @app.callback(
        Output(ids.MAP_PENDING, "data"),
        Output(ids.MAP_MESSAGE, "children", allow_duplicate=True),
        Output(ids.MAP_PROGRESS, "children", allow_duplicate=True),
        Output(ids.MAP_GRAPH, "figure", allow_duplicate=True),
        Output(ids.MAP_STORE, "data", allow_duplicate=True),
        Input(ids.MAP_RUN, "n_clicks"),
        Input(ids.MAP_ZOOM, "n_clicks"),
        Input(ids.MAP_ZOOM_OUT, "n_clicks"),
        Input(ids.AUTORUN, "data"),
        State(ids.MAP_RUN, "disabled"),
        *CONTROL_STATES,
        State(ids.VALID, "data"),
        *MAP_STATES,
        State(ids.MAP_GRAPH, "selectedData"),
        State(ids.MAP_STORE, "data"),
        prevent_initial_call=True,
    )
    def request(_run, _zoom_in, _zoom_out, autorun, running, *args):
        """Refusals and cached maps answer at once; the others start the background job. Run
        map runs the settings above; Zoom in the box drawn on the map on screen, Zoom out the
        map that one refines; a link's zoom comes with its request to run (AUTORUN)."""
        n = len(CONTROL_STATES)
        props, last_valid, map_props = args[:n], args[n], args[n + 1 : n + 1 + len(MAP_STATES)]
        selected, finished = args[-2], args[-1]
        if ctx.triggered_id == ids.AUTORUN and (autorun or {}).get("view") != VIEW.id:
            raise PreventUpdate
        values = run_values(checked(list(props), last_valid)[0])
        extra = dict(zip(MAP_CONTROLS, map_props, strict=True))
        if ctx.triggered_id == ids.AUTORUN and autorun.get("zoom") is not None:
            extra["zoom"] = autorun["zoom"]
        if ctx.triggered_id in (ids.MAP_ZOOM, ids.MAP_ZOOM_OUT):
            try:
                if ctx.triggered_id == ids.MAP_ZOOM:
                    values, extra = zoom_request(selected, finished)
                else:
                    values, extra = zoom_out_request(finished)
            except ValueError as exc:
                return no_update, str(exc), "", no_update, no_update
        request = {"kind": "map", "values": values, "extra": extra}
        try:  # refuse at once, not from a background job
            plan = plan_of(store, "map", request)
        except ValueError as exc:
            return no_update, str(exc), "", no_update, no_update
        figure = None if running else replay(store, plan.key)  # during a job, a new one stops it
        if figure is not None:
            return no_update, "", "from the cache", figure, finished_result(store, plan, request)
        return {**request, **new_job(store)}, "", "starting…", no_update, no_update

    @app.callback(
        Output(ids.MAP_GRAPH, "figure"),
        Output(ids.MAP_STORE, "data"),
        Output(ids.MAP_PROGRESS, "children"),
        Output(ids.MAP_MESSAGE, "children"),
        Input(ids.MAP_PENDING, "data"),
        background=True,
        running=[
            (Output(ids.MAP_RUN, "disabled"), True, False),
            (Output(ids.MAP_ZOOM, "disabled"), True, False),
            (Output(ids.MAP_ZOOM_OUT, "disabled"), True, False),
            (Output(ids.MAP_CANCEL, "disabled"), False, True),
        ],
        progress=[Output(ids.MAP_PROGRESS, "children"), Output(ids.MAP_GRAPH, "figure")],  # the label first
        interval=200,
        prevent_initial_call=True,
        manager=getattr(app, "coordinator_manager", None),  # with Celery: here, its cells on the workers
    )
    def work(set_progress, pending):
        return map_job(store, pending, set_progress)

    @app.callback(
        Output(f"{ids.MAP_ZOOM_NOTE}-text", "children"),
        Output(ids.MAP_ZOOM_NOTE, "hidden"),
        Input(ids.MAP_STORE, "data"),
    )
    def show_zoom(finished):
        note = zoom_note(finished)
        return note, not note

    @app.callback(
        *CONTROL_OUTPUTS,
        Output(ids.TABS, "value", allow_duplicate=True),
        Output(ids.AUTORUN, "data", allow_duplicate=True),
        Input(ids.MAP_GRAPH, "clickData"),
        State(ids.MAP_STORE, "data"),
        prevent_initial_call=True,
    )
    def open_run(click, finished):
        try:
            values = clicked_run(click, finished)
        except (ValueError, TypeError, KeyError, IndexError):
            raise PreventUpdate from None
        values = check_values(values, {})[0]
        return *props_from_values(values), "divergence", {"view": "divergence", "token": new_token()}
