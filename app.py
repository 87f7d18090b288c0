"""The dashboard. ``python app.py`` serves it on http://127.0.0.1:8050; ``app:server`` is for
gunicorn; ``app:celery_app`` is for Celery workers (``celery -A app:celery_app worker``, with
REDIS_URL set).

Environment: WSD_HOST, WSD_PORT (where ``python app.py`` listens: 127.0.0.1, 8050), WSD_DEBUG
(1 for Dash's debug mode, off by default), and the server's settings in
``dashboard/server/settings.py`` (cache directory, secret key, job slots and limits).
"""

from __future__ import annotations

import functools
import logging
import os
import sys

from dash import Dash

# imported here, not where it is used: `celery -A app` imports app, then drops its directory from sys.path
from cluster import make_celery
from cluster.celery_app import check_reachable
from core.engine.speed import measure_rate
from dashboard.jobs.flow import on_error
from dashboard.jobs.runner import Jobs
from dashboard.page import layout
from dashboard.server import cache, hardening, visitors
from dashboard.server.admission import Admission
from dashboard.server.manager import CeleryJobManager, JobManager
from dashboard.server.settings import Settings, secret_key, whole_setting
from dashboard.state.rules import Limits

log = logging.getLogger("app")


def _job_processes_from_a_forkserver() -> None:
    """Start Dash's background jobs from a single-threaded fork server, not from the server.

    DiskcacheManager starts each job with multiprocess's default start method, fork. A fork
    taken while another server thread is inside SQLite (diskcache's job store, polled by
    every open page) copies a held lock, and the job then hangs for ever: seen here when two
    jobs started together. A fork server, itself started once in a fresh interpreter, has no
    such threads; it preloads what the jobs need (dashboard.server.worker: modules, Plotly's
    validators, the compiled engine) so each job starts computing at once.
    """
    import multiprocess
    import multiprocess.forkserver

    multiprocess.set_start_method("forkserver", force=True)
    multiprocess.set_forkserver_preload(["dashboard.server.worker"])
    multiprocess.forkserver.ensure_running()  # now, not on the first click (it takes 1-6 s)


class LabDash(Dash):
    """Dash, with a page config that does not name the server's Python build
    (dashboard.server.hardening.page_config; Dash offers no option for it)."""

    def _config(self):
        return hardening.page_config(super()._config())


@functools.cache
def engine_rate() -> float:
    """Trajectory-steps per second of one job on this machine, measured once per process
    (~0.5 s); run costs are estimated from it (dashboard.state.rules.Limits)."""
    rate = measure_rate()
    log.info("the engine trains %.0f trajectory-steps/s per job here", rate)
    return rate


def create_app(settings: Settings | None = None) -> Dash:
    """A new, fully wired app (tests build one per test); ``settings`` default to the environment."""
    settings = settings or Settings.from_env()
    rate = settings.engine_rate or engine_rate()  # measured before the fork server's warm-up competes
    limits = Limits(rate=rate, max_seconds=settings.max_run_seconds)
    admission = Admission(
        settings.admission_dir,
        settings.max_jobs,
        settings.max_queued,
        settings.abandon_seconds,
        redis_url=settings.redis_url,
        per_visitor=settings.max_jobs_per_visitor,
    )
    key = secret_key(settings)
    store = Jobs(settings.results_dir, settings.cache_mb, admission, limits, key.encode())
    _job_processes_from_a_forkserver()
    jobs_store = cache.jobs_store(settings.jobs_dir)
    local = JobManager(jobs_store, admission)  # jobs in processes of this server
    celery, manager = None, local
    if settings.redis_url:  # jobs on Celery workers, here or on other hosts
        celery = make_celery(settings.redis_url, key)
        check_reachable(celery)  # a server that cannot reach Redis would take runs it cannot start
        manager = CeleryJobManager(celery, admission)
    app = LabDash(
        __name__,
        title="Weight-space dynamics",
        background_callback_manager=manager,
        on_error=on_error,
    )
    app.server.secret_key = key
    visitors.install(app.server, visitors.NewIdBudget(settings.visitors_dir, settings.new_visitors_per_hour))
    hardening.install(app.server, settings.proxies)
    app.celery = celery  # the workers' application (``celery -A app:celery_app worker``), or None
    # A regime map waits for its cells, which run as Celery tasks; waiting inside a worker
    # could take every worker process and wait for ever, so maps wait on this server.
    app.coordinator_manager = local
    app.layout = layout.build_layout()
    layout.register(app, store)
    _register_health(app, store, jobs_store)
    _register_page_scripts(app)
    return app


def _register_health(app: Dash, store: Jobs, jobs_store: cache.Store) -> None:
    """GET /health (under the URL prefix): "OK" while this worker can use its stores, else
    HTTP 503 naming the store and its error (container and load-balancer checks). A store
    that was deleted or corrupted heals on this check too (dashboard.server.cache.Store)."""

    def health():
        problems = []
        for name, stored in (("results", cache.results(store.results_dir, store.cache_mb)), ("jobs", jobs_store)):
            try:
                stored.check()
            except Exception as exc:  # what a broken disk raises varies: each is reported
                log.error("GET /health: the %s store in %s cannot be used: %s", name, stored.directory, exc)
                problems.append(f"the {name} store cannot be used ({type(exc).__name__})")
        if problems:
            return "; ".join(problems), 503, {"Content-Type": "text/plain"}
        return "OK", 200, {"Content-Type": "text/plain"}

    app.server.add_url_rule(app.config.routes_pathname_prefix + "health", "health", health)


def _register_page_scripts(app: Dash) -> None:
    """Serve the page once, here, so this process knows the page's script files.

    Dash registers the files a page may load while it renders the page (or sets itself up
    on its first request), and refuses (HTTP 500) a file it has not registered. Under
    gunicorn the page may come from one worker and its scripts from another that has not
    rendered it, asked for from several threads at once, some before the registration is
    complete: seen here as a page that failed to load (and reproduced in
    tests/dashboard/test_http.py).
    """
    answer = app.server.test_client().get(app.config.requests_pathname_prefix)
    if answer.status_code != 200:
        raise RuntimeError(f"the page did not render at start-up (HTTP {answer.status_code})")


def __getattr__(name: str):
    """``app`` and ``server`` (for gunicorn's ``app:server``), built on first use.

    Not at import: every background job process re-imports this main module (the fork
    server's children do), and building a whole app there cost ~1 s per job start.
    """
    if name in ("app", "server", "celery_app"):
        if name == "celery_app" and not os.environ.get("REDIS_URL"):
            raise RuntimeError("app:celery_app needs REDIS_URL (redis://host:6379/0) in the environment")
        dash_app = create_app()
        globals().update(app=dash_app, server=dash_app.server, celery_app=dash_app.celery)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        port = whole_setting(os.environ, "WSD_PORT", 8050, 1, 65535)
        dash_app = create_app()
    except ValueError as exc:
        print(f"app.py: error: {exc}", file=sys.stderr)
        return 2
    debug = os.environ.get("WSD_DEBUG", "").lower() in ("1", "true", "yes")
    dash_app.run(host=os.environ.get("WSD_HOST", "127.0.0.1"), port=port, debug=debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
