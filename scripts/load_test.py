"""Load test of the lab server: simulated visitors, each loading the page and starting a run,
against ``gunicorn -w 2 app:server`` with the Celery backend, all on loopback.

    .venv/bin/python scripts/load_test.py [--visitors 20] [--workers 2] [--steps 300] [--logs DIR] [--json]

Starts a Redis server (or uses --redis-url), N one-process Celery workers (``celery -A
app:celery_app worker``, cluster.local) and ``gunicorn app:server`` with WEB_CONCURRENCY=2
(gunicorn.conf.py: gthread, 4 threads), sharing one fresh WSD_CACHE_DIR and WSD_SECRET_KEY;
or, with --url, drives a server that is already running and starts nothing. Before the
measured visitors, one warm-up visitor per Celery worker runs once (not counted) so the
numbers are those of a server that has served before (--no-warm-up: from cold).

Then V visitors (default 20, at most 50) start at once, each in its own thread with its
own HTTP session (keep-alive and cookies, like a browser), and each:
  1. loads the page as a browser with an empty cache does: GET /, then the scripts and the
     stylesheet it names (4 at a time), /_dash-layout and /_dash-dependencies, then the
     callbacks the page fires at load;                      -> "page load"
  2. presses Run with its own seed (so no run is answered from the cache): the start
     callback, then the run's background callback (whose answer is a job handle), then
     polls with the handle every ``interval`` ms of that callback (200), as the page does,
     until the finished outputs arrive. From the click:
       "first news"      the first poll carrying progress: the job's place in the queue
                         ("queued: n jobs ahead of you", from the web server while the task
                         waits in Redis) or, if a worker took it at once, its first iteration
       "first progress"  the first live iteration count ("iteration n of m"): a Celery worker
                         has taken the task and it computes (the pick-up latency, from the page)
       "run latency"     the finished result
     and the most jobs ahead it was told of.
Errors: any HTTP status but 200 (and 204 where Dash answers "no update"), a message beside
Run (a refusal such as "the server is busy", a failed job), a poll answered with nothing
(HTTP 204: the page stops polling and the run never shows; Celery's state of that task is
added to the error), a finished label that is not the run's, a connection error (a request
that meets a kept-alive connection gunicorn has just closed is sent again once on a new
one, as a browser does, and counted), a traceback in gunicorn's log, or anything left
running at the deadline (--deadline, 180 s, for the visitors; start-up has its own
time-outs). Everything started is stopped at the end, whatever happens, and the processes
are checked to be gone. gunicorn's own time per request (its access log) is reported too.

Prints a table of p50/p95/max (or, with --json, every number and every visit as JSON);
the exit status is 1 if anything went wrong. ``run_load_test(...)`` does the same from
Python (tests/cluster/test_load.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_VISITORS = 50
PAGE_PARALLEL = 4  # connections a visitor opens for the page's files (a browser: ~6)
REQUEST_TIMEOUT = 30.0
RUN_CALLBACK = "pending.data"  # the input of the main run's background callback
START_INPUTS = ("run.n_clicks", "autorun.data")  # the inputs of the Run button's callback


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

    def callback(self, body: dict, allowed=(200,), **params) -> requests.Response:
        what = f"{'poll' if 'cacheKey' in params else 'callback'} {body['output'][:50]}"
        params = {"endId": self.end_id, **params}
        return self._send(self.http, "POST", "/_dash-update-component", what, allowed, params=params, json=body)

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
    def press_run(self) -> None:
        """Run with this visitor's settings, then poll until the finished outputs."""
        visit = self.visit
        start, job = self._dep(START_INPUTS), self._dep((RUN_CALLBACK,))
        interval = ((job.get("background") or {}).get("interval") or 500) / 1000
        settings = {f"{name}.value": str(value) for name, value in self.run.items()}
        clicked = time.monotonic()
        answer = self.callback(self._body(start, {"run.n_clicks": 1}, {"run.disabled": False, **settings})).json()
        outputs = answer.get("response", {})
        _refused(outputs, "the start callback")
        if "pending" not in outputs:
            label = (outputs.get("progress-label") or {}).get("children")
            raise AssertionError(f"Run started no job (answered from the cache?): {label!r}")
        body = self._body(job, {RUN_CALLBACK: outputs["pending"]["data"]})
        handles = self.callback(body).json()
        if "cacheKey" not in handles or "job" not in handles:
            raise AssertionError(f"the run's callback gave no job handle: {str(handles)[:300]}")
        visit.task = handles["job"].rpartition("~")[0]
        while True:
            time.sleep(interval)
            answer = self.callback(body, allowed=(200, 204), cacheKey=handles["cacheKey"], job=handles["job"])
            visit.polls += 1
            now = time.monotonic() - clicked
            if answer.status_code == 204:  # Dash: the job is gone and left no result
                raise AssertionError(
                    f"a poll was answered with nothing (HTTP 204) after {now:.1f} s, {visit.polls} polls: the job "
                    f"{visit.task} ended without a result"
                )
            data = answer.json()
            _refused(data.get("sideUpdate", {}), "a poll")
            progress = data.get("progress")
            if progress:
                label = str(progress.get("progress-label.children") or "")
                visit.first_news = visit.first_news if visit.first_news is not None else now
                if visit.first_progress is None and label.startswith("iteration "):
                    visit.first_progress = now
                ahead = re.match(r"queued: (\d+) jobs? ahead", label)
                if ahead:
                    visit.most_ahead = max(visit.most_ahead or 0, int(ahead.group(1)))
            if "response" in data:
                visit.run_latency = now
                break
        outputs = data["response"]
        _refused(outputs, "the finished run")
        visit.label = str((outputs.get("progress-label") or {}).get("children"))
        expected = f"{int(self.run['steps']):,} iterations · "
        if not visit.label.startswith(expected) or "result" not in outputs:
            raise AssertionError(f"the run finished with {visit.label!r}, not {expected!r}… and a result")
        visit.finished = True

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


def _refused(outputs: dict, where: str) -> None:
    """A message beside Run (a refusal, a failure) is an error."""
    message = (outputs.get("run-message") or {}).get("children")
    if message:
        raise AssertionError(f"{where} showed the message {message!r}")


def visit_once(base: str, visit: Visit, run: dict, deadline: float, abort: threading.Event) -> Visit:
    visitor = Visitor(base, visit, run, deadline, abort)
    try:
        visitor.load_page()
        visitor.press_run()
    except Aborted:
        visit.errors.append("still running at the deadline")
    except AssertionError as exc:
        visit.errors.append(str(exc))
    except requests.RequestException as exc:
        visit.errors.append(f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # anything else is the load test's own failure: say it, do not hide it
        visit.errors.append(f"unexpected {type(exc).__name__}: {exc}")
    finally:
        visitor.close()
    return visit


def visit_all(base: str, runs: list[dict], seeds: list[int], deadline: float, first: int = 0) -> list[Visit]:
    """One thread per visitor, all started together; past ``deadline`` (monotonic) the
    visitors still working are told to stop and reported as such."""
    abort = threading.Event()
    visits = [Visit(first + i, seed) for i, seed in enumerate(seeds)]
    threads = [
        threading.Thread(target=visit_once, args=(base, v, run, deadline, abort), daemon=True, name=f"visitor-{i}")
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


# ---- the servers ----------------------------------------------------------------------
@dataclass
class Servers:
    url: str
    workers: int = 0
    web_workers: int = 0
    access_log: Path | None = None
    error_log: Path | None = None
    redis_url: str | None = None


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workdir: Path, web_workers: int, timeout: float = 90.0) -> Iterator[Servers]:
    """``gunicorn app:server`` (gunicorn.conf.py) on a free loopback port, its own process
    group; yields once every one of its workers has answered a request."""
    from cluster.local import free_port

    port = free_port()
    access, errors = workdir / "access.log", workdir / "gunicorn.log"
    env = {**env, "PORT": str(port), "WEB_CONCURRENCY": str(web_workers), "WSD_HOST": "127.0.0.1"}
    command = [str(Path(sys.executable).with_name("gunicorn")), "--access-logfile", str(access),
               "--access-logformat", "%(p)s %(s)s %(m)s %(U)s?%(q)s %(L)s", "--error-logfile", str(errors),
               "--no-control-socket", "app:server"]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_every_worker(url, server, access, web_workers, errors, timeout)
        yield Servers(url, web_workers=web_workers, access_log=access, error_log=errors)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_for_every_worker(url, server, access: Path, n: int, errors: Path, timeout: float) -> None:
    """Until ``n`` distinct workers have answered GET /health (each on a new connection: the
    kernel hands connections to whichever worker is ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {server.returncode}:\n{_tail(errors)}")
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{url}/health", timeout=2, headers={"Connection": "close"})
        answered = {
            row[0] for row in _access_log(access) if row[1:3] == ("200", "GET") and row[3].startswith("/health")
        }
        if len(answered) >= n:
            return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn's {n} workers did not all answer within {timeout:.0f} s:\n{_tail(errors)}")


def _copy_logs(workdir: Path, logs: Path) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    for name in ("access.log", "gunicorn.log"):
        if (workdir / name).exists():
            shutil.copy(workdir / name, logs / name)


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def lab_server(
    workers: int, web_workers: int, redis_url: str | None, env: dict[str, str], logs: Path | None = None
) -> Iterator[Servers]:
    """Redis (unless given), ``workers`` Celery workers and gunicorn, on loopback, one cache
    directory and key; everything stopped at the end (gunicorn's logs then copied to ``logs``)."""
    from cluster.local import celery_workers, redis_server, worker_env

    secret = secrets.token_hex(32)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wsd-load-")))
        if logs is not None:
            stack.callback(_copy_logs, workdir, logs)
        cache_dir = workdir / "cache"
        if redis_url is None:
            redis_url = stack.enter_context(redis_server())
        if workers:
            _say(f"starting {workers} Celery worker(s) on {redis_url}")
            stack.enter_context(celery_workers(redis_url, secret, n=workers, cache_dir=cache_dir, **env))
        _say(f"starting gunicorn with {web_workers} workers")
        servers = stack.enter_context(gunicorn(worker_env(redis_url, secret, cache_dir, **env), workdir, web_workers))
        servers.workers, servers.redis_url = workers, redis_url
        yield servers


# ---- the whole test -----------------------------------------------------------------
@dataclass
class Report:
    visitors: int
    settings: dict
    visits: list[Visit]
    warm_up: list[Visit]
    phases: dict[str, float]  # seconds to start, warm up, run the visitors (all of them), stop
    deadline: float
    server_errors: list[str]
    stray_processes: list[str]
    served: dict[str, int]  # requests each gunicorn worker answered (its process id -> count)
    stats: dict[str, dict[str, float | int | None]]

    @property
    def elapsed(self) -> float:
        """Seconds the measured visitors took, all of them."""
        return self.phases["visitors"]

    @property
    def errors(self) -> list[str]:
        found = [f"visitor {v.visitor} (seed {v.seed}): {e}" for v in self.warm_up + self.visits for e in v.errors]
        unfinished = [v for v in self.visits if not v.finished and not v.errors]
        found += [f"visitor {v.visitor} (seed {v.seed}): the run did not finish" for v in unfinished]
        return found + self.server_errors + [f"still running after the end: {p}" for p in self.stray_processes]

    @property
    def ok(self) -> bool:
        return not self.errors and all(v.finished for v in self.visits) and self.elapsed <= self.deadline

    def as_json(self) -> dict:
        data = asdict(self)
        data.update(elapsed=self.elapsed, errors=self.errors, ok=self.ok)
        return data


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (linear between closest ranks, as numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _stat(values: list[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values, default=None),
    }


def summarize(visits: list[Visit]) -> dict[str, dict[str, float | int | None]]:
    """p50, p95 and max of each time (and of the polls a finished run took) over ``visits``."""
    return {
        name: _stat(
            [getattr(v, name) for v in visits if getattr(v, name) is not None and (name != "polls" or v.finished)]
        )
        for name in ("page_load", "first_news", "first_progress", "run_latency", "polls", "most_ahead")
    }


def run_load_test(
    visitors: int = 20,
    *,
    workers: int = 2,
    web_workers: int = 2,
    steps: int = 300,
    eta: float = 0.37,
    seed_base: int | None = None,
    deadline: float = 180.0,
    warm_up: bool = True,
    url: str | None = None,
    redis_url: str | None = None,
    env: dict[str, str] | None = None,
    logs: Path | None = None,
) -> Report:
    """Start the lab server (unless ``url``), run the visitors, stop everything; the report.
    ``env``: extra WSD_* settings for the web server and the workers (e.g. WSD_MAX_QUEUED);
    ``logs``: a directory to keep gunicorn's access and error logs in."""
    if not 1 <= visitors <= MAX_VISITORS:
        raise ValueError(f"visitors must be from 1 to {MAX_VISITORS}, got {visitors}")
    if url is None and not (1 <= workers <= 16 and 1 <= web_workers <= 16):
        raise ValueError(f"Celery and gunicorn workers must be from 1 to 16, got {workers} and {web_workers}")
    seed_base = secrets.randbelow(10**9) if seed_base is None else seed_base
    run = {"eta": eta, "steps": steps}
    settings = {"visitors": visitors, "celery_workers": workers if url is None else None,
                "gunicorn_workers": web_workers if url is None else None, "url": url, "steps": steps, "eta": eta,
                "seed_base": seed_base, "deadline": deadline, "env": env or {}}  # fmt: skip
    before = {p.pid for p in psutil.Process().children()}
    phases, clock = {}, time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        phases[name], clock = time.monotonic() - clock, time.monotonic()

    with contextlib.ExitStack() as stack:
        servers = (
            Servers(url) if url else stack.enter_context(lab_server(workers, web_workers, redis_url, env or {}, logs))
        )
        started = _descendants(before)
        lap("start")
        warm: list[Visit] = []
        if warm_up:
            n = max(1, workers if url is None else 2)
            _say(f"warm-up: {n} visitor(s)")
            seeds = [seed_base + visitors + i for i in range(n)]
            warm = visit_all(servers.url, [{**run, "seed": s} for s in seeds], seeds, time.monotonic() + 60, first=-n)
        lap("warm_up")
        _say(f"{visitors} visitors: page, then Run ({steps} iterations at eta {eta}), seeds {seed_base}+")
        seeds = [seed_base + i for i in range(visitors)]
        visits = visit_all(servers.url, [{**run, "seed": s} for s in seeds], seeds, time.monotonic() + deadline)
        lap("visitors")
        _explain_lost_jobs(servers, warm + visits)
        started |= _descendants(before)
        server_errors, served, server_times = _server_errors(servers), _served(servers), _server_times(servers)
        _say("stopping everything")
    stray = _still_running(started)
    lap("stop")
    stats = {**summarize(visits), **server_times}
    return Report(visitors, settings, visits, warm, phases, deadline, server_errors, stray, served, stats)


def _explain_lost_jobs(servers: Servers, visits: list[Visit]) -> None:
    """What Celery says of each job whose page was answered with nothing: its state, appended
    to the visit's error."""
    lost = [v for v in visits if v.task and any("HTTP 204" in e for e in v.errors)]
    if not (lost and servers.redis_url):
        return
    import redis

    client = redis.Redis.from_url(servers.redis_url)
    for visit in lost:
        meta = client.get(f"celery-task-meta-{visit.task}")
        state = json.loads(meta) if meta else None
        told = "no state in Redis" if state is None else {k: state.get(k) for k in ("status", "result", "date_done")}
        visit.errors.append(f"Celery's state of the task {visit.task}: {str(told)[:600]}")


def _descendants(excluded: set[int]) -> set[psutil.Process]:
    """The processes under this one, except those under the children in ``excluded``."""
    found = set()
    for child in psutil.Process().children():
        if child.pid not in excluded:
            found.add(child)
            with contextlib.suppress(psutil.Error):
                found.update(child.children(recursive=True))
    return found


def _still_running(processes: set[psutil.Process]) -> list[str]:
    """Processes started by the test that outlived its end (each then killed)."""
    stray = []
    deadline = time.monotonic() + 10
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(psutil.Error):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                stray.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
                process.kill()
    return stray


def _server_errors(servers: Servers) -> list[str]:
    """HTTP errors in gunicorn's access log and tracebacks in its error log."""
    errors = [
        f"gunicorn answered: {' '.join(row)}" for row in _access_log(servers.access_log) if row[1] not in ("200", "204")
    ]
    log = servers.error_log.read_text(errors="replace") if servers.error_log and servers.error_log.exists() else ""
    if "Traceback" in log or "[CRITICAL]" in log or "[ERROR]" in log:
        errors.append(f"gunicorn's log has errors:\n{log[-4000:]}")
    return errors


def _served(servers: Servers) -> dict[str, int]:
    """Requests each gunicorn worker answered, from its access log."""
    pids = [row[0] for row in _access_log(servers.access_log)]
    return {pid: pids.count(pid) for pid in sorted(set(pids))}


def _server_times(servers: Servers) -> dict[str, dict[str, float | int | None]]:
    """p50/p95/max of gunicorn's own time per request (from its access log), by kind: the
    page's files, callbacks, and polls of a job."""
    kinds: dict[str, list[float]] = {"server: GET": [], "server: callback": [], "server: poll": []}
    for _, _, method, path, seconds in _access_log(servers.access_log):
        if path.startswith("/health"):
            continue
        kind = "GET" if method == "GET" else "poll" if "cacheKey=" in path else "callback"
        kinds[f"server: {kind}"].append(float(seconds))
    return {kind: _stat(values) for kind, values in kinds.items()}


def _access_log(path: Path | None) -> list[tuple[str, ...]]:
    """(worker pid, status, method, path?query, seconds) of each request gunicorn answered."""
    if path is None or not path.exists():
        return []
    return re.findall(r"^<(\d+)> (\d+) (\S+) (\S+) ([\d.]+)$", path.read_text(), re.M)


def _say(message: str) -> None:
    print(f"[load_test] {message}", file=sys.stderr, flush=True)


def table(report: Report) -> str:
    s = report.settings
    where = s["url"] or f"gunicorn -w {s['gunicorn_workers']} + {s['celery_workers']} Celery workers (loopback)"
    lines = [
        f"{report.visitors} visitors on {where}; each loads the page, then runs {s['steps']} iterations "
        f"at eta {s['eta']} (own seed)",
        f"{'':22}{'n':>5}{'p50':>9}{'p95':>9}{'max':>9}",
    ]
    names = {"page_load": "page load (s)", "first_news": "first news (s)", "first_progress": "first progress (s)",
             "run_latency": "run latency (s)", "polls": "polls per run", "most_ahead": "jobs ahead (told)"}  # fmt: skip
    names.update({kind: f"{kind} (s)" for kind in report.stats if kind.startswith("server: ")})
    for key, title in names.items():
        st = report.stats[key]
        form = "{:.0f}" if key in ("polls", "most_ahead") else "{:.3f}" if key.startswith("server") else "{:.2f}"
        cells = ["-" if st[k] is None else form.format(st[k]) for k in ("p50", "p95", "max")]
        lines.append(f"{title:22}{st['n']:>5}" + "".join(f"{c:>9}" for c in cells))
    finished = sum(v.finished for v in report.visits)
    lines.append(
        f"finished {finished}/{report.visitors} runs in {report.elapsed:.1f} s (deadline {report.deadline:g} s); "
        + ", ".join(f"{name.replace('_', '-')} {seconds:.1f} s" for name, seconds in report.phases.items())
    )
    retries = sum(v.retries for v in report.warm_up + report.visits)
    if retries:
        lines.append(f"requests sent again on a new connection (gunicorn had closed the idle one): {retries}")
    if report.served:
        lines.append("requests per gunicorn worker: " + ", ".join(f"{n:,}" for n in report.served.values()))
    errors = report.errors
    lines.append("errors: none" if not errors else f"errors ({len(errors)}):")
    lines += [f"  {e}" for e in errors[:40]]
    return "\n".join(lines)


def _terminated(*_) -> None:
    _say("terminated: stopping everything")
    sys.exit(143)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=20, help=f"simulated visitors, 1 to {MAX_VISITORS} (20)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers to start, one process each (2)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers, WEB_CONCURRENCY (2)")
    parser.add_argument("--steps", type=int, default=300, help="iterations of each run (300)")
    parser.add_argument("--eta", type=float, default=0.37, help="learning rate of each run (0.37)")
    parser.add_argument("--seed-base", type=int, default=None, help="visitor i runs seed base+i (random)")
    parser.add_argument("--deadline", type=float, default=180.0, help="seconds for all visitors (180)")
    parser.add_argument("--no-warm-up", action="store_true", help="measure from a cold server")
    parser.add_argument("--max-queued", type=int, default=None, help="WSD_MAX_QUEUED for the servers started")
    parser.add_argument("--url", help="drive this running server instead of starting one")
    parser.add_argument("--redis-url", help="use this Redis server instead of starting one (workers still start here)")
    parser.add_argument("--logs", type=Path, help="keep gunicorn's access and error logs in this directory")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = parser.parse_args(argv)
    env = {} if args.max_queued is None else {"WSD_MAX_QUEUED": str(args.max_queued)}
    signal.signal(signal.SIGTERM, _terminated)  # stop everything on the way out
    try:
        report = run_load_test(
            args.visitors, workers=args.workers, web_workers=args.web_workers, steps=args.steps, eta=args.eta,
            seed_base=args.seed_base, deadline=args.deadline, warm_up=not args.no_warm_up, url=args.url,
            redis_url=args.redis_url, env=env, logs=args.logs,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(report.as_json(), indent=2) if args.json else table(report))
    if not report.ok:
        print(f"load_test: FAILED: {len(report.errors)} error(s)", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
