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
from dataclasses import dataclass
from typing import Any

from celery import Celery
from dash import Dash

# imported here, not where it is used: `celery -A app` imports app, then drops its directory from sys.path
from cluster import make_celery
from cluster.celery_app import check_reachable
from core.engine.speed import measure_rate
from dashboard.jobs.flow import on_error
from dashboard.jobs.runner import Jobs
from dashboard.page import layout
from dashboard.server import cache, hardening, visitors, worker
from dashboard.server.admission import Admission
from dashboard.server.compat.dash_parts import PageConfigDash
from dashboard.server.manager import CeleryJobManager, JobManager
from dashboard.server.settings import Settings, secret_key, whole_setting
from dashboard.state.rules import Limits

log = logging.getLogger("app")


class LabDash(PageConfigDash):
    """The lab's Dash app. Its page config does not name the server's Python build
    (dashboard.server.hardening.page_config; Dash offers no option for it), and it carries
    the manager that regime maps run on (``coordinator_manager``): with Celery a map waits
    for its cells, which run as Celery tasks, and waiting inside a worker could take every
    worker process and wait for ever, so maps wait on this server (dashboard.views.regimes)."""

    def __init__(self, *args: Any, coordinator_manager: JobManager | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.coordinator_manager = coordinator_manager

    def filter_page_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return hardening.page_config(config)


@dataclass(frozen=True)
class Lab:
    """What :func:`build_lab` makes: the Dash app (``dash.server`` for gunicorn), the Celery
    application its jobs run on (None without REDIS_URL; ``celery -A app:celery_app
    worker``), the results store and the store of Dash's job state."""

    dash: LabDash
    celery: Celery | None
    jobs: Jobs
    jobs_store: cache.Store


@functools.cache
def engine_rate() -> float:
    """Trajectory-steps per second of one job on this machine, measured once per process
    (~0.5 s); run costs are estimated from it (dashboard.state.rules.Limits)."""
    rate = measure_rate()
    log.info("the engine trains %.0f trajectory-steps/s per job here", rate)
    return rate


def create_app(settings: Settings | None = None) -> Dash:
    """A new, fully wired app (tests build one per test); ``settings`` default to the environment."""
    return build_lab(settings).dash


def build_lab(settings: Settings | None = None) -> Lab:
    """A new, fully wired lab: the app, its stores, and its Celery application if any."""
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
    jobs_store = cache.jobs_store(settings.jobs_dir)
    local = JobManager(jobs_store, admission, worker.job_processes())  # jobs in processes of this server
    celery: Celery | None = None
    manager: JobManager | CeleryJobManager = local
    if settings.redis_url:  # jobs on Celery workers, here or on other hosts
        celery = make_celery(settings.redis_url, key)
        check_reachable(celery)  # a server that cannot reach Redis would take runs it cannot start
        manager = CeleryJobManager(celery, admission)
    app = LabDash(
        __name__,
        title="Weight-space dynamics",
        background_callback_manager=manager,
        on_error=on_error,
        coordinator_manager=local,
    )
    app.server.secret_key = key
    visitors.install(app.server, visitors.NewIdBudget(settings.visitors_dir, settings.new_visitors_per_hour))
    hardening.install(app.server, settings.proxies)
    app.layout = layout.build_layout()
    layout.register(app, store)
    _register_health(app, store, jobs_store)
    _register_page_scripts(app)
    return Lab(dash=app, celery=celery, jobs=store, jobs_store=jobs_store)


def _register_health(app: Dash, store: Jobs, jobs_store: cache.Store) -> None:
    """GET /health (under the URL prefix): "OK" while this worker can use its stores, else
    HTTP 503 naming the store and its error (container and load-balancer checks). A store
    that was deleted or corrupted heals on this check too (dashboard.server.cache.Store)."""

    def health() -> tuple[str, int, dict[str, str]]:
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
    tests/dashboard/server/test_http.py).
    """
    answer = app.server.test_client().get(app.config.requests_pathname_prefix)
    if answer.status_code != 200:
        raise RuntimeError(f"the page did not render at start-up (HTTP {answer.status_code})")


@functools.cache
def lab() -> Lab:
    """This process's lab, built from the environment on first use: what gunicorn's
    ``app:server`` and Celery's ``app:celery_app`` name."""
    return build_lab(Settings.from_env())


def __getattr__(name: str) -> Any:
    """``app``, ``server`` (gunicorn's ``app:server``) and ``celery_app`` (``celery -A
    app:celery_app worker``): the parts of :func:`lab`, looked up by name (PEP 562).

    Not built at import: every background job process re-imports this main module (the fork
    server's children do), and building a whole app there cost ~1 s per job start.
    """
    if name == "celery_app" and not os.environ.get("REDIS_URL"):
        raise RuntimeError("app:celery_app needs REDIS_URL (redis://host:6379/0) in the environment")
    if name == "app":
        return lab().dash
    if name == "server":
        return lab().dash.server
    if name == "celery_app":
        return lab().celery
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
