"""Load test of the lab server: simulated visitors, each loading the page and starting a run
(and, with --maps, a small regime map at the same moment), against ``gunicorn -w 2
app:server`` with the Celery backend or the diskcache default, all on loopback.

    .venv/bin/python scripts/load_test.py [--visitors 20] [--maps] [--backend celery|diskcache]
        [--workers 2] [--steps 300] [--logs DIR] [--json]

A class on one server (docs/performance.md), once per backend:

    .venv/bin/python scripts/load_test.py --visitors 30 --maps
    .venv/bin/python scripts/load_test.py --visitors 30 --maps --backend diskcache

Starts a Redis server (or uses --redis-url), N one-process Celery workers (``celery -A
app:celery_app worker``, cluster.local) and ``gunicorn app:server`` with WEB_CONCURRENCY=2
(gunicorn.conf.py: gthread, 4 threads), sharing one fresh WSD_CACHE_DIR and WSD_SECRET_KEY
(the layout of compose.yaml: web and workers on one cache directory); with --backend
diskcache, gunicorn alone without REDIS_URL (jobs in processes of the web server); or, with
--url, drives a server that is already running and starts nothing. Before the
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
  3. with --maps, presses Run map on the Regimes view as it presses Run (its own seed, so
     from no cache: a 1-D strip of --map-points learning rates from 0.05 to 2, --map-inits
     networks, --map-steps iterations), on a second connection, polling as the page does
     until the finished map:                                  -> "map latency"
Errors: any HTTP status but 200 (and 204 where Dash answers "no update"), a message beside
Run or Run map (a refusal such as "the server is busy", a failed job), a poll answered with nothing
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
import secrets
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from loadtest.servers import (
    Servers,
    descendants,
    gunicorn_errors,
    lab_server,
    read_access_log,
    requests_per_worker,
    say,
    still_running,
)
from loadtest.visitor import Visit, visit_all

MAX_VISITORS = 50


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
        if self.settings.get("map"):
            unmapped = [v for v in self.visits if not v.map_finished and not v.errors]
            found += [f"visitor {v.visitor} (seed {v.seed}): the map did not finish" for v in unmapped]
        return found + self.server_errors + [f"still running after the end: {p}" for p in self.stray_processes]

    @property
    def ok(self) -> bool:
        maps = not self.settings.get("map") or all(v.map_finished for v in self.visits)
        return not self.errors and all(v.finished for v in self.visits) and maps and self.elapsed <= self.deadline

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
        for name in ("page_load", "first_news", "first_progress", "run_latency", "polls", "most_ahead", "map_latency")
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
    maps: bool = False,
    map_points: int = 5,
    map_inits: int = 2,
    map_steps: int = 150,
    backend: str = "celery",
) -> Report:
    """Start the lab server (unless ``url``), run the visitors, stop everything; the report.
    ``env``: extra WSD_* settings for the web server and the workers (e.g. WSD_MAX_QUEUED);
    ``logs``: a directory to keep gunicorn's access and error logs in; ``maps``: each visitor
    also runs a 1-D map of ``map_points`` learning rates x ``map_inits`` networks x
    ``map_steps`` iterations; ``backend``: "celery" (Redis and ``workers`` Celery workers on
    the web server's cache directory) or "diskcache" (gunicorn alone)."""
    if not 1 <= visitors <= MAX_VISITORS:
        raise ValueError(f"visitors must be from 1 to {MAX_VISITORS}, got {visitors}")
    if backend not in ("celery", "diskcache"):
        raise ValueError(f"backend must be celery or diskcache, got {backend!r}")
    workers = workers if backend == "celery" else 0
    if url is None and not ((1 <= workers or backend == "diskcache") and workers <= 16 and 1 <= web_workers <= 16):
        raise ValueError(f"Celery and gunicorn workers must be from 1 to 16, got {workers} and {web_workers}")
    seed_base = secrets.randbelow(10**9) if seed_base is None else seed_base
    run = {"eta": eta, "steps": steps}
    extra = {"map": "eta", "eta_min": "0.05", "eta_max": "2", "eta_points": str(map_points),
             "inits": str(map_inits), "map_steps": str(map_steps)} if maps else None  # fmt: skip
    settings = {"visitors": visitors, "backend": None if url else backend,
                "celery_workers": workers if url is None else None,
                "gunicorn_workers": web_workers if url is None else None, "url": url, "steps": steps, "eta": eta,
                "map": extra, "seed_base": seed_base, "deadline": deadline, "env": env or {}}  # fmt: skip
    before = {p.pid for p in psutil.Process().children()}
    phases, clock = {}, time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        phases[name], clock = time.monotonic() - clock, time.monotonic()

    with contextlib.ExitStack() as stack:
        servers = (
            Servers(url)
            if url
            else stack.enter_context(lab_server(workers, web_workers, redis_url, env or {}, logs, backend))
        )
        started = descendants(before)
        lap("start")
        warm: list[Visit] = []
        if warm_up:
            n = max(1, workers if url is None and workers else 2)
            say(f"warm-up: {n} visitor(s)")
            seeds = [seed_base + visitors + i for i in range(n)]
            runs = [{**run, "seed": s} for s in seeds]
            warm = visit_all(servers.url, runs, seeds, time.monotonic() + 60, first=-n, map_extra=extra)
        lap("warm_up")
        what = "" if extra is None else f" and Run map ({map_points} x {map_inits} networks x {map_steps} iterations)"
        say(f"{visitors} visitors: page, then Run ({steps} iterations at eta {eta}){what}, seeds {seed_base}+")
        seeds = [seed_base + i for i in range(visitors)]
        runs = [{**run, "seed": s} for s in seeds]
        visits = visit_all(servers.url, runs, seeds, time.monotonic() + deadline, map_extra=extra)
        lap("visitors")
        _explain_lost_jobs(servers, warm + visits)
        started |= descendants(before)
        server_errors, served, server_times = (
            gunicorn_errors(servers),
            requests_per_worker(servers),
            _server_times(servers),
        )
        say("stopping everything")
    stray = still_running(started)
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


def _server_times(servers: Servers) -> dict[str, dict[str, float | int | None]]:
    """p50/p95/max of gunicorn's own time per request (from its access log), by kind: the
    page's files, callbacks, and polls of a job."""
    kinds: dict[str, list[float]] = {"server: GET": [], "server: callback": [], "server: poll": []}
    for _, _, method, path, seconds in read_access_log(servers.access_log):
        if path.startswith("/health"):
            continue
        kind = "GET" if method == "GET" else "poll" if "cacheKey=" in path else "callback"
        kinds[f"server: {kind}"].append(float(seconds))
    return {kind: _stat(values) for kind, values in kinds.items()}


def table(report: Report) -> str:
    s = report.settings
    where = s["url"] or (
        f"gunicorn -w {s['gunicorn_workers']} + {s['celery_workers']} Celery workers, one cache directory (loopback)"
        if s.get("backend") != "diskcache"
        else f"gunicorn -w {s['gunicorn_workers']}, jobs in its own processes (diskcache, loopback)"
    )
    m = s.get("map")
    mapping = "" if not m else f", and a map of {m['eta_points']} eta x {m['inits']} networks x {m['map_steps']} it."
    lines = [
        f"{report.visitors} visitors on {where}; each loads the page, then runs {s['steps']} iterations "
        f"at eta {s['eta']} (own seed){mapping}",
        f"{'':22}{'n':>5}{'p50':>9}{'p95':>9}{'max':>9}",
    ]
    names = {"page_load": "page load (s)", "first_news": "first news (s)", "first_progress": "first progress (s)",
             "run_latency": "run latency (s)", "polls": "polls per run", "most_ahead": "jobs ahead (told)",
             "map_latency": "map latency (s)"}  # fmt: skip
    if not m:
        del names["map_latency"]
    names.update({kind: f"{kind} (s)" for kind in report.stats if kind.startswith("server: ")})
    for key, title in names.items():
        st = report.stats[key]
        form = "{:.0f}" if key in ("polls", "most_ahead") else "{:.3f}" if key.startswith("server") else "{:.2f}"
        cells = ["-" if st[k] is None else form.format(st[k]) for k in ("p50", "p95", "max")]
        lines.append(f"{title:22}{st['n']:>5}" + "".join(f"{c:>9}" for c in cells))
    finished = sum(v.finished for v in report.visits)
    maps = "" if not m else f" and {sum(v.map_finished for v in report.visits)}/{report.visitors} maps"
    lines.append(
        f"finished {finished}/{report.visitors} runs{maps} in {report.elapsed:.1f} s (deadline {report.deadline:g} s); "
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
    say("terminated: stopping everything")
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
    parser.add_argument("--maps", action="store_true", help="each visitor also runs a small regime map")
    parser.add_argument("--map-points", type=int, default=5, help="learning rates of each map, 2 to 60 (5)")
    parser.add_argument("--map-inits", type=int, default=2, help="networks per learning rate of each map (2)")
    parser.add_argument("--map-steps", type=int, default=150, help="iterations of each map, 50 or more (150)")
    parser.add_argument("--backend", choices=("celery", "diskcache"), default="celery",
                        help="celery: Redis and Celery workers sharing the web server's cache directory; "
                             "diskcache: gunicorn alone (celery)")  # fmt: skip
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
            redis_url=args.redis_url, env=env, logs=args.logs, maps=args.maps, map_points=args.map_points,
            map_inits=args.map_inits, map_steps=args.map_steps, backend=args.backend,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(report.as_json(), indent=2) if args.json else table(report))
    if not report.ok:
        print(f"load_test: FAILED: {len(report.errors)} error(s)", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
