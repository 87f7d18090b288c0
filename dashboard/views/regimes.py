"""Regimes: how the learning rate sorts training into regimes (docs/method.md §6). A map over eta
fills in live as its chunks finish: the 1-D strip (FTLE, loss and accuracy, iterations to the
target accuracy, loss-increasing steps, sharpness over 2/eta, with regime bands), the orbit
diagram, the eta x eps and eta x seed maps, and the maps over eta and a setting of the run
(width, depth, L2, momentum, batch size; its values typed in "values"). "show" picks what a 2-D
map's points show (FTLE mean, leading exponent, final loss, steps to the target accuracy: each
kind those it can); the CSV button downloads the map on screen. A box drawn on a map and "Zoom in" recompute
that rectangle at a finer grid (its title, a line under the settings and the URL say what it
covers; "Zoom out" goes back to the map it refines); a click opens that point's run in the Divergence view (what a
box or a click asks for: dashboard.views.map_zoom)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update, set_props
from dash.exceptions import PreventUpdate

from core.engine.parallel import sent_again_news
from core.experiments.map_kinds import MAP_KINDS, Map2D
from core.experiments.maps import PLANES
from core.experiments.regimes import TARGET_ACCURACY
from dashboard.figures.map_kinds import map_figure
from dashboard.jobs import compute, plans
from dashboard.jobs.flow import (
    CONTROL_STATES,
    JobSteps,
    background_job,
    checked,
    finished_result,
    new_job,
    plan_of,
    record_for,
    with_record_key,
)
from dashboard.jobs.records import MapRecord, Record
from dashboard.jobs.runner import Control, Jobs, Plan, queued_label
from dashboard.page import ids
from dashboard.page.components import explain, graph, job_bar, text_input
from dashboard.state.map_kinds import MAP_VIEWS
from dashboard.state.rules import MAP_CONTROLS, MAP_RULES, map_values, run_values
from dashboard.views import View
from dashboard.views.map_zoom import with_coarse, zoom_note, zoom_out_request, zoom_request

VIEW = View("regimes", "Regimes")
GRAPHS = (ids.MAP_GRAPH,)
SIDE_JOBS = ()
STOPPABLE = ((ids.MAP_RUN, ids.MAP_CANCEL, ids.MAP_PENDING),)  # (run, cancel, pending): stopped like side jobs
LIVE_SECONDS = 0.5
MAP_STATES = {name: State(name, "value") for name in MAP_CONTROLS}


def layout() -> list:
    def field(label: str, name: str, width: str = "6rem") -> html.Label:
        return html.Label([label, text_input(name, MAP_RULES[name].default, None, style={"width": width})])

    return [
        explain(
            "Many learning rates at once, each with several initial networks (5 nudged copies each): "
            "where does training stay stable, where do nearby networks separate exponentially while "
            "it still learns (the edge of stability), where does it stop learning (chaos)? The "
            "network, data set, seed and ε are the controls on the left; the map has its own iterations. Drag across a "
            "map (on the strip or the orbit diagram: across a span of η) and press Zoom in to "
            "recompute it finer (Zoom out goes back); click a point to open that run. The maps over width, "
            'depth, L2, momentum and batch size take their second axis from "values" (empty: the map\'s own); '
            '"show" picks what a 2-D map\'s points show.'
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
        html.Div(
            className="row-controls",
            children=[
                html.Label(
                    [
                        "show ",
                        dcc.Dropdown(
                            id=ids.MAP_VALUE,
                            options=value_options(MAP_RULES["map"].default),
                            value=MAP_RULES["map_value"].default,
                            clearable=False,
                            style={"width": "17rem"},
                        ),
                    ],
                    title="what a 2-D map's points show (the strip and the orbit diagram show theirs)",
                ),
                html.Label(
                    [
                        " values ",
                        text_input(
                            ids.MAP_AXIS,
                            MAP_RULES["map_axis"].default,
                            None,
                            placeholder="the map's own",
                            style={"width": "11rem"},
                        ),
                    ],
                    title="a width, depth, L2, momentum or batch size map: its second axis, e.g. 2 5 10 20",
                ),  # fmt: skip
            ],
        ),
        job_bar(
            ids.MAP_RUN,
            ids.MAP_CANCEL,
            ids.MAP_PROGRESS,
            ids.MAP_MESSAGE,
            ids.MAP_PENDING,
            "Run map",
            extra=[
                html.Button("Zoom in", id=ids.MAP_ZOOM, n_clicks=0, title="recompute the box drawn on the map"),
                html.Button("CSV", id=ids.MAP_EXPORT, n_clicks=0, title="download the map's points"),
                dcc.Download(id=ids.MAP_DOWNLOAD),
            ],
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


# what a 2-D map's points can show (core.experiments.maps.VALUES), as the selector names them
VALUE_LABELS = {
    "default": "the map's own value",
    "ftle": "FTLE mean",
    "leading": "leading tangent exponent",
    "loss": "final loss",
    "steps": f"steps to {100 * TARGET_ACCURACY:g}% test accuracy",
}


def value_options(kind: str) -> list[dict[str, Any]]:
    """The selector's options for a map kind: those its points cannot show are disabled (the
    strip and the orbit diagram show their own)."""
    core_kind = MAP_KINDS[kind]
    shown = PLANES[kind].values if isinstance(core_kind, Map2D) else ()
    return [
        {"label": label, "value": v, "disabled": v != "default" and v not in shown} for v, label in VALUE_LABELS.items()
    ]


def map_csv(record: MapRecord) -> str:
    """The finished map's points as CSV (its kind's table: dashboard.state.map_kinds)."""
    return MAP_VIEWS[record.kind].table(record).to_csv(index=False)


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


class MapSteps(JobSteps):
    """The map's steps: the map filling in live (a zoom over its coarse map), then the
    finished map, its figure kept beside its record for a replay."""

    every = LIVE_SECONDS

    def __init__(self, store: Jobs) -> None:
        self.store, self.zoomed = store, False

    def progress(self, plan: Plan, pending: dict, set_progress: Callable) -> tuple[Callable, Callable]:
        config = plans.map_config(pending["values"], map_values(pending["extra"]))
        kind, n_inits = pending["extra"]["map"], int(pending["extra"]["inits"])
        coarse = _coarse_record(self.store, pending)  # a zoom: the coarse map shows until replaced
        zoomed = self.zoomed = pending["extra"].get("zoom") is not None

        def live(done: int, total: int, elapsed: float, partial: Any) -> None:
            record = compute.map_record(kind, config, n_inits, partial)
            record = record if coarse is None else with_coarse(record, coarse)
            label = progress_label(done, total, elapsed, plan.seconds)
            news = sent_again_news("cell")  # e.g. '8 cells sent again (a worker stopped)'
            label = f"{label} · {news}" if news else label
            figure = with_record_key(map_figure(record, live=True, zoomed=zoomed).to_plotly_json(), plan.key)
            set_progress((label, figure))

        def wait(ahead: int, waited: float) -> None:
            set_progress((queued_label(ahead, waited), no_update))

        return live, wait

    def refused(self, message: str) -> tuple:
        return no_update, no_update, "", message

    def ended(self, message: str, control: Control) -> tuple:
        return no_update, no_update, control.stopped_label("cell") if control.stopped else "", message

    def drawn(self, record: Record, control: Control, plan: Plan, pending: dict) -> tuple:
        assert isinstance(record, MapRecord)  # a plan of kind "map"
        figure = with_record_key(map_figure(record, zoomed=self.zoomed), plan.key)
        if record.cancelled:
            return figure, None, control.stopped_label("cell"), ""
        label = f"{record.etas.size} learning rates · done in {control.elapsed:.1f} s"
        figure = figure.to_plotly_json()
        self.store.store(view_key(plan.key), figure)  # a replay sends it as it is
        return figure, finished_result(self.store, plan, pending), label, ""


def map_job(store: Jobs, pending: Any, set_progress: Callable) -> tuple:
    """The map's background job -> (figure, finished request, label, message) (plain, for tests)."""
    return background_job(store, "map", MapSteps(store), pending, set_progress)


def _coarse_record(store: Jobs, pending: dict) -> MapRecord | None:
    """The map a zoom refines, if the cache has it (its request is the zoom's without the box)."""
    extra = pending.get("extra") or {}
    if extra.get("zoom") is None:
        return None
    coarse = {**pending, "extra": {k: v for k, v in extra.items() if k != "zoom"}}
    record = store.load(plan_of(store, "map", coarse).key)
    return record if isinstance(record, MapRecord) else None


def view_key(key: str) -> str:
    """Where a finished map's figure is kept beside its record."""
    return f"{key}:view"


def replay(store: Jobs, key: str) -> Any:
    """A finished map's figure, if it and its record are stored (a click or zoom needs the record)."""
    figure = store.entry(view_key(key)) if store.has(key) else None
    return None if figure is None else with_record_key(figure, key)


def register(app: Dash, store: Jobs) -> None:
    @app.callback(
        output={
            "pending": Output(ids.MAP_PENDING, "data"),
            # a cached map answers at once, from this plain callback, not through the job that
            # writes these while it runs (Dash: a background job's outputs come only from its job)
            "figure": Output(ids.MAP_GRAPH, "figure", allow_duplicate=True),
            "finished": Output(ids.MAP_STORE, "data", allow_duplicate=True),
        },
        inputs={
            "run": Input(ids.MAP_RUN, "n_clicks"),
            "zoom_in": Input(ids.MAP_ZOOM, "n_clicks"),
            "zoom_out": Input(ids.MAP_ZOOM_OUT, "n_clicks"),
            "autorun": Input(ids.AUTORUN, "data"),
        },
        state={
            "running": State(ids.MAP_RUN, "disabled"),
            "controls": CONTROL_STATES,
            "last_valid": State(ids.VALID, "data"),
            "maps": MAP_STATES,
            "selected": State(ids.MAP_GRAPH, "selectedData"),
            "finished": State(ids.MAP_STORE, "data"),
        },
        prevent_initial_call=True,
    )
    def request(
        run: Any,
        zoom_in: Any,
        zoom_out: Any,
        autorun: Any,
        running: Any,
        controls: Any,
        last_valid: Any,
        maps: Any,
        selected: Any,
        finished: Any,
    ) -> dict[str, Any]:
        """Refusals and cached maps answer at once; the others start the background job. Run
        map runs the settings above; Zoom in the box drawn on the map on screen, Zoom out the
        map that one refines; a link's zoom comes with its request to run (AUTORUN). The
        message and label are set beside (``set_props``): the job writes them while it runs."""
        if ctx.triggered_id == ids.AUTORUN and (autorun or {}).get("view") != VIEW.id:
            raise PreventUpdate
        try:
            request = map_request(ctx.triggered_id, controls, last_valid, maps, autorun, selected, finished)
            plan = plan_of(store, "map", request)  # refuse at once, not from a background job
        except ValueError as exc:
            return told(str(exc), "", {"pending": no_update, "figure": no_update, "finished": no_update})
        figure = None if running else replay(store, plan.key)  # during a job, a new one stops it
        if figure is not None:
            answer = {"pending": no_update, "figure": figure, "finished": finished_result(store, plan, request)}
            return told("", "from the cache", answer)
        return told(
            "", "starting…", {"pending": {**request, **new_job(store)}, "figure": no_update, "finished": no_update}
        )

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
    def work(set_progress: Callable, pending: Any) -> tuple[Any, ...]:
        return map_job(store, pending, set_progress)

    @app.callback(Output(ids.MAP_VALUE, "options"), Input(ids.MAP_KIND, "value"))
    def show_values(kind: Any) -> list[dict[str, Any]]:
        return value_options(kind if kind in MAP_VIEWS else MAP_RULES["map"].default)

    @app.callback(Output(ids.MAP_DOWNLOAD, "data"), Input(ids.MAP_EXPORT, "n_clicks"), State(ids.MAP_STORE, "data"),
                  prevent_initial_call=True)  # fmt: skip
    def export(_clicks: Any, finished: Any) -> object:
        """The finished map on screen as CSV (the message beside Run map says if there is none)."""
        if finished is None:
            set_props(ids.MAP_MESSAGE, {"children": "Nothing to export yet: run a map to the end first."})
            return no_update
        record = record_for(store, "map", finished)
        assert isinstance(record, MapRecord)  # a plan of kind "map"
        return {"content": map_csv(record), "filename": f"map-{record.kind}.csv"}

    @app.callback(
        Output(f"{ids.MAP_ZOOM_NOTE}-text", "children"),
        Output(ids.MAP_ZOOM_NOTE, "hidden"),
        Input(ids.MAP_STORE, "data"),
    )
    def show_zoom(finished: Any) -> tuple[str, bool]:
        note = zoom_note(finished)
        return note, not note


def told(message: str, label: str, outputs: dict) -> dict:
    """``outputs``, with the map's message and progress label set beside them."""
    set_props(ids.MAP_MESSAGE, {"children": message})
    set_props(ids.MAP_PROGRESS, {"children": label})
    return outputs


def map_request(
    trigger: Any, controls: dict, last_valid: Any, maps: dict, autorun: Any, selected: Any, finished: Any
) -> dict:
    """What Run map, Zoom in, Zoom out or a link asks to compute (ValueError: a zoom that cannot be)."""
    values = run_values(checked(controls, last_valid)[0])
    extra = dict(maps)
    if trigger == ids.AUTORUN and autorun.get("zoom") is not None:
        extra["zoom"] = autorun["zoom"]
    if trigger == ids.MAP_ZOOM:
        values, extra = zoom_request(selected, finished)
    elif trigger == ids.MAP_ZOOM_OUT:
        values, extra = zoom_out_request(finished)
    return {"kind": "map", "values": values, "extra": extra}
