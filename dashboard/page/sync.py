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
    control_props,
    new_token,
)
from dashboard.jobs.runner import Jobs
from dashboard.page import ids
from dashboard.server.admission import CANCELLED, SETTINGS_CHANGED
from dashboard.server.compat.dash_parts import PUSHSTATE_EVENT
from dashboard.state.presets import PRESETS, matching_preset
from dashboard.state.query import parse_query, to_query
from dashboard.state.rules import CONTROLS, MAP_CONTROLS, MAP_RULES, RULES, check_values, run_values, shown_text
from dashboard.views.map_zoom import clicked_run

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


MAP_INPUTS = {name: Input(name, "value") for name in MAP_CONTROLS}
MAP_STATES = {name: State(name, "value") for name in MAP_CONTROLS}
MAP_OUTPUTS = {name: Output(name, "value") for name in MAP_CONTROLS}
BOXES = (ids.ETA, ids.EPS, ids.SEED, ids.PERTURBATIONS, ids.STEPS, ids.HIDDEN, ids.MOMENTUM, ids.BATCH, ids.BATCH_SEED)
# (Enter in any of BOXES applies)
SLIDERS = ("eta", "eps", "seed")  # the controls with a slider beside their box (slider_values)


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
            # the box and its slider mirror each other in this one callback; the box's other
            # writers, ``apply`` and ``auto_run``, are kept apart for the reasons given there
            Output(box, "value", allow_duplicate=True),
            Output(slider, "value"),
            Input(box, "value"),
            Input(slider, "value"),
            prevent_initial_call=True,
        )
        def sync(typed: Any, position: Any, _box: str = box) -> tuple[Any, Any]:
            if ctx.triggered_id == _box:
                try:
                    return no_update, math.log10(RULES[_box].parse(typed))
                except ValueError:
                    return no_update, no_update  # the message comes from the validation callback
            if isinstance(position, bool) or not isinstance(position, (int, float)) or not -20 < position < 5:
                raise PreventUpdate  # not a position of these sliders
            return float(f"{10.0**position:.3g}"), no_update

    @app.callback(
        Output(ids.SEED, "value", allow_duplicate=True),  # as the boxes of eta and eps above
        Output(ids.SEED_SLIDER, "value"),
        Input(ids.SEED, "value"),
        Input(ids.SEED_SLIDER, "value"),
        prevent_initial_call=True,
    )
    def sync_seed(typed: Any, position: Any) -> tuple[Any, Any]:
        if ctx.triggered_id == ids.SEED:
            try:
                seed = RULES["seed"].parse(typed)
            except ValueError:
                return no_update, no_update
            return no_update, seed if seed <= 99 else no_update
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= 99:
            raise PreventUpdate
        return position, no_update

    app.clientside_callback(
        HAND_RELEASE,
        Output(ids.RELEASED, "data"),
        Input(ids.ETA_SLIDER, "value"),
        Input(ids.EPS_SLIDER, "value"),
        Input(ids.SEED_SLIDER, "value"),
        prevent_initial_call=True,
    )


def slider_values(trigger: Any, position: Any) -> dict[str, Any]:
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


def hand_applied(trigger: Any, released: Any, switch: Any, pending: Any, result: Any) -> dict[str, Any]:
    """A hand applies a setting: Enter in a box runs it (whatever the switch: Enter is asked
    for; the box commits its value with the same key), a released slider runs its value (when
    auto-run is on), so the box and the request to run go out together and the run reads the
    new value. A slider a callback moved (not ``HAND_RELEASE``) and a value the last request
    already has start nothing. -> the controls it sets (by name) and the request to run."""
    if trigger in BOXES:
        return {"controls": {}, "autorun": {"view": "controls", "token": new_token()}}
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
    return {"controls": changed, "autorun": {"view": "controls", "token": new_token()}}


def linked(search: Any, last_valid: Any, written: Any) -> dict[str, Any]:
    """A link (an address typed, opened, or reached by Back or Forward) -> its controls, map
    controls, view and message, and the request to run it."""
    if search == written or not isinstance(search, str):  # the app mirrored its own state
        raise PreventUpdate
    parsed, view, messages = parse_query(search)
    zoom = parsed.pop("zoom", None)  # the map's request takes it (dashboard.views.regimes)
    # an address without settings (a first visit, or Back to it) shows the default run, so
    # that the page never opens on empty plots nor keeps a later run under the bare URL
    start = {} if not search else last_valid if isinstance(last_valid, dict) else {}
    values = {**check_values(start, {})[0], **parsed}
    return {
        "controls": values,
        "maps": {name: parsed[name] for name in MAP_CONTROLS if name in parsed},
        "view": view,
        "message": " · ".join(messages),
        "autorun": {"view": view, "token": new_token(), **({"zoom": zoom} if zoom else {})},
    }


def chosen_preset(trigger: Any, clicks: Any) -> dict[str, Any]:
    """A preset's button -> its controls, map controls and view, and the request to run it."""
    name = trigger.get("name") if isinstance(trigger, dict) else None
    chosen = PRESETS.get(name) if isinstance(name, str) else None
    if chosen is None or not any(clicks or []):
        raise PreventUpdate
    return {
        "controls": chosen.settings(),
        "maps": dict(chosen.maps or {}),
        "view": chosen.view,
        "autorun": {"view": chosen.view, "token": new_token()},
    }


def opened_run(click: Any, finished_map: Any) -> dict[str, Any]:
    """A click on a finished map -> the run of that point, opened in the Divergence view."""
    try:
        values = clicked_run(click, finished_map)
    except (ValueError, TypeError, KeyError, IndexError):
        raise PreventUpdate from None
    values = check_values(values, {})[0]
    return {"controls": values, "view": "divergence", "autorun": {"view": "divergence", "token": new_token()}}


def applied_outputs(change: dict[str, Any]) -> dict[str, Any]:
    """A change (``linked``, ``chosen_preset``, ``opened_run``, ``hand_applied``) -> the values of
    ``apply``'s outputs: what the change does not set is left as it is."""
    props = control_props(change.get("controls", {}))
    for name in ("hidden", "batch"):  # as the box takes them: a deeper network's "10 10", "full"
        if name in props:
            props[name] = shown_text(name, props[name])
    return {
        "controls": {name: props.get(name, no_update) for name in CONTROLS},
        "maps": {name: change.get("maps", {}).get(name, no_update) for name in MAP_CONTROLS},
        "view": change.get("view", no_update),
        "message": change.get("message", no_update),
        "autorun": change["autorun"],
    }


def _register_state(app: Dash) -> None:
    @app.callback(
        output={
            "errors": {name: Output(f"{name}-error", "children") for name in CONTROLS},
            "valid": Output(ids.VALID, "data"),
            "note": Output(ids.PRESET_NOTE, "children"),
        },
        inputs={"controls": CONTROL_INPUTS, "maps": MAP_INPUTS, "view": Input(ids.TABS, "value")},
        state={"last_valid": State(ids.VALID, "data"), "note": State(ids.PRESET_NOTE, "children")},
        prevent_initial_call=True,
    )
    def validate(controls: Any, maps: Any, view: Any, last_valid: Any, note: Any) -> dict[str, Any]:
        values, errors = checked(controls, last_valid)
        maps = valid_map_values(maps)
        tab_only = set(ctx.triggered_prop_ids) == {f"{ids.TABS}.value"}  # a tab changed, no setting
        preset = matching_preset(values, maps, view, note, keep_shown=tab_only)  # only while its settings stand
        return {
            "errors": {name: errors.get(name, "") for name in CONTROLS},
            "valid": values,
            "note": preset.sentence if preset else "",
        }

    _register_applied(app)

    # The one writer of the settings a page is given at once: a link (and Back, Forward, the
    # page's load), a preset, a click on a finished map. One callback, so two of them close
    # together land in the order they were made (the browser drops the older request of a
    # callback), each with its request to run.
    @app.callback(
        output={
            "controls": CONTROL_OUTPUTS,
            "maps": MAP_OUTPUTS,
            "view": Output(ids.TABS, "value"),
            "message": Output(ids.URL_MESSAGE, "children"),
            "autorun": Output(ids.AUTORUN, "data"),
        },
        inputs={
            "search": Input(ids.URL, "search"),
            "presets": Input({"type": ids.PRESET, "name": ALL}, "n_clicks"),
            "click": Input(ids.MAP_GRAPH, "clickData"),
        },
        state={
            "last_valid": State(ids.VALID, "data"),
            "written": State(ids.WRITTEN_QUERY, "data"),
            "finished_map": State(ids.MAP_STORE, "data"),
        },
        prevent_initial_call=False,  # runs on page load: a link restores its run
    )
    def apply(
        search: Any, presets: Any, click: Any, last_valid: Any, written: Any, finished_map: Any
    ) -> dict[str, Any]:
        trigger = ctx.triggered_id
        if isinstance(trigger, dict):
            change = chosen_preset(trigger, presets)
        elif trigger == ids.MAP_GRAPH:
            change = opened_run(click, finished_map)
        else:  # the address, or the page's load
            change = linked(search, last_valid, written)
        return applied_outputs(change)

    # A hand's setting (Enter in a box, a released slider) has a callback of its own: it sits
    # in the loop box -> slider -> HAND_RELEASE -> it -> box, and Dash's renderer holds back a
    # callback in a loop while any other is pending (a running job polls): in ``apply``, a
    # link or a preset would wait for the end of the run it replaces. Hence its two outputs
    # shared with ``apply``, each written by one act of the user.
    @app.callback(
        output={
            "controls": {name: Output(name, "value", allow_duplicate=True) for name in SLIDERS},
            "autorun": Output(ids.AUTORUN, "data", allow_duplicate=True),
        },
        inputs={"released": Input(ids.RELEASED, "data"), "submits": {n: Input(n, "n_submit") for n in BOXES}},
        state={
            "switch": State(ids.AUTO_RUN_SWITCH, "value"),
            "pending": State(ids.PENDING, "data"),
            "result": State(ids.RESULT, "data"),
        },
        prevent_initial_call=True,
    )
    def auto_run(released: Any, submits: Any, switch: Any, pending: Any, result: Any) -> dict[str, Any]:
        change = hand_applied(ctx.triggered_id, released, switch, pending, result)
        return {
            "controls": {name: change["controls"].get(name, no_update) for name in SLIDERS},
            "autorun": change["autorun"],
        }


def _register_stops(app: Dash, store: Jobs, jobs: tuple[tuple[str, str, str], ...]) -> None:
    """Cancel asks its job to stop; so does a change of the settings a running job was started
    with. ``jobs``: (run, cancel, pending) of every job beside the main run."""
    pairs = [(ids.CANCEL, ids.PENDING)] + [(cancel, pending) for _, cancel, pending in jobs]
    for cancel, pending in pairs:

        @app.callback(Input(cancel, "n_clicks"), State(pending, "data"), prevent_initial_call=True)
        def cancel_job(_clicks: Any, request: Any) -> None:
            # the page's token, unchecked: request_stop checks it (ValueError: not a token)
            token: Any = request.get("token") if isinstance(request, dict) else None
            with suppress(ValueError):  # no job (or no token): nothing to stop
                store.admission.request_stop(token, CANCELLED)

    runs = [(ids.RUN, ids.PENDING)] + [(run, pending) for run, _, pending in jobs]

    @app.callback(
        inputs={"valid": Input(ids.VALID, "data")},
        state={"jobs": [(State(run, "disabled"), State(pending, "data")) for run, pending in runs]},
        prevent_initial_call=True,
    )
    def stop_outdated_jobs(valid: Any, jobs: Any) -> None:
        """``jobs``: (running, request) of every job."""
        with suppress(ValueError):
            values = run_values(valid)
            for running, request in jobs:
                if running and isinstance(request, dict) and request.get("values") != values:
                    token: Any = request.get("token")  # unchecked: request_stop checks it
                    with suppress(ValueError):
                        store.admission.request_stop(token, SETTINGS_CHANGED)


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
        output=Output(ids.WRITTEN_QUERY, "data"),
        inputs={
            "result": Input(ids.RESULT, "data"),
            "pending": Input(ids.PENDING, "data"),
            "finished_map": Input(ids.MAP_STORE, "data"),
            "view": Input(ids.TABS, "value"),
            "normalized": Input(ids.NORMALIZED, "value"),
        },
        state={"controls": CONTROL_STATES, "maps": MAP_STATES, "last_valid": State(ids.VALID, "data")},
        prevent_initial_call=True,
    )
    def write_query(
        result: Any,
        pending: Any,
        finished_map: Any,
        view: Any,
        normalized: Any,
        controls: Any,
        maps: Any,
        last_valid: Any,
    ) -> str:
        # the controls as the browser holds them now (a link's or a preset's values land
        # together with its tab): a URL is written only once they are what the page shows
        values, _ = checked(controls, last_valid)
        if not applied(values, shown_values(view, result, pending, finished_map)):
            raise PreventUpdate
        maps = valid_map_values(maps)
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
    def mark_out_of_date(valid: Any, result: Any, pending: Any, finished_map: Any, view: Any) -> str:
        return stale_note(valid, shown_values(view, result, pending, finished_map))
