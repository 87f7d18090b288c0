"""A visitor of the lab's page over plain HTTP, as a browser with an empty cache is: the
Dash renderer's side of the protocol, with a clock on each step (loadtest.run).

A :class:`Visitor` loads the page (GET /, the scripts and the stylesheet it names, several
at a time, /_dash-layout and /_dash-dependencies, then the callbacks the page fires at
load), then presses Run with its own settings: the start callback, the run's background
callback (whose answer is a job handle), and polls with the handle every ``interval`` of
that callback until the finished outputs arrive; with map settings it also presses Run map
on the Regimes view at the same moment and polls that job too, on a connection of its own
(:meth:`Visitor.press_map`). What it saw goes into its :class:`Visit`;
a request that meets a kept-alive connection the server has just closed is sent again
once on a new one, as a browser does. ``visit_all`` runs visitors at once, a thread each,
up to a deadline.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

PAGE_PARALLEL = 4  # connections a visitor opens for the page's files (a browser: ~6)
REQUEST_TIMEOUT = 30.0
RUN_CALLBACK = "pending.data"  # the input of the main run's background callback
START_INPUTS = ("run.n_clicks", "autorun.data")  # the inputs of the Run button's callback
MAP_CALLBACK = "map-pending.data"  # the input of the Regimes view's map background callback
MAP_INPUTS = ("map-run.n_clicks", "map-zoom.n_clicks", "map-zoom-out.n_clicks", "autorun.data")  # Run map's


# ---- one visitor --------------------------------------------------------------------
@dataclass
class Visit:
    """What one visitor saw (times in seconds; None if it never got there)."""

    visitor: int
    seed: int
    page_load: float | None = None
    first_news: float | None = None
    first_progress: float | None = None
    run_latency: float | None = None
    most_ahead: int | None = None  # the most jobs ahead that a queue label told of
    polls: int = 0
    requests: int = 0
    retries: int = 0  # requests sent again after the server had closed an idle kept-alive connection
    task: str | None = None  # the run's Celery task id (or job process id)
    label: str = ""
    finished: bool = False
    errors: list[str] = field(default_factory=list)
    map_latency: float | None = None  # click on Run map to the finished map (if the visitor ran one)
    map_polls: int = 0
    map_task: str | None = None  # the map coordinator's job (a process of the web server)
    map_label: str = ""
    map_finished: bool = False


class Aborted(Exception):
    """The deadline passed (or the test was stopped) while this visitor was working."""


class Visitor:
    """A browser's side of the Dash protocol over plain HTTP, with a clock on each step."""

    def __init__(self, base: str, visit: Visit, run: dict, deadline: float, abort: threading.Event):
        self.base, self.visit, self.run, self.deadline, self.abort = base, visit, run, deadline, abort
        self.http = requests.Session()
        self.end_id = ""
        self.deps: list[dict] = []
        self.props: dict[str, dict] = {}  # component id -> its properties in the layout
        self.lock = threading.Lock()  # the page's files come on several threads
        self.last: dict[int, float] = {}  # id of a session -> when its last answer ended

    # -- HTTP ----
    def _timeout(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0 or self.abort.is_set():
            raise Aborted
        return min(REQUEST_TIMEOUT, left)

    def _check(self, answer: requests.Response, what: str, allowed=(200,)) -> requests.Response:
        with self.lock:
            self.visit.requests += 1
        if answer.status_code not in allowed:
            raise AssertionError(f"{what}: HTTP {answer.status_code} {answer.text[:300]!r}")
        return answer

    def get(self, path: str, session: requests.Session | None = None) -> requests.Response:
        return self._send(session or self.http, "GET", path, f"GET {path}")

    def callback(self, body: dict, allowed=(200,), session=None, **params) -> requests.Response:
        what = f"{'poll' if 'cacheKey' in params else 'callback'} {body['output'][:50]}"
        params = {"endId": self.end_id, **params}
        session = session or self.http
        return self._send(session, "POST", "/_dash-update-component", what, allowed, params=params, json=body)

    def _send(self, session, method: str, path: str, what: str, allowed=(200,), **kwargs) -> requests.Response:
        """One request, sent again once on a new connection if the server closed the kept-alive
        one as it went out (gunicorn closes a connection idle for ``keepalive`` seconds, 2),
        as a browser does."""
        for attempt in (1, 2):
            sent = time.monotonic()
            idle = sent - self.last.get(id(session), sent)
            try:
                answer = session.request(method, self.base + path, timeout=self._timeout(), **kwargs)
                break
            except requests.ConnectionError as exc:
                closed = "RemoteDisconnected" in str(exc) or "Connection reset by peer" in str(exc)
                if attempt == 1 and closed and id(session) in self.last:
                    with self.lock:
                        self.visit.retries += 1
                    continue
                raise AssertionError(
                    f"{what}: {type(exc).__name__} after {time.monotonic() - sent:.2f} s "
                    f"(the connection idle {idle:.2f} s before): {exc}"
                ) from exc
            except requests.RequestException as exc:
                raise AssertionError(
                    f"{what}: {type(exc).__name__} after {time.monotonic() - sent:.2f} s: {exc}"
                ) from exc
        self.last[id(session)] = time.monotonic()
        return self._check(answer, what, allowed)

    # -- the page ----
    def load_page(self) -> None:
        started = time.monotonic()
        page = self.get("/").text
        config = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S)
        if config is None:
            raise AssertionError("GET /: no _dash-config in the page")
        self.end_id = json.loads(config.group(1))["end_id"]
        files = re.findall(r'<script src="([^"]+)"', page) + re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
        local = threading.local()

        def fetch(path: str) -> requests.Response:
            if not hasattr(local, "http"):
                local.http = requests.Session()
                local.http.cookies.update(self.http.cookies)
            return self.get(path, local.http)

        with ThreadPoolExecutor(PAGE_PARALLEL) as pool:  # the scripts, then what the renderer asks
            list(pool.map(fetch, files))
            layout, deps = pool.map(fetch, ["/_dash-layout", "/_dash-dependencies"])
        self.deps = deps.json()
        self.props = _component_props(layout.json())
        self.props["url"] = {"pathname": "/", "search": "", "hash": "", "href": self.base + "/"}
        for dep in self.deps:  # the callbacks the page fires at load (a 204 is "no update")
            if dep.get("clientside_function") is None and not dep.get("prevent_initial_call"):
                values = {f"{i['id']}.{i['property']}": self._prop(i) for i in dep["inputs"]}
                self.callback(self._body(dep, values, changed=[]), allowed=(200, 204))
        self.visit.page_load = time.monotonic() - started

    def _prop(self, dependency: dict):
        return self.props.get(dependency["id"], {}).get(dependency["property"])

    def _dep(self, inputs: tuple[str, ...]) -> dict:
        for dep in self.deps:
            if dep.get("clientside_function") is None and tuple(_names(dep["inputs"])) == inputs:
                return dep
        raise AssertionError(f"no callback with the inputs {inputs} in /_dash-dependencies")

    def _body(self, dep: dict, inputs: dict, state: dict | None = None, changed: list[str] | None = None) -> dict:
        """The request the renderer sends for ``dep``: the named inputs and states, the
        other ones from the layout."""
        names = [] if dep.get("no_output") else dep["output"].strip(".").split("...")
        outputs = [dict(zip(("id", "property"), name.rsplit(".", 1), strict=True)) for name in names]
        state = state or {}

        def value(d: dict, given: dict) -> dict:
            name = f"{d['id']}.{d['property']}"
            return {**d, "value": given[name] if name in given else self._prop(d)}

        return {
            "output": dep["output"],
            "outputs": outputs if dep["output"].startswith("..") or not outputs else outputs[0],
            "inputs": [value(i, inputs) for i in dep["inputs"]],
            "changedPropIds": list(inputs) if changed is None else changed,
            "state": [value(s, state) for s in dep.get("state", [])],
        }

    # -- a run ----
    def start_run(self, session=None) -> tuple[dict, dict, dict]:
        """Press Run with this visitor's settings: (the job's callback, its request, the job
        handles of its answer), to poll with."""
        start, job = self._dep(START_INPUTS), self._dep((RUN_CALLBACK,))
        settings = {f"{name}.value": str(value) for name, value in self.run.items()}
        body = self._body(start, {"run.n_clicks": 1}, {"run.disabled": False, **settings})
        outputs = self.callback(body, session=session).json().get("response", {})
        _refused(outputs, "the start callback")
        if "pending" not in outputs:
            label = (outputs.get("progress-label") or {}).get("children")
            raise AssertionError(f"Run started no job (answered from the cache?): {label!r}")
        body = self._body(job, {RUN_CALLBACK: outputs["pending"]["data"]})
        handles = self.callback(body, session=session).json()
        if "cacheKey" not in handles or "job" not in handles:
            raise AssertionError(f"the run's callback gave no job handle: {str(handles)[:300]}")
        return job, body, handles

    def press_run(self) -> None:
        """Run with this visitor's settings, then poll until the finished outputs."""
        visit, clicked = self.visit, time.monotonic()
        job, body, handles = self.start_run()
        visit.task = handles["job"].rpartition("~")[0]

        def news(label: str, now: float) -> None:
            visit.first_news = visit.first_news if visit.first_news is not None else now
            if visit.first_progress is None and label.startswith("iteration "):
                visit.first_progress = now
            ahead = re.match(r"queued: (\d+) jobs? ahead", label)
            if ahead:
                visit.most_ahead = max(visit.most_ahead or 0, int(ahead.group(1)))

        outputs, visit.run_latency, visit.polls = self._poll(job, body, handles, clicked, "progress-label", news)
        _refused(outputs, "the finished run")
        visit.label = str((outputs.get("progress-label") or {}).get("children"))
        expected = f"{int(self.run['steps']):,} iterations · "
        if not visit.label.startswith(expected) or "result" not in outputs:
            raise AssertionError(f"the run finished with {visit.label!r}, not {expected!r}… and a result")
        visit.finished = True

    # -- a map (the Regimes view) ----
    def start_map(self, extra: dict, session=None) -> tuple[dict, dict, dict]:
        """Press Run map with this visitor's run settings and the map settings ``extra``: (the
        job's callback, its request, the job handles of its answer), to poll with."""
        start, job = self._dep(MAP_INPUTS), self._dep((MAP_CALLBACK,))
        settings = {f"{name}.value": str(value) for name, value in self.run.items()}
        settings |= {f"{name}.value": value for name, value in extra.items()}
        body = self._body(start, {"map-run.n_clicks": 1}, {"map-run.disabled": False, **settings})
        outputs = self.callback(body, session=session).json().get("response", {})
        _refused(outputs, "Run map", "map-message")
        if "map-pending" not in outputs:
            label = (outputs.get("map-progress") or {}).get("children")
            raise AssertionError(f"Run map started no job (answered from the cache?): {label!r}")
        body = self._body(job, {MAP_CALLBACK: outputs["map-pending"]["data"]})
        handles = self.callback(body, session=session).json()
        if "cacheKey" not in handles or "job" not in handles:
            raise AssertionError(f"the map's callback gave no job handle: {str(handles)[:300]}")
        return job, body, handles

    def press_map(self, extra: dict) -> None:
        """Run map with this visitor's run settings (its seed: nothing from the cache) and the
        map settings ``extra`` (ids.MAP_* -> value), on a connection of its own (a page polls
        its run and its map at once), then poll until the finished map."""
        visit, http = self.visit, requests.Session()
        http.cookies.update(self.http.cookies)
        try:
            clicked = time.monotonic()
            job, body, handles = self.start_map(extra, http)
            visit.map_task = handles["job"].rpartition("~")[0]
            outputs, visit.map_latency, visit.map_polls = self._poll(
                job, body, handles, clicked, "map-progress", lambda label, now: None, http, "map"
            )
            _refused(outputs, "the finished map", "map-message")
            visit.map_label = str((outputs.get("map-progress") or {}).get("children"))
            expected = f"{int(extra['eta_points'])} learning rates · done in "
            if not visit.map_label.startswith(expected) or "map-graph" not in outputs:
                raise AssertionError(f"the map finished with {visit.map_label!r}, not {expected!r}… and a figure")
            visit.map_finished = True
        finally:
            http.close()

    def _poll(self, job, body, handles, clicked, label_id, news, session=None, what="run"):
        """Poll a background callback every ``interval`` of it, as the page does, until its
        finished outputs; (those outputs, seconds from the click, polls). ``news(label,
        seconds)`` is told every progress label."""
        interval = ((job.get("background") or {}).get("interval") or 500) / 1000
        message = "map-message" if what == "map" else "run-message"
        task, polls = handles["job"].rpartition("~")[0], 0
        while True:
            time.sleep(interval)
            answer = self.callback(
                body, allowed=(200, 204), session=session, cacheKey=handles["cacheKey"], job=handles["job"]
            )
            polls += 1
            now = time.monotonic() - clicked
            if answer.status_code == 204:  # Dash: the job is gone and left no result
                raise AssertionError(
                    f"a poll of the {what} was answered with nothing (HTTP 204) after {now:.1f} s, {polls} polls: "
                    f"the job {task} ended without a result"
                )
            data = answer.json()
            _refused(data.get("sideUpdate", {}), f"a poll of the {what}", message)
            progress = data.get("progress")
            if progress:
                news(str(progress.get(f"{label_id}.children") or ""), now)
            if "response" in data:
                return data["response"], now, polls

    def close(self) -> None:
        self.http.close()


def _names(dependencies: list[dict]) -> list[str]:
    return [f"{d['id']}.{d['property']}" for d in dependencies]


def _component_props(layout) -> dict[str, dict]:
    """Every component with a plain id in the layout tree -> its properties."""
    found: dict[str, dict] = {}
    stack = [layout]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and isinstance(props.get("id"), str):
                found[props["id"]] = props
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _refused(outputs: dict, where: str, beside: str = "run-message") -> None:
    """A message beside Run (or Run map: ``beside``), a refusal or a failure, is an error."""
    message = (outputs.get(beside) or {}).get("children")
    if message:
        raise AssertionError(f"{where} showed the message {message!r}")


def visit_once(
    base: str, visit: Visit, run: dict, deadline: float, abort: threading.Event, map_extra: dict | None = None
) -> Visit:
    """Load the page, then press Run, and (given ``map_extra``) Run map at the same moment,
    as a visitor who starts a map while the run computes; each polls to its end."""
    visitor = Visitor(base, visit, run, deadline, abort)
    try:
        if _caught(visit, visitor.load_page, "the page"):
            return visit
        mapping = None
        if map_extra is not None:
            mapping = threading.Thread(target=_caught, args=(visit, lambda: visitor.press_map(map_extra), "the map"))
            mapping.start()
        _caught(visit, visitor.press_run, "the run")
        if mapping is not None:
            mapping.join()
    finally:
        visitor.close()
    return visit


def _caught(visit: Visit, step, what: str) -> bool:
    """``step()``; what went wrong goes into ``visit.errors`` (named by ``what``); True if it did."""
    try:
        step()
        return False
    except Aborted:
        visit.errors.append(f"{what}: still running at the deadline")
    except AssertionError as exc:
        visit.errors.append(f"{what}: {exc}")
    except requests.RequestException as exc:
        visit.errors.append(f"{what}: {type(exc).__name__}: {exc}")
    except Exception as exc:  # anything else is the load test's own failure: say it, do not hide it
        visit.errors.append(f"{what}: unexpected {type(exc).__name__}: {exc}")
    return True


def visit_all(
    base: str, runs: list[dict], seeds: list[int], deadline: float, first: int = 0, map_extra: dict | None = None
) -> list[Visit]:
    """One thread per visitor, all started together (each also runs a map, given
    ``map_extra``); past ``deadline`` (monotonic) the visitors still working are told to
    stop and reported as such."""
    abort = threading.Event()
    visits = [Visit(first + i, seed) for i, seed in enumerate(seeds)]
    threads = [
        threading.Thread(
            target=visit_once, args=(base, v, run, deadline, abort, map_extra), daemon=True, name=f"visitor-{i}"
        )
        for i, (v, run) in enumerate(zip(visits, runs, strict=True))
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()) + 5)
    finally:
        abort.set()
    for visit, thread in zip(visits, threads, strict=True):
        if thread.is_alive() and not visit.errors:
            visit.errors.append("still running at the deadline")
    return visits
