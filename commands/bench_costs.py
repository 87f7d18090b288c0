"""bench --estimates and --costs: the cost model (core.engine.speed) against this machine.

``--estimates`` runs one small job of each kind the dashboard and the CLI price and prints its
estimated and actual seconds; ``--costs`` measures each term of the model, in reference steps u
(1 / measure_rate()), beside the constant the model holds, so the constants can be checked, or
measured again on another machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from commands.common import emit
from core.analysis import hessian
from core.analysis.lyapunov import fit_ftle
from core.config import RunConfig
from core.data import Dataset
from core.engine import speed
from core.engine.parallel import default_workers, map_chunks
from core.engine.training import descend
from core.experiments.cells import _Chunk, _train_chunk
from core.experiments.map_kinds import map_kind
from core.experiments.maps import run_map, zoom_grids
from core.experiments.orbit import run_orbit
from core.experiments.regimes import geometric_grid, run_sweep
from core.experiments.stability import dataset_for, network_for, run_stability

# (name, kind, dataset, eta grid, seeds or eps count, networks, steps): one job of each kind
ESTIMATE_JOBS = (
    ("run: default, 21 rows x 5,000 steps", "run", "iris", None, 0, 1, 5000),
    ("strip: 25 eta x 20 networks x 6 rows x 500", "eta", "iris", (1e-3, 20.0, 25), 0, 20, 500),
    ("orbit: 40 eta x 1 row x 2,000", "orbit", "iris", (0.3, 30.0, 40), 0, 1, 2000),
    ("eta x seed: 12 eta x 16 seeds x 1 row x 200", "eta-seed", "iris", (0.01, 20.0, 12), 16, 1, 200),
    ("eta x eps: 12 eta x 6 eps x 8 networks x 31 rows x 200", "eta-eps", "iris", (0.01, 20.0, 12), 6, 8, 200),
    ("zoom: eta 0.5-2 x eps 1e-10-1e-6 of that map (5 x 9)", "zoom", "iris", (0.01, 20.0, 12), 6, 8, 200),
    ("digits strip: 12 eta x 2 networks x 6 rows x 300", "eta", "digits", (0.01, 20.0, 12), 0, 2, 300),
)


def bench_estimates(workers: int | None) -> list[dict[str, Any]]:
    """Each job of ESTIMATE_JOBS: the model's estimate at the rate measured now, and the
    seconds it took (training and what follows: FTLE fits, summaries, labels)."""
    workers = workers or default_workers()
    rate = speed.measure_rate()
    rows = []
    for name, kind, dataset, grid, n_ys, inits, steps in ESTIMATE_JOBS:
        config = RunConfig.for_dataset(dataset, n_steps=steps, n_perturbations=20 if kind == "run" else 5)
        data = dataset_for(config, None)
        net = speed.network_cost(network_for(config, data), len(data.y_train), len(data.y_test))
        etas = geometric_grid(*grid) if grid else np.zeros(0)
        ys = config.seed + np.arange(n_ys) if kind == "eta-seed" else geometric_grid(1e-12, 1e-2, 6, "eps")
        if kind == "zoom":
            etas, ys = zoom_grids("eta-eps", etas, ys, (0.5, 2.0), (1e-10, 1e-6))
        if kind == "run":
            estimate = speed.run_estimate(net, 1 + config.n_perturbations, steps, rate)
        else:
            model_kind, y_count = ("eta-eps" if kind == "zoom" else kind), (ys.size if n_ys else 0)
            estimate = map_kind(model_kind).estimate(net, etas.size, y_count, inits, 5, steps, rate, workers)
        load = os.getloadavg()[0]
        _cold_workers()
        started = time.perf_counter()
        _estimated_job(kind, config, data, etas, ys, inits, workers)
        seconds = time.perf_counter() - started
        rows.append({"job": name, "estimate": estimate.seconds, "seconds": seconds, "load": load})
    return rows


def _cold_workers() -> None:
    """Stop this process's workers' fork server if it runs, so that the next job starts its
    worker processes as a CLI command or a dashboard job does, each in a process of its own
    (the model prices that start, POOL_START): the jobs here found the first job's fork server
    loaded, and ran 0.2 of their estimates. A private method of the standard library's
    fork server; for this benchmark only."""
    import multiprocessing.forkserver

    multiprocessing.forkserver._forkserver._stop()  # type: ignore[attr-defined]


def _estimated_job(
    kind: str, config: RunConfig, data: Dataset, etas: npt.NDArray[Any], ys: npt.NDArray[Any], inits: int, workers: int
) -> object:
    """Run one job of ESTIMATE_JOBS to the end: its training and the results it reports."""
    if kind == "run":
        return run_stability(config, data=data, threads=1).ftle
    if kind == "eta":
        return run_sweep(config, etas, inits, data=data, workers=workers).summary()
    if kind == "orbit":
        return run_orbit(config, etas, data=data, workers=workers).n_distinct
    if kind == "eta-seed":
        return run_map("eta-seed", config, etas, ys, data=data, workers=workers).table()
    return run_map("eta-eps", config, etas, ys, n_inits=inits, data=data, workers=workers).table()


def cmd_estimates(args: argparse.Namespace) -> int:
    estimates = bench_estimates(args.workers)
    lines = [f"{'job':<58} {'estimate':>9} {'actual':>8} {'ratio':>6} {'load':>5}"] + [
        f"{e['job']:<58} {e['estimate']:8.1f}s {e['seconds']:7.1f}s "
        f"{e['seconds'] / e['estimate']:6.2f} {e['load']:5.1f}"
        for e in estimates
    ]
    lines.append(
        f"ratio: actual / estimate; load: the 1-minute load average as the job started ({os.cpu_count()} cores)"
    )
    emit({"estimates": estimates, "workers": args.workers or default_workers()}, args.json, lines)
    return 0


# ---- the model's terms, measured ---------------------------------------------------------
def _chunk_u_per_step(config: RunConfig, data: Dataset, cells: int, rows: int, repeats: int) -> float:
    """u per step of one chunk of ``cells`` cells of ``rows`` rows: the median over ``repeats``
    of its thread CPU time times the rate measured just before (the machine's speed drifts)."""
    config, mlp = dataclasses.replace(config, n_perturbations=max(rows - 1, 1)), network_for(config, data)
    eps = np.array([1e-8]) if rows > 1 else np.zeros(0)
    chunk = _Chunk(mlp, data, config, eps, rows - 1, np.full(cells, 0.1), np.arange(cells), False)
    units = []
    for _ in range(repeats):
        rate, started = speed.measure_rate(), time.thread_time()
        _train_chunk(chunk)
        units.append((time.thread_time() - started) * rate / (config.n_steps + 1))
    return float(np.median(units))


def _cells_terms(dataset: str, n_steps: int, repeats: int) -> tuple[float, float, float]:
    """(step, row, test) in u from chunks of 1 x 1, 1 x R and C x 1 cells."""
    config = RunConfig.for_dataset(dataset, n_steps=n_steps, n_perturbations=5)
    data = dataset_for(config, None)
    wide, many = (31, 8) if dataset == "iris" else (6, 4)
    one = _chunk_u_per_step(config, data, 1, 1, repeats)
    row = (_chunk_u_per_step(config, data, 1, wide, repeats) - one) / (wide - 1)
    test = (_chunk_u_per_step(config, data, many, 1, repeats) - one) / (many - 1) - row
    return one - row - test, row, test


def _plain_terms(rate: float, repeats: int) -> tuple[float, float]:
    """(step, row) in u of plain descend calls on the default network, K = 1 and 128."""
    t1, t128 = (k * rate / speed.measure_throughput(k, 0.1, repeats)[0] for k in (1, 128))
    row = (t128 - t1) / 127
    return t1 - row, row


def _lanczos_terms(rate: float) -> tuple[float, float]:
    """(products, u) per Lanczos sharpness of three digits networks trained 60 steps."""
    config = RunConfig.for_dataset("digits", n_steps=60, n_perturbations=1)
    data = dataset_for(config, None)
    mlp = network_for(config, data)
    objective = mlp.objective(data.x_train, data.y_train)
    theta = descend(objective, mlp.init(np.random.default_rng(0), 3), np.array([0.1, 1.0, 5.0]), 60).final_theta
    counted, product = [], hessian.hessian_vector_product

    def counting(*args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return product(*args, **kwargs)

    hessian.hessian_vector_product = counting
    try:
        started = time.perf_counter()
        hessian.sharpness(objective, theta)
        seconds = time.perf_counter() - started
    finally:
        hessian.hessian_vector_product = product
    return len(counted) / 3, seconds * rate / 3


def _pool_start(rate: float) -> float:
    """Seconds, at the reference rate, from a pool's start to its first worker's result (cold:
    a new fork server, as each CLI job and each dashboard job starts one)."""
    arrived: dict[int, float] = {}
    started = time.perf_counter()
    map_chunks(math.sqrt, [1.0, 2.0, 3.0], workers=2, on_result=lambda i, _: arrived.setdefault(i, time.perf_counter()))
    # chunk 1 is always a worker's (chunks 0 and 2 may be computed here while the workers start)
    return (arrived[1] - started) * rate / speed.REFERENCE_RATE


def measure_costs(repeats: int) -> list[tuple[str, float, float]]:
    """(term, measured, the model's constant) for each term of the cost model, in u unless named."""
    rate = speed.measure_rate  # measured again beside each term: the machine's speed drifts
    iris_data, digits_config = dataset_for(RunConfig(), None), RunConfig.for_dataset("digits")
    iris = speed.network_cost(network_for(RunConfig(), iris_data), 120, 30)
    digits = speed.network_cost(network_for(digits_config, dataset_for(digits_config, None)), 1438, 359)
    step, row = _plain_terms(rate(), repeats)
    c_step, c_row, c_test = _cells_terms("iris", 300, repeats)
    b_step, b_row, b_test = _cells_terms("digits", 100, repeats)
    products, lanczos = _lanczos_terms(rate())
    curves = np.exp(np.cumsum(np.random.default_rng(0).normal(0.1, 0.3, (200, 201)), axis=1))
    r, started = rate(), time.perf_counter()
    fit_ftle(curves)
    ftle = (time.perf_counter() - started) * r / 200
    objective = network_for(RunConfig(), iris_data).objective(iris_data.x_train, iris_data.y_train)
    with threadpool_limits(limits=1, user_api="blas"):  # as a chunk of cells runs it (core.experiments.cells)
        r, started = rate(), time.perf_counter()
        hessian.sharpness(objective, np.full((5, 83), 0.1))
        exact = (time.perf_counter() - started) * r / 5
    return [
        ("plain descend: u per step besides its rows (DESCEND_STEP)", step, speed.DESCEND_STEP),
        ("plain descend: u per row-step, default network (KERNEL_ROW)", row, speed.KERNEL_ROW),
        ("cells, kernel: u per step besides rows (CELLS_STEP)", c_step, speed.CELLS_STEP["compiled"]),
        ("cells, kernel: u per row-step", c_row, iris.row),
        ("cells, kernel: u per reference's test accuracy", c_test, iris.test),
        ("cells, BLAS: u per step besides rows (CELLS_STEP)", b_step, speed.CELLS_STEP["blas"]),
        ("cells, BLAS: u per digits row-step", b_row, digits.row),
        ("cells, BLAS: u per digits reference's test accuracy", b_test, digits.test),
        ("exact sharpness, default network: u", exact, iris.sharpness),
        ("Lanczos sharpness, digits: products (LANCZOS_PRODUCTS)", products, speed.LANCZOS_PRODUCTS),
        ("Lanczos sharpness, digits: u", lanczos, digits.sharpness),
        ("FTLE fit of one curve, T = 200: u (FTLE_FIT)", ftle, speed.FTLE_FIT),
        ("worker processes started, cold: s at 200k (POOL_START)", _pool_start(rate()), speed.POOL_START),
    ]


def cmd_costs(args: argparse.Namespace) -> int:
    terms = measure_costs(args.repeats)
    lines = [f"{'term':<62} {'measured':>9} {'model':>9}"]
    lines += [f"{name:<62} {measured:9.2f} {model:9.2f}" for name, measured, model in terms]
    lines.append("u: one reference trajectory-step, 1 / measure_rate() (the default network, 21 rows, one thread)")
    emit({"terms": [{"term": n, "measured": m, "model": c} for n, m, c in terms]}, args.json, lines)
    return 0
