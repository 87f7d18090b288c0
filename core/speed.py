"""How fast the engine runs on this machine, and what a job will cost here.

A job's time is estimated from a measurement, not a constant: ``measure_rate`` times the
engine on the default network (Iris, 4-10-3, P = 83) and gives trajectory-steps per
second; a network with P parameters costs about P / 83 times as much per step (the
kernel's work per row and step is proportional to P for a fixed data set).
"""

from __future__ import annotations

import time

import numpy as np

from core.data import load_iris
from core.model import MLP
from core.training import descend

REFERENCE_PARAMS = MLP().n_params  # 83


def measure_throughput(n_rows: int, seconds: float, repeats: int, threads: int = 1) -> tuple[float, float]:
    """(best, median) trajectory-steps per second of the engine on Iris over ``repeats`` timed
    runs of about ``seconds`` each, one process sharing ``n_rows`` rows over ``threads``
    threads (BLAS on one thread)."""
    data = load_iris()
    mlp = MLP()
    objective = mlp.objective(data.x_train, data.y_train, threads=threads)
    theta0 = mlp.init(np.random.default_rng(0), n_rows)
    descend(objective, theta0, 0.01, 1)  # compile (or load) the kernel
    n_steps, elapsed = 4, 0.0
    while elapsed < seconds / 4:  # calibrate the number of steps
        n_steps *= 2
        started = time.perf_counter()
        descend(objective, theta0, 0.01, n_steps, save_every=None)
        elapsed = time.perf_counter() - started
    n_steps = max(1, int(n_steps * seconds / elapsed))
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        descend(objective, theta0, 0.01, n_steps, save_every=None)
        rates.append(n_rows * n_steps / (time.perf_counter() - started))
    return max(rates), float(np.median(rates))


def measure_rate(seconds: float = 0.05, repeats: int = 5) -> float:
    """Trajectory-steps per second of one job here: 21 rows (the default run), one thread;
    the best of ``repeats`` short timings (~0.5 s in all with the kernel loaded). The best,
    because whatever else runs at that moment only ever slows a timing down."""
    return measure_throughput(21, seconds, repeats, threads=1)[0]


def estimate_seconds(trajectory_steps: float, n_params: int, rate: float, workers: int = 1) -> float:
    """Seconds for ``trajectory_steps`` of a network with ``n_params`` parameters at ``rate``
    (measured on the default network) over ``workers`` processes."""
    return trajectory_steps * (n_params / REFERENCE_PARAMS) / (rate * workers)
