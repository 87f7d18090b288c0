"""The processes background jobs run in: started from a fork server that has loaded, once,
what every job needs, so that a job starts computing at once.

:func:`job_processes` starts that fork server and returns the ``multiprocess`` context whose
processes come from it (the app factory hands it to its job manager). Why a fork server:
Dash starts each job with ``multiprocess``'s default start method, fork, and a fork taken
while another server thread is inside SQLite (diskcache's job store, polled by every open
page) copies a held lock, and the job then hangs for ever (seen here when two jobs started
together). A fork server, started once in a fresh interpreter, has no such threads.

:func:`warm_up` is what it loads: the callbacks and the core, one small figure (Plotly
loads its validators on first use: ~0.2 s) and a two-step training, which compiles the
engine's numba kernels or loads them from numba's on-disk cache (~5 s to compile the first
time on a machine). The fork server runs it through its preload (dashboard.server.preload),
and the container image's build runs it to fill NUMBA_CACHE_DIR. It stays single-threaded:
the fork server must be safe to fork.

The fork server also loads the server's main script (``app.py``, gunicorn's, ...) once, as
each job would: a job process runs its parent's main script again to find what it may
unpickle (``multiprocess.spawn.prepare``), which took 0.42-0.77 s of every job here (app.py's
imports: Celery, the cluster module), unless the main module it inherits is that script
already. ``multiprocess`` means its fork server to do this when its preload names
``"__main__"``, but (as the standard library's in Python 3.11) it passes the script's path to
the fork server under a key the fork server does not read, so the script was never loaded
there: :func:`job_processes` hands it over itself (``MAIN_ENV``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

from core.config import RunConfig
from core.experiments.stability import run_stability
from dashboard.figures.distance import distance_plot

log = logging.getLogger(__name__)

PRELOAD = "dashboard.server.preload"  # imported by the fork server: it runs warm_up
MAIN_ENV = "WSD_JOB_MAIN"  # the main script's place, for the fork server's start only
MAIN_KEYS = ("init_main_from_name", "init_main_from_path")  # of multiprocess.spawn's preparation data


def warm_up() -> None:
    """Compile (or load) the engine, and draw a figure as a job does."""
    config = RunConfig(n_steps=2, n_perturbations=1)
    result = run_stability(config, threads=1)
    loss = result.trajectory.loss[:, 0]
    distance_plot(config, result.distance, loss, False, result.mlp.n_weights, live=True)


def job_processes() -> Any:
    """The ``multiprocess`` context of the job processes, its fork server started now (it
    takes 1-6 s: now, not on the first click). The start method of the rest of the process
    is left as it is."""
    import multiprocess
    import multiprocess.forkserver
    import multiprocess.spawn

    context = multiprocess.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD])
    data = multiprocess.spawn.get_preparation_data("job")
    with _environment(MAIN_ENV, json.dumps({key: data[key] for key in MAIN_KEYS if key in data})):
        multiprocess.forkserver.ensure_running()
    return context


def load_main() -> None:
    """In the fork server: load the parent's main script as each job would (``MAIN_ENV``), so
    that the jobs forked from here find it loaded and do not run it again."""
    import multiprocess.spawn

    main = json.loads(os.environ.pop(MAIN_ENV, "{}"))
    try:
        multiprocess.spawn.prepare({key: main[key] for key in MAIN_KEYS if key in main})
    except Exception:  # each job then meets the same error as it loads the script itself, in its own log
        log.exception("the fork server could not load the main script %s", main)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``name=value`` in this process's environment inside the block (the fork server, started
    inside it, inherits it), as it was after."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
