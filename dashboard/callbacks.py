"""Callbacks, kept thin: parse the controls (dashboard.state), compute (dashboard.jobs,
cached), draw (dashboard.figures). The pure helpers at the top are unit-tested directly.
"""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dash import ALL, Dash, Input, Output, State, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from core.config import RunConfig
from core.model import MLP
from dashboard import cache, figures, ids, jobs
from dashboard.state import (
    CONTROLS,
    PRESETS,
    RULES,
    check_cost,
    check_values,
    parse_query,
    to_config,
    to_query,
    whole_number,
)

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
    raw["normalized"] = "on" in (raw["normalized"] or [])
    return raw


def props_from_values(values: dict[str, Any]) -> list[Any]:
    return [(["on"] if values[n] else []) if n == "normalized" else values[n] for n in CONTROLS]


def checked(props: list[Any], last_valid: dict | None) -> tuple[dict[str, Any], dict[str, str]]:
    """Component values -> (valid values, errors); a bad value falls back to its last valid one."""
    return check_values(raw_from_props(props), last_valid or {})


def run_config(props: list[Any], last_valid: dict | None) -> RunConfig:
    """The config a Run button starts, or ValueError with the reason it is refused."""
    config = to_config(checked(props, last_valid)[0])
    check_cost(config)
    return config


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


def weights_views(record: dict, feature_names: list[str], class_names: list[str]):
    hidden = record["hidden"]
    mask = record["weight_mask"]
    labels = np.array(weight_labels(hidden, len(feature_names), len(class_names)))
    units = [f"h{j}" for j in range(hidden)]
    if "ablation_w1" in record:
        w1 = figures.ablation_heatmap(record["ablation_w1"], list(feature_names), units, "Ablation of W1: L_w / L")
        w2 = figures.ablation_heatmap(record["ablation_w2"], units, list(class_names), "Ablation of W2: L_w / L")
    else:
        w1 = w2 = figures.empty_figure("The reference network diverged: no ablation map.")
    displacement = figures.displacement_figure(record["displacement"][mask], record["path_length"][mask], labels[mask])
    norm = figures.norm_figure(record["iterations"], record["theta_norm"])
    return w1, w2, displacement, norm


def data_view(record: dict, fx: int, fy: int):
    """The data scatter with the final reference network's mistakes, and its caption."""
    data = jobs.iris_for(RunConfig.from_dict(record["config"]))
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
    return fig, text, data


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


def _stored(store: Path, key: str | None) -> dict | None:
    if not key:
        return None
    with cache.results(store) as results:
        return results.get(key)


def finished_view(store: Path, key: str, normalized: bool, record: dict | None = None) -> tuple[str, dict] | None:
    """(summary, distance figure as a plain dict) of a finished run, or None if it is not stored.

    Built once and kept in the results cache beside the record, so a replay reads a small
    entry instead of the whole record and skips Plotly's figure construction (together
    ~70 ms of a cached replay's ~0.3 s, measured).
    """
    view_key = f"{key}:view:{int(normalized)}"
    with cache.results(store) as results:
        if key not in results:  # the record may have been evicted; its view alone is not enough
            return None
        view = results.get(view_key)
    if view is None:
        record = record if record is not None else _stored(store, key)
        if record is None:
            return None
        view = (summary_text(record), distance_view(record, normalized).to_plotly_json())
        with cache.results(store) as results:
            results.set(view_key, view)
    return view


def _drawable(store: Path, key: str | None) -> dict:
    """The stored record a view or export draws from; no update while there is none."""
    record = _stored(store, key)
    if record is None:
        raise PreventUpdate
    return record


# ---- registration ------------------------------------------------------------------
def register(app: Dash, store: Path) -> None:
    """All callbacks; finished results are kept in (and read from) the directory ``store``."""
    _register_sync(app)
    _register_state(app)
    _register_run(app, store)
    _register_views(app, store)
    _register_side_jobs(app, store)
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
            return float(f"{10.0**position:.3g}"), no_update


def _register_state(app: Dash) -> None:
    @app.callback(
        [Output(f"{name}-error", "children") for name in CONTROLS],
        Output(ids.VALID, "data"),
        Output(ids.URL, "search"),
        Output(ids.WRITTEN_QUERY, "data"),
        *CONTROL_INPUTS,
        Input(ids.TABS, "value"),
        State(ids.VALID, "data"),
        prevent_initial_call=True,
    )
    def validate(*args):
        *props, view, last_valid = args
        values, errors = checked(props, last_valid)
        query = to_query(values, view)
        return *[errors.get(n, "") for n in CONTROLS], values, query, query

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
        if search == written:  # the app mirrored its own state: nothing to restore
            raise PreventUpdate
        parsed, view, messages = parse_query(search)
        if not parsed and not messages and not search:
            raise PreventUpdate
        values = {**(last_valid or {}), **parsed}
        message = " · ".join(messages)
        return *props_from_values(values), view, message, {"at": time.time(), "view": view}

    @app.callback(
        *CONTROL_OUTPUTS,
        Output(ids.TABS, "value", allow_duplicate=True),
        Output(ids.PRESET_NOTE, "children"),
        Output(ids.AUTORUN, "data", allow_duplicate=True),
        Input({"type": ids.PRESET, "name": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def preset(clicks):
        if not ctx.triggered_id or not any(clicks):
            raise PreventUpdate
        chosen = PRESETS[ctx.triggered_id["name"]]
        values = {**{n: RULES[n].default for n in CONTROLS}, **chosen.values}
        return *props_from_values(values), chosen.view, chosen.sentence, {"at": time.time(), "view": chosen.view}


def _register_run(app: Dash, store: Path) -> None:
    """Run: a plain callback answers at once from the cache (or with a refusal); only a run
    that must be computed starts the background job, which streams live curves."""
    finished = [
        Output(ids.RESULT_KEY, "data"),
        Output(ids.SUMMARY, "children"),
        Output(ids.RUN_MESSAGE, "children"),
        Output(ids.PROGRESS, "value"),
        Output(ids.PROGRESS_LABEL, "children"),
        Output(ids.DISTANCE_GRAPH, "figure", allow_duplicate=True),  # with the result: one round trip
    ]

    @app.callback(
        *[Output(o.component_id, o.component_property, allow_duplicate=True) for o in finished],
        Output(ids.PENDING, "data"),
        Input(ids.RUN, "n_clicks"),
        Input(ids.AUTORUN, "data"),
        *CONTROL_STATES,
        State(ids.VALID, "data"),
        prevent_initial_call=True,
    )
    def start(_clicks, _autorun, *args):
        *props, last_valid = args
        try:
            config = run_config(props, last_valid)
        except ValueError as exc:
            return no_update, no_update, str(exc), no_update, no_update, no_update, no_update
        key = jobs.record_key("run", config)
        normalized = raw_from_props(props)["normalized"]
        view = finished_view(store, key, normalized)
        if view is None:
            pending = {"config": config.to_dict(), "normalized": normalized}
            return no_update, no_update, "", 0, "starting…", no_update, pending
        summary, figure = view
        return key, summary, "", 100, f"{config.n_steps:,} iterations · from the cache", figure, no_update

    @app.callback(
        *finished,
        Input(ids.PENDING, "data"),
        background=True,
        running=[(Output(ids.RUN, "disabled"), True, False), (Output(ids.CANCEL, "disabled"), False, True)],
        cancel=[Input(ids.CANCEL, "n_clicks")],
        progress=[
            Output(ids.DISTANCE_GRAPH, "figure"),
            Output(ids.PROGRESS, "value"),
            Output(ids.PROGRESS_LABEL, "children"),
        ],
        interval=200,
        prevent_initial_call=True,
    )
    def run(set_progress, pending):
        config = RunConfig.from_dict(pending["config"])
        plot = LivePlot(config, pending["normalized"])

        def live(done, total, elapsed, partial):
            # as a plain dict: the server unpickles each update to answer a poll (5 ms less than a Figure)
            fig = plot(partial.distance[:, 1:], partial.loss[:, 0]).to_plotly_json()
            set_progress((fig, 100 * done / total, progress_label(done, total, elapsed)))

        started = time.monotonic()
        key = jobs.record_key("run", config)
        record = jobs.cached(store, key, lambda: jobs.stability(config, jobs.Throttle(live, LIVE_SECONDS)))
        label = f"{config.n_steps:,} iterations · {time.monotonic() - started:.1f} s"
        if record.get("cancelled"):
            summary, figure = summary_text(record), distance_view(record, pending["normalized"])
        else:
            summary, figure = finished_view(store, key, pending["normalized"], record)
        # the final figure comes with the result: a live update still in flight cannot outlast it
        return key, summary, "", 100, label, figure


def _register_views(app: Dash, store: Path) -> None:
    @app.callback(
        Output(ids.DISTANCE_GRAPH, "figure", allow_duplicate=True),
        Input(ids.NORMALIZED, "value"),
        State(ids.RESULT_KEY, "data"),
        prevent_initial_call=True,
    )
    def renormalize(normalized, key):
        return distance_view(_drawable(store, key), "on" in (normalized or []))

    @app.callback(
        Output(ids.FIT_GRAPH, "figure"),
        Output(ids.ABLATION_W1_GRAPH, "figure"),
        Output(ids.ABLATION_W2_GRAPH, "figure"),
        Output(ids.DISPLACEMENT_GRAPH, "figure"),
        Output(ids.NORM_GRAPH, "figure"),
        Output(ids.DATA_GRAPH, "figure"),
        Output(ids.DATA_SUMMARY, "children"),
        Input(ids.RESULT_KEY, "data"),
        Input(ids.DATA_X, "value"),
        Input(ids.DATA_Y, "value"),
        prevent_initial_call=True,
    )
    def draw(key, fx, fy):
        """The other views of a finished run (the distance figure comes with the result)."""
        record = _drawable(store, key)
        data_fig, data_text, data = data_view(record, int(fx or 2), int(fy or 3))
        return (
            figures.fit_figure(record["iterations"], record["mean_distance"], record["ftle"]),
            *weights_views(record, list(data.feature_names), list(data.class_names)),
            data_fig,
            data_text,
        )

    @app.callback(
        Output(ids.FTLE_EPS_GRAPH, "figure"),
        Output(ids.FTLE_HIST_GRAPH, "figure"),
        Input(ids.FTLE_STORE, "data"),
        Input(ids.FTLE_HIST_EPS, "value"),
        prevent_initial_call=True,
    )
    def draw_ftle(key, hist_exponent):
        record = _drawable(store, key)
        j = int(np.argmin(np.abs(np.log10(record["eps"]) - hist_exponent)))
        slopes = record["slopes"][:, j][record["kept"][:, j]]
        return (
            figures.ftle_eps_figure(record["eps"], record["mean"], record["std"], record["n_kept"], record["total"]),
            figures.ftle_histogram(slopes, record["eps"][j]),
        )


def _register_side_jobs(app: Dash, store: Path) -> None:
    """The heavier, on-demand jobs of the Divergence, Lyapunov and Orbital views."""

    def job(run_id, cancel_id, label_id, outputs, extra_states, compute, draw, autorun_view=None):
        inputs = [Input(run_id, "n_clicks")] + ([Input(ids.AUTORUN, "data")] if autorun_view else [])

        @app.callback(
            *outputs,
            Output(label_id, "children"),
            *inputs,
            *CONTROL_STATES,
            State(ids.VALID, "data"),
            *extra_states,
            background=True,
            running=[(Output(run_id, "disabled"), True, False), (Output(cancel_id, "disabled"), False, True)],
            cancel=[Input(cancel_id, "n_clicks")],
            progress=[Output(label_id, "children")],
            interval=400,
            prevent_initial_call=True,
        )
        def run_job(set_progress, *args):
            triggers = args[: len(inputs)]
            props = list(args[len(inputs) : len(inputs) + len(CONTROLS)])
            last_valid = args[len(inputs) + len(CONTROLS)]
            extra = args[len(inputs) + len(CONTROLS) + 1 :]
            if autorun_view and ctx.triggered_id == ids.AUTORUN and (triggers[1] or {}).get("view") != autorun_view:
                raise PreventUpdate
            try:
                config = to_config(checked(props, last_valid)[0])
                key, work = compute(config, *extra)
            except ValueError as exc:
                return *[no_update] * len(outputs), str(exc)

            def report(done, total, elapsed, *_):
                set_progress((f"{done:,} of {total:,} · {elapsed:.1f} s",))

            started = time.monotonic()
            record = jobs.cached(store, key, lambda: work(jobs.Throttle(report, 0.3)))
            return *draw(key, record), f"done in {time.monotonic() - started:.1f} s"

    def sweep(config):
        rows = 1 + len(jobs.SWEEP_EPS) * min(config.n_perturbations, jobs.SWEEP_COPIES)
        check_cost(config, rows)
        return jobs.record_key("sweep", config), lambda p: jobs.eps_sweep(config, p)

    def draw_sweep(_key, record):
        panel = [int(np.argmin(np.abs(record["eps"] - e))) for e in jobs.PANEL_EPS]
        return (
            figures.eps_panels_figure(
                record["iterations"], record["eps"][panel], record["distance"][panel], record["loss"]
            ),
            figures.collapse_figure(record["iterations"], record["eps"], record["normalized_distance"]),
        )

    job(
        ids.SWEEP_RUN,
        ids.SWEEP_CANCEL,
        ids.SWEEP_PROGRESS,
        [Output(ids.EPS_PANELS_GRAPH, "figure"), Output(ids.COLLAPSE_GRAPH, "figure")],
        [],
        sweep,
        draw_sweep,
    )

    def ftle(config, n_inits, n_steps):
        n_inits = whole_number("initial networks", n_inits, 2, 500)
        n_steps = whole_number("FTLE iterations", n_steps, 30, 2000)  # 30: the shortest fit window
        rows = n_inits * (1 + len(jobs.FTLE_EPS) * jobs.FTLE_COPIES)
        check_cost(RunConfig(n_steps=n_steps, n_perturbations=1), rows)
        extra = f"{n_inits}x{n_steps}"
        return jobs.record_key("ftle", config, extra), lambda p: jobs.ftle_sweep(config, n_inits, n_steps, p)

    job(
        ids.FTLE_RUN,
        ids.FTLE_CANCEL,
        ids.FTLE_PROGRESS,
        [Output(ids.FTLE_STORE, "data")],
        [State(ids.FTLE_INITS, "value"), State(ids.FTLE_STEPS, "value")],
        ftle,
        lambda key, _record: (key,),
    )

    def orbital(config, t0):
        if t0 is None or not (0 <= t0 < config.n_steps) or t0 != int(t0):
            raise ValueError(f"t0 must be a whole number from 0 to {config.n_steps - 1} (iterations - 1), got {t0!r}")
        check_cost(config)
        t0 = int(t0)
        return jobs.record_key("orbital", config, str(t0)), lambda p: jobs.orbital(config, t0, p)

    def draw_orbital(_key, record):
        return (
            figures.orbital_figure(record["iterations"], record["normalized_distance"], record["loss"], record["t0"]),
        )

    job(
        ids.ORBITAL_RUN,
        ids.ORBITAL_CANCEL,
        ids.ORBITAL_PROGRESS,
        [Output(ids.ORBITAL_GRAPH, "figure")],
        [State(ids.ORBITAL_T0, "value")],
        orbital,
        draw_orbital,
        autorun_view="orbital",
    )


def _register_exports(app: Dash, store: Path) -> None:
    @app.callback(
        Output(ids.DOWNLOAD, "data"),
        Input(ids.EXPORT_CSV, "n_clicks"),
        Input(ids.EXPORT_NPZ, "n_clicks"),
        Input(ids.EXPORT_JSON, "n_clicks"),
        State(ids.RESULT_KEY, "data"),
        prevent_initial_call=True,
    )
    def export(_csv, _npz, _json, key):
        record = _drawable(store, key)
        name = f"weightspace-{key.split(':')[1][:10]}"
        if ctx.triggered_id == ids.EXPORT_CSV:
            return {"content": export_csv(record), "filename": f"{name}.csv"}
        if ctx.triggered_id == ids.EXPORT_NPZ:
            return dcc.send_bytes(export_npz(record), f"{name}.npz")
        return {"content": json.dumps(record["config"], indent=2), "filename": f"{name}-config.json"}

    @app.callback(
        [Output(graph, "config") for graph in GRAPHS],
        Input(ids.IMAGE_FORMAT, "value"),
        prevent_initial_call=True,
    )
    def image_format(fmt):
        config = {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "scale": 2 if fmt == "png" else 1}}
        return [config] * len(GRAPHS)
