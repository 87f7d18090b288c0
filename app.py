"""The dashboard. ``python app.py`` serves it on http://127.0.0.1:8050; ``app:server`` is for gunicorn.

Environment:
  WSD_HOST, WSD_PORT   where ``python app.py`` listens (127.0.0.1, 8050)
  WSD_DEBUG            1 to turn on Dash's debug mode (off by default)
  WSD_CACHE_DIR        results cache and background-job state (./.cache); every gunicorn
                       worker must share it
  WSD_CACHE_MB         size bound of the results cache (1024)
  WSD_SECRET_KEY       Flask secret key (a random one per process if unset)
"""

from __future__ import annotations

import os
import secrets

from dash import Dash

from dashboard import cache, callbacks
from dashboard.layout import build_layout
from dashboard.manager import JobManager


def _job_processes_from_a_forkserver() -> None:
    """Start Dash's background jobs from a single-threaded fork server, not from the server.

    DiskcacheManager starts each job with multiprocess's default start method, fork. A fork
    taken while another server thread is inside SQLite (diskcache's job store, polled by
    every open page) copies a held lock, and the job then hangs for ever: seen here when two
    jobs started together. A fork server, itself started once in a fresh interpreter, has no
    such threads; it preloads what the jobs need (dashboard.worker: modules, Plotly's
    validators, the compiled engine) so each job starts computing at once.
    """
    import multiprocess
    import multiprocess.forkserver

    multiprocess.set_start_method("forkserver", force=True)
    multiprocess.set_forkserver_preload(["dashboard.worker"])
    multiprocess.forkserver.ensure_running()  # now, not on the first click (it takes 1-6 s)


def create_app() -> Dash:
    """A new, fully wired app (tests build one per test)."""
    _job_processes_from_a_forkserver()
    manager = JobManager(cache.jobs_cache())
    app = Dash(
        __name__,
        title="Weight-space dynamics",
        background_callback_manager=manager,
    )
    app.server.secret_key = os.environ.get("WSD_SECRET_KEY") or secrets.token_hex(32)
    app.layout = build_layout()
    callbacks.register(app, cache.results_dir())
    return app


def __getattr__(name: str):
    """``app`` and ``server`` (for gunicorn's ``app:server``), built on first use.

    Not at import: every background job process re-imports this main module (the fork
    server's children do), and building a whole app there cost ~1 s per job start.
    """
    if name in ("app", "server"):
        dash_app = create_app()
        globals().update(app=dash_app, server=dash_app.server)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    debug = os.environ.get("WSD_DEBUG", "").lower() in ("1", "true", "yes")
    create_app().run(
        host=os.environ.get("WSD_HOST", "127.0.0.1"), port=int(os.environ.get("WSD_PORT", "8050")), debug=debug
    )
