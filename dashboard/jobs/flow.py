"""The life of every job, shared by the views (the callbacks stay thin).

A plain callback checks the request and answers refusals (and, for the main run, a cached
result) at once; otherwise it writes a *request* (the run settings, the job's own settings
and a random token) to the job's pending store, which starts the background job. Cancel and
a change of settings ask the job, by its token, to stop; it ends with what it has
("Cancelled at iteration N"). A finished job leaves its request, signed, in a result store,
from which the views load its record. A record the cache no longer has is not computed again
in a web request (every view of a page would compute it at once, and anyone holding a signed
result could make the server do so at will): the page says so, and Run computes it again as a
job (``RecordGone``).

Every background job runs ``background_job`` (check, wait for a slot, compute with progress,
end), each kind saying what it shows through its ``JobSteps``. Every figure drawn from a
record carries that record's cache key in ``layout.meta.record`` (``with_record_key``).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dash import Dash, Input, Output, State, ctx, no_update, set_props
from dash.exceptions import PreventUpdate

from dashboard.jobs import plans
from dashboard.jobs.records import Record
from dashboard.jobs.runner import Control, Jobs, Plan, execute, failure_message, queued_label
from dashboard.page import ids
from dashboard.server import visitors
from dashboard.server.admission import REPLACED, Busy, check_token
from dashboard.server.manager import ENDED_WITHOUT_RESULT, REDIS_LOST
from dashboard.state.rules import CONTROLS, check_values, quoted, run_values

log = logging.getLogger(__name__)

# What a job hands its page: Dash's ``set_progress`` takes the values of the progress outputs;
# a report is ``report(done, total, elapsed, *partial)``, a wait ``wait(jobs_ahead, seconds_waited)``.
SetProgress = Callable[[tuple[Any, ...]], None]
Report = Callable[..., None]
Wait = Callable[[int, float], None]

# ---- control values <-> component properties ---------------------------------------
# Groupings keyed by control name: a callback takes them as one named argument (Dash's
# flexible callback signatures), whatever controls dashboard.state.rules defines.
CONTROL_INPUTS = {name: Input(name, "value") for name in CONTROLS}
CONTROL_STATES = {name: State(name, "value") for name in CONTROLS}
CONTROL_OUTPUTS = {name: Output(name, "value") for name in CONTROLS}


def raw_from_props(props: list[Any]) -> dict[str, Any]:
    """Component values in CONTROLS order -> raw control values (the checklist -> bool)."""
    raw = dict(zip(CONTROLS, props, strict=True))
    raw["normalized"] = isinstance(raw["normalized"], list) and "on" in raw["normalized"]
    return raw


def props_from_values(values: dict[str, Any]) -> list[Any]:
    return [(["on"] if values[n] else []) if n == "normalized" else values[n] for n in CONTROLS]


def control_props(values: dict[str, Any]) -> dict[str, Any]:
    """Control values (all or some) -> their component properties by control name (the
    CONTROL_OUTPUTS grouping: the checklist gets ["on"] or [])."""
    return {n: (["on"] if values[n] else []) if n == "normalized" else values[n] for n in CONTROLS if n in values}


def checked(props: dict[str, Any], last_valid: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Component values by control name (the CONTROL_STATES grouping) -> (valid values,
    errors); a bad value falls back to its last valid one."""
    return check_values(raw_from_props([props[name] for name in CONTROLS]), last_valid)


def new_token() -> str:
    """The random name a page gives a job, to ask it to stop (dashboard.server.admission)."""
    return secrets.token_hex(16)


def stop_replaced(store: Jobs, running: Any, pending: Any) -> None:
    """Ask the job a new request replaces to stop, if it still runs (``running``: its Run
    button is disabled). Dash stops it too, but may not know of it yet if its first answer
    is still on the way, and with Celery it only revokes: a started task runs on, and its
    page would then get the news of two jobs."""
    if running and isinstance(pending, dict):
        with contextlib.suppress(ValueError):  # no token: nothing to stop
            store.admission.request_stop(check_token(pending.get("token")), REPLACED)


def new_job(store: Jobs) -> dict[str, str]:
    """What a new job's pending request carries for admission: its token, and the visitor
    whose page asks (from the visitor cookie, signed; dashboard.server.visitors)."""
    token = new_token()
    return {"token": token, **visitors.signed(store.sign, token)}


def visitor_of(store: Jobs, pending: Any) -> str:
    """The visitor a job counts for (dashboard.server.visitors.of)."""
    return visitors.of(pending, store.sign)


# ---- requests, results, records ------------------------------------------------------
def plan_of(store: Jobs, kind: str, request: dict[str, Any]) -> Plan:
    """The checked job of a request's settings (ValueError names what is refused)."""
    return plans.plan(kind, request.get("values"), request.get("extra"), store.limits, store.admission.slots)


def finished_result(store: Jobs, plan: Plan, request: dict[str, Any]) -> dict[str, Any]:
    """What a finished job leaves in its result store for the views: its settings, signed."""
    return {
        "kind": request.get("kind"),
        "values": request.get("values"),
        "extra": request.get("extra"),
        "signature": store.sign(plan.key),
    }


class RecordGone(Exception):
    """A finished job's record is not in the results cache (evicted, unreadable, or too large
    to keep); its message is the page's."""


def record_for(store: Jobs, kind: str, request: Any) -> Record:
    """The record a view draws from: the finished job's ``request`` (its result store),
    checked again with its signature, then its record from the cache (RecordGone if the cache
    does not have it). No update while there is no finished job."""
    return keyed_record(store, kind, request)[0]


def keyed_record(store: Jobs, kind: str, request: Any) -> tuple[Record, str]:
    """``record_for`` and the record's cache key (which the figures drawn from it carry)."""
    if not isinstance(request, dict):
        raise PreventUpdate
    plan = plan_of(store, kind, request)
    store.check_signature(plan.key, request.get("signature"))
    record = store.load(plan.key)
    if record is not None:
        return record, plan.key
    size = store.too_large(plan.key)
    if size is not None:
        log.warning("the record %s (~%.0f MB) is larger than the cache keeps", plan.key, size / 1e6)
        raise RecordGone(
            f"These results (~{size / 1e6:.0f} MB) are larger than the server's cache keeps "
            f"({store.cache_mb:,} MB): the views that need them cannot draw them. Use fewer "
            "iterations or copies, or ask the operator for a larger cache (WSD_CACHE_MB)."
        )
    log.warning("the record %s is not in the cache (evicted or unreadable); the page is asked to run again", plan.key)
    raise RecordGone("These results are no longer kept on the server (its cache let them go): press Run again.")


def with_record_key(figure: Any, key: str) -> Any:
    """A figure (a go.Figure or its plain dict) marked with the cache key of the record it was
    drawn from, in ``layout.meta.record`` (beside what the figure builder put there), so the
    page and its tests can check that what is shown belongs to the settings on screen."""
    if isinstance(figure, dict):
        layout = figure.setdefault("layout", {})
        meta = layout.get("meta")
        layout["meta"] = {**(meta if isinstance(meta, dict) else {}), "record": key}
        return figure
    meta = figure.layout.meta
    figure.update_layout(meta={**(meta if isinstance(meta, dict) else {}), "record": key})
    return figure


def keyed_figures(outputs: tuple[Output, ...], values: tuple[Any, ...], key: str) -> tuple[Any, ...]:
    """``values`` of ``outputs`` with every figure among them marked with ``key``."""
    return tuple(
        with_record_key(v, key) if o.component_property == "figure" and v is not no_update else v
        for o, v in zip(outputs, values, strict=True)
    )


def checked_request(store: Jobs, kind: str, request: Any) -> tuple[Plan, str]:
    """A job's request from its page -> (plan, token), every part checked on the server."""
    if not isinstance(request, dict):
        raise ValueError(f"the job request must be a mapping, got {quoted(request)}")
    token = check_token(request.get("token"))
    return plan_of(store, kind, request), token


def on_error(exc: Exception) -> None:
    """Any callback's failure as a red message beside Run (``error_message``)."""
    set_props(ids.RUN_MESSAGE, {"children": error_message(exc)})


def error_message(exc: Exception) -> str:
    """A refusal (bad input found on the server, a busy server) as such; a record the cache
    no longer has and a lost connection to Redis as they are worded; anything else with its
    traceback in the log."""
    if isinstance(exc, (ValueError, Busy)):
        return f"Refused: {exc}"
    if isinstance(exc, RecordGone):
        return str(exc)
    text = str(exc)
    for known in (REDIS_LOST, ENDED_WITHOUT_RESULT):  # dashboard.server.manager's words, as they are
        if known in text:
            return text[text.index(known) :].strip()
    return failure_message(exc)


# ---- one background job: check, wait, compute with progress, end ----------------------------
class JobSteps:
    """What one kind of job shows on its way and at its end. ``background_job`` runs the
    sequence every job shares and asks these for the page's values (each a tuple of the
    job's callback outputs)."""

    every: float = 0.3  # seconds between progress reports (Control: at most this often)

    def progress(self, plan: Plan, pending: dict[str, Any], set_progress: SetProgress) -> tuple[Report, Wait]:
        """(report(done, total, elapsed, *partial), wait(jobs_ahead, seconds_waited))."""
        raise NotImplementedError

    def refused(self, message: str) -> tuple[Any, ...]:
        """The request did not pass its checks on the server."""
        raise NotImplementedError

    def ended(self, message: str, control: Control) -> tuple[Any, ...]:
        """No record: a message for the page (refused late, busy, failed), or none if it was
        stopped before it could start."""
        raise NotImplementedError

    def drawn(self, record: Record, control: Control, plan: Plan, pending: dict[str, Any]) -> tuple[Any, ...]:
        """A record: complete, or partial if the job was stopped (``record.cancelled``)."""
        raise NotImplementedError


def background_job(store: Jobs, kind: str, steps: JobSteps, pending: Any, set_progress: SetProgress) -> tuple[Any, ...]:
    """The body of every background job: the page's request checked on the server, a slot
    waited for (queue news as progress), the plan computed (its progress reported), the
    record (or the reason there is none) turned into the job's outputs by ``steps``."""
    try:
        plan, token = checked_request(store, kind, pending)
    except ValueError as exc:
        return steps.refused(f"Refused: {exc}")
    report, wait = steps.progress(plan, pending, set_progress)
    outcome = execute(store, plan, token, report, wait, steps.every, visitor=visitor_of(store, pending))
    if outcome.message or outcome.record is None:
        return steps.ended(outcome.message, outcome.control)
    return steps.drawn(outcome.record, outcome.control, plan, pending)


# ---- side jobs: a view's own job beside the main run ----------------------------------
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
    # (record, request) -> values of ``outputs``; the record is the one this kind's plan makes
    # (dashboard.jobs.plans), which the types do not tie to ``kind``
    draw: Callable[[Any, dict[str, Any]], tuple[Any, ...]]
    unit: str  # what its progress counts
    extras: tuple[tuple[str, str], ...] = ()  # (name in the request, component id)
    autorun_view: str | None = None  # also starts when a link or preset opens this view


def register_side_job(app: Dash, store: Jobs, job: SideJob) -> None:
    triggers = {"run": Input(job.run, "n_clicks")}
    if job.autorun_view:
        triggers["autorun"] = Input(ids.AUTORUN, "data")

    @app.callback(
        output=Output(job.pending, "data"),
        inputs=triggers,
        state={
            "running": State(job.run, "disabled"),
            "previous": State(job.pending, "data"),
            "controls": CONTROL_STATES,
            "last_valid": State(ids.VALID, "data"),
            "extra": {name: State(component, "value") for name, component in job.extras},
        },
        prevent_initial_call=True,
    )
    def request(
        running: Any,
        previous: Any,
        controls: dict[str, Any],
        last_valid: Any,
        extra: dict[str, Any],
        run: Any = None,
        autorun: Any = None,
    ) -> object:
        """The job's message and label are set beside its request (``set_props``): while it
        runs, its background callback writes them."""
        if ctx.triggered_id == ids.AUTORUN and (autorun or {}).get("view") != job.autorun_view:
            raise PreventUpdate
        values = run_values(checked(controls, last_valid)[0])
        request = {"kind": job.kind, "values": values, "extra": extra}
        try:  # refuse at once, not from a background job
            plan_of(store, job.kind, request)
        except ValueError as exc:
            set_props(job.message, {"children": str(exc)})
            set_props(job.label, {"children": ""})
            return no_update
        stop_replaced(store, running, previous)
        set_props(job.message, {"children": ""})
        set_props(job.label, {"children": "starting…"})
        return {**request, **new_job(store)}

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
    def work(set_progress: SetProgress, pending: Any) -> tuple[Any, ...]:
        return side_job(store, job, pending, set_progress)


def register_csv_export(
    app: Dash,
    store: Jobs,
    job: SideJob,
    ids_: tuple[str, str, str],
    to_csv: Callable[[Any], str],
    filename: str,
    not_yet: str,
) -> None:
    """A CSV download of a side job's finished record: ``ids_`` = (button, dcc.Download, the
    store holding the finished request); ``to_csv`` writes the job's record (as ``job.draw``
    draws it); ``not_yet`` goes to the job's message before one
    (``set_props``: the job's callback is that message's writer)."""
    button, download, result = ids_

    @app.callback(Output(download, "data"), Input(button, "n_clicks"), State(result, "data"), prevent_initial_call=True)
    def export(_clicks: Any, request: Any) -> object:
        if request is None:
            set_props(job.message, {"children": not_yet})
            return no_update
        set_props(job.message, {"children": ""})
        return {"content": to_csv(record_for(store, job.kind, request)), "filename": filename}


@dataclass(frozen=True)
class SideSteps(JobSteps):
    """A side job's steps: its label counts ``job.unit``; its record is drawn by ``job.draw``."""

    store: Jobs
    job: SideJob

    def progress(self, plan: Plan, pending: dict[str, Any], set_progress: SetProgress) -> tuple[Report, Wait]:
        def report(done: int, total: int, elapsed: float, *_: object) -> None:
            set_progress((f"{done:,} of {total:,} · {elapsed:.1f} s",))

        def wait(ahead: int, waited: float) -> None:
            set_progress((queued_label(ahead, waited),))

        return report, wait

    def refused(self, message: str) -> tuple[Any, ...]:
        return *self.nothing(), "", message

    def ended(self, message: str, control: Control) -> tuple[Any, ...]:
        return *self.nothing(), control.stopped_label(self.job.unit) if control.stopped else "", message

    def drawn(self, record: Record, control: Control, plan: Plan, pending: dict[str, Any]) -> tuple[Any, ...]:
        label = control.stopped_label(self.job.unit) if record.cancelled else f"done in {control.elapsed:.1f} s"
        drawn = self.job.draw(record, finished_result(self.store, plan, pending))
        return *keyed_figures(self.job.outputs, drawn, plan.key), label, ""

    def nothing(self) -> list[Any]:
        return [no_update] * len(self.job.outputs)


def side_job(store: Jobs, job: SideJob, pending: Any, set_progress: SetProgress) -> tuple[Any, ...]:
    """One side job in the background -> its outputs, label and message."""
    return background_job(store, job.kind, SideSteps(store, job), pending, set_progress)
