"""What every background job needs, loaded once by the fork server that starts the jobs
(see app.py), so that a job starts computing at once.

Importing this module imports the callbacks and the core, draws one small figure (Plotly
loads its validators on first use: ~0.2 s) and runs a two-step training, which compiles
the engine's numba kernels or loads them from numba's on-disk cache (~5 s to compile the
first time on a machine). It stays single-threaded: the fork server must be safe to fork.
"""

from __future__ import annotations

from core.config import RunConfig
from core.experiments.stability import run_stability
from dashboard.views import divergence


def warm_up() -> None:
    config = RunConfig(n_steps=2, n_perturbations=1)
    result = run_stability(config, threads=1)
    loss = result.trajectory.loss[:, 0]
    divergence.distance_plot(config, result.distance, loss, False, result.mlp.n_weights, live=True)


warm_up()
