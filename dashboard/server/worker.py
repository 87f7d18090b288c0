"""The processes background jobs run in: started from a fork server that has loaded, once,
what every job needs, so that a job starts computing at once.

:func:`job_processes` starts that fork server and returns the ``multiprocess`` context whose
processes come from it (the app factory hands it to its job manager). Why a fork server:
Dash starts each job with ``multiprocess``'s default start method, fork, and a fork taken
while another server thread is inside SQLite (diskcache's job store, polled by every open
page) copies a held lock, and the job then hangs for ever (seen here when two jobs started
together). A fork server, started once in a fresh interpreter, has no such threads.

:func:`warm_up` is what it loads: the callbacks and the core, a two-step training, which
compiles the engine's numba kernels or loads them from numba's on-disk cache (~5 s to compile
the first time on a machine), and a tiny map of the Regimes view drawn live, with a run's
figure: each job's first live report would otherwise pay what a first time costs, Plotly's
validators of each kind of figure (~0.2 s) and pandas for a map's table (0.4-0.9 s; both
measured in a map job's first report). The fork server runs it through its preload
(dashboard.server.preload), and the container image's build runs it to fill NUMBA_CACHE_DIR.
It stays single-threaded: the fork server must be safe to fork.

The fork server also loads the server's main script once (``core.engine.forkserver``), so
that no job runs it again before it computes (0.42-0.77 s of every job here).
"""

from __future__ import annotations

from typing import Any

from core.config import RunConfig
from core.engine.forkserver import start_with_main
from core.experiments.stability import run_stability
from dashboard.figures.distance import distance_plot
from dashboard.figures.map_kinds import map_figure
from dashboard.jobs.compute import regime_map

PRELOAD = "dashboard.server.preload"  # imported by the fork server: it runs warm_up


def warm_up() -> None:
    """Compile (or load) the engine, and draw a run's figure and a map's as their jobs do
    (the map: two cells in this process, no worker)."""
    config = RunConfig(n_steps=2, n_perturbations=1)
    result = run_stability(config, threads=1)
    loss = result.trajectory.loss[:, 0]
    distance_plot(config, result.distance, loss, False, result.mlp.n_weights, live=True)
    map_figure(regime_map(config, "eta", [0.1, 1.0], [], 1, None, workers=1), live=True)


def job_processes() -> Any:
    """The ``multiprocess`` context of the job processes, its fork server started now (it
    takes 1-6 s: now, not on the first click). The start method of the rest of the process
    is left as it is."""
    import multiprocess
    import multiprocess.forkserver
    import multiprocess.spawn

    context = multiprocess.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD])
    start_with_main(multiprocess.spawn, multiprocess.forkserver.ensure_running)
    return context
