"""The callbacks that keep the controls, the URL and the running jobs in step: a typed box and
its log slider mirror each other, releasing a slider starts the run (auto-run), every change is
validated and written to the URL, a link or a preset sets the controls, and Cancel or a change
of the settings stops the jobs started with the old ones."""

from __future__ import annotations

import math
from contextlib import suppress
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from dashboard.jobs.flow import (
    CONTROL_INPUTS,
    CONTROL_OUTPUTS,
    CONTROL_STATES,
    checked,
    new_token,
    props_from_values,
)
from dashboard.jobs.runner import Jobs
from dashboard.page import ids
from dashboard.server.admission import CANCELLED, SETTINGS_CHANGED
from dashboard.server.compat.dash_parts import PUSHSTATE_EVENT
from dashboard.state.presets import PRESETS, matching_preset
from dashboard.state.query import parse_query, to_query
from dashboard.state.rules import CONTROLS, MAP_CONTROLS, MAP_RULES, RULES, check_values, run_values

# The URL follows the controls in the browser, not through a callback output: an output to
# the URL would close the loop controls -> URL -> controls, and Dash's renderer holds back
# every callback in such a loop while any other callback is pending, so nothing typed
# during a run would register. dcc.Location is told of the new address by the event it
# listens to, so that Back and Forward restore the controls.
PUSH_QUERY = """
function (query) {
    if (query && query !== window.location.search) {
        window.history.pushState({}, '', window.location.pathname + query);
        window.dispatchEvent(new CustomEvent('PUSHSTATE_EVENT'));
    }
}
""".replace("PUSHSTATE_EVENT", PUSHSTATE_EVENT)  # a private event of dcc.Location (dashboard.server.compat)


def register(app: Dash, store: Jobs, jobs: tuple[tuple[str, str, str], ...]) -> None:
    """``jobs``: (run, cancel, pending) of every job beside the main run (dashboard.views)."""
    _register_sync(app)
    _register_state(app)
    _register_stops(app, store, jobs)


MAP_OUTPUTS = [Output(name, "value", allow_duplicate=True) for name in MAP_CONTROLS]
BOXES = (ids.ETA, ids.EPS, ids.SEED, ids.PERTURBATIONS, ids.STEPS, ids.HIDDEN)  # typed: Enter applies


def valid_map_values(raw: dict) -> dict:
    """The map settings that pass their rules (a link writes only those; a request's other
    entries, such as its zoom box, are not settings)."""
    values = {}
    for name, value in raw.items():
        with suppress(ValueError, KeyError):
            values[name] = MAP_RULES[name].parse(value)
    return values


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

    @app.callback(
        Output(ids.SEED, "value", allow_duplicate=True),
        Output(ids.SEED_SLIDER, "value"),
        Input(ids.SEED, "value"),
        Input(ids.SEED_SLIDER, "value"),
        prevent_initial_call=True,
    )
    def sync_seed(typed, position):
        if ctx.triggered_id == ids.SEED:
            try:
                seed = RULES["seed"].parse(typed)
            except ValueError:
                return no_update, no_update
            return no_update, seed if seed <= 99 else no_update
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= 99:
            raise PreventUpdate
        return position, no_update

    _register_auto_run(app)


def slider_values(trigger: str, position: Any) -> dict[str, Any]:
    """The control a released slider sets: eta or eps from a log position (the round value
    nearest it), the seed from its position. ValueError if not a position."""
    if isinstance(position, bool) or not isinstance(position, (int, float)):
        raise ValueError(f"not a slider position: {position!r}")
    if trigger == ids.SEED_SLIDER:
        return {"seed": RULES["seed"].parse(position)}
    name = {ids.ETA_SLIDER: "eta", ids.EPS_SLIDER: "eps"}[trigger]
    return {name: RULES[name].parse(round_125(position))}


def round_125(position: float) -> float:
    """The value 1, 2 or 5 x 10^k nearest to 10^position on the log scale: where a hand on a
    log slider lands (0.02 or 5, not 0.0187; a typed value may be anything)."""
    decade = math.floor(position)
    best = min((decade + math.log10(m) for m in (1, 2, 5, 10)), key=lambda p: abs(p - position))
    return float(f"{10.0**best:.3g}")


# A new slider value counts as a release only if a pointer or a key has just let go of that
# slider (assets/slider_hand.js): Dash's slider copies every new value, a callback's too,
# into its drag_value, so that cannot tell a hand from a link or a preset setting the box.
# Telling them apart by drag_value let a link start a second run beside its own (4 of 25
# page loads here): two runs for one page could leave it on the older run's last progress.
HAND_RELEASE = """
function (eta, eps, seed) {
    const changed = dash_clientside.callback_context.triggered[0];
    const id = changed.prop_id.split('.')[0];
    const letGo = (window.wsdLetGo || {})[id];
    if (letGo === undefined || Date.now() - letGo > 3000) {  // ms: a commit follows at once
        return dash_clientside.no_update;
    }
    delete window.wsdLetGo[id];
    return {slider: id, position: changed.value};
}
"""


def _register_auto_run(app: Dash) -> None:
    """Releasing the eta or eps slider, or moving the seed slider, starts the run (when auto-run
    is on): the box and the request to run go out together, so the run reads the new value. A
    slider a callback moved (not ``HAND_RELEASE``) and a value the last request already has
    start nothing."""
    app.clientside_callback(
        HAND_RELEASE,
        Output(ids.RELEASED, "data"),
        Input(ids.ETA_SLIDER, "value"),
        Input(ids.EPS_SLIDER, "value"),
        Input(ids.SEED_SLIDER, "value"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.ETA, "value", allow_duplicate=True),
        Output(ids.EPS, "value", allow_duplicate=True),
        Output(ids.SEED, "value", allow_duplicate=True),
        Output(ids.AUTORUN, "data", allow_duplicate=True),
        Input(ids.RELEASED, "data"),
        *[Input(name, "n_submit") for name in BOXES],
        State(ids.AUTO_RUN_SWITCH, "value"),
        State(ids.PENDING, "data"),
        State(ids.RESULT, "data"),
        prevent_initial_call=True,
    )
    def auto_run(released, *args):
        """A hand applies a setting: Enter in a box runs it (whatever the switch: Enter is asked
        for; the box commits its value with the same key), a released slider runs its value."""
        switch, pending, result = args[len(BOXES) :]
        if ctx.triggered_id in BOXES:
            return no_update, no_update, no_update, {"view": "controls", "token": new_token()}
        if "on" not in (switch or []) or not isinstance(released, dict):
            raise PreventUpdate
        try:
            changed = slider_values(released.get("slider"), released.get("position"))
        except (KeyError, ValueError):
            raise PreventUpdate from None
        ((name, value),) = changed.items()
        latest = [r.get("values") for r in (pending, result) if isinstance(r, dict)]
        if any(isinstance(v, dict) and v.get(name) == value for v in latest):
            raise PreventUpdate  # the run with this value is already there or under way
        boxes = [value if name == n else no_update for n in ("eta", "eps", "seed")]
        return *boxes, {"view": "controls", "token": new_token()}


def _register_state(app: Dash) -> None:
    @app.callback(
        [Output(f"{name}-error", "children") for name in CONTROLS],
        Output(ids.VALID, "data"),
        Output(ids.PRESET_NOTE, "children"),
        *CONTROL_INPUTS,
        *[Input(name, "value") for name in MAP_CONTROLS],
        Input(ids.TABS, "value"),
        State(ids.VALID, "data"),
        State(ids.PRESET_NOTE, "children"),
        prevent_initial_call=True,
    )
    def validate(*args):
        props, map_props = args[: len(CONTROLS)], args[len(CONTROLS) : -3]
        view, last_valid, note = args[-3:]
        values, errors = checked(list(props), last_valid)
        maps = valid_map_values(dict(zip(MAP_CONTROLS, map_props, strict=True)))
        tab_only = set(ctx.triggered_prop_ids) == {f"{ids.TABS}.value"}  # a tab changed, no setting
        preset = matching_preset(values, maps, view, note, keep_shown=tab_only)  # only while its settings stand
        note = preset.sentence if preset else ""
        return *[errors.get(n, "") for n in CONTROLS], values, note

    _register_applied(app)

    @app.callback(
        *CONTROL_OUTPUTS,
        *MAP_OUTPUTS,
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
        zoom = parsed.pop("zoom", None)  # the map's request takes it (dashboard.views.regimes)
        # an address without settings (a first visit, or Back to it) shows the default run, so
        # that the page never opens on empty plots nor keeps a later run under the bare URL
        start = {} if not search else last_valid if isinstance(last_valid, dict) else {}
        values = {**check_values(start, {})[0], **parsed}
        maps = [parsed.get(name, no_update) for name in MAP_CONTROLS]
        message = " · ".join(messages)
        autorun = {"view": view, "token": new_token(), **({"zoom": zoom} if zoom else {})}
        return *props_from_values(values), *maps, view, message, autorun

    @app.callback(
        *CONTROL_OUTPUTS,
        *MAP_OUTPUTS,
        Output(ids.TABS, "value", allow_duplicate=True),
        Output(ids.AUTORUN, "data", allow_duplicate=True),
        Input({"type": ids.PRESET, "name": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def preset(clicks):
        chosen = PRESETS.get((ctx.triggered_id or {}).get("name"))
        if chosen is None or not any(clicks):
            raise PreventUpdate
        values = chosen.settings()
        maps = [(chosen.maps or {}).get(name, no_update) for name in MAP_CONTROLS]
        autorun = {"view": chosen.view, "token": new_token()}
        return *props_from_values(values), *maps, chosen.view, autorun


def _register_stops(app: Dash, store: Jobs, jobs: tuple[tuple[str, str, str], ...]) -> None:
    """Cancel asks its job to stop; so does a change of the settings a running job was started
    with. ``jobs``: (run, cancel, pending) of every job beside the main run."""
    pairs = [(ids.CANCEL, ids.PENDING)] + [(cancel, pending) for _, cancel, pending in jobs]
    for cancel, pending in pairs:

        @app.callback(Input(cancel, "n_clicks"), State(pending, "data"), prevent_initial_call=True)
        def cancel_job(_clicks, request):
            with suppress(ValueError):  # no job (or no token): nothing to stop
                store.admission.request_stop(request.get("token") if isinstance(request, dict) else None, CANCELLED)

    runs = [(ids.RUN, ids.PENDING)] + [(run, pending) for run, _, pending in jobs]

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


def shown_values(view: str, result: Any, pending: Any, finished_map: Any) -> list[dict]:
    """The run settings of what the page shows or is computing: the finished map's on the
    Regimes view, else the main run's result and its job under way."""
    shown = [finished_map] if view == "regimes" else [result, pending]
    return [r["values"] for r in shown if isinstance(r, dict) and isinstance(r.get("values"), dict)]


def applied(values: dict[str, Any], shown: list[dict]) -> bool:
    """Whether ``values`` (valid control values) are those of a run on screen or under way."""
    try:
        wanted = run_values(values)
        return any(run_values(v) == wanted for v in shown)
    except ValueError:
        return False


def stale_note(values: Any, shown: list[dict]) -> str:
    """What the page says when the settings differ from the plots on screen."""
    if not isinstance(values, dict) or not shown or applied(values, shown):
        return ""
    return "The plots show the last run, not these settings: press Run (or Enter in a box)."


def _register_applied(app: Dash) -> None:
    """The URL and the out-of-date note follow what is on screen: a setting typed or chosen but
    not yet run changes neither the URL (a link would name a plot the page does not show) nor
    the plots; the note says so (Enter in a box applies it: ``auto_run``)."""

    @app.callback(
        Output(ids.WRITTEN_QUERY, "data"),
        Input(ids.RESULT, "data"),
        Input(ids.PENDING, "data"),
        Input(ids.MAP_STORE, "data"),
        Input(ids.TABS, "value"),
        Input(ids.NORMALIZED, "value"),
        *CONTROL_STATES,
        *[State(name, "value") for name in MAP_CONTROLS],
        State(ids.VALID, "data"),
        prevent_initial_call=True,
    )
    def write_query(result, pending, finished_map, view, _normalized, *args):
        props, map_props, last_valid = args[: len(CONTROLS)], args[len(CONTROLS) : -1], args[-1]
        # the controls as the browser holds them now (a link's or a preset's values land
        # together with its tab): a URL is written only once they are what the page shows
        values, _ = checked(list(props), last_valid)
        if not applied(values, shown_values(view, result, pending, finished_map)):
            raise PreventUpdate
        maps = valid_map_values(dict(zip(MAP_CONTROLS, map_props, strict=True)))
        if view == "regimes" and isinstance(finished_map, dict):
            extra = finished_map.get("extra") or {}
            maps = {**maps, **valid_map_values(extra), "zoom": extra.get("zoom")}
        return to_query(values, view, maps)

    app.clientside_callback(PUSH_QUERY, Input(ids.WRITTEN_QUERY, "data"), prevent_initial_call=True)

    @app.callback(
        Output(ids.STALE_NOTE, "children"),
        Input(ids.VALID, "data"),
        Input(ids.RESULT, "data"),
        Input(ids.PENDING, "data"),
        Input(ids.MAP_STORE, "data"),
        State(ids.TABS, "value"),
        prevent_initial_call=True,
    )
    def mark_out_of_date(valid, result, pending, finished_map, view):
        return stale_note(valid, shown_values(view, result, pending, finished_map))
