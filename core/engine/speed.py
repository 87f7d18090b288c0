"""How fast the engine runs on this machine, and what a job will cost here.

``measure_rate`` times the engine on the default network (Iris, 4-10-3, P = 83, 21 rows, one
thread) and gives trajectory-steps per second, R. Every estimate is in units of that
measurement: the cost model below (``network_cost``, ``run_estimate``, ``cells_estimate``
for a map kind's cells (core.experiments.map_kinds), ``lyapunov_estimate``) prices a job from
what it counts (rows per call, steps, cells per chunk and chunks per process, sharpnesses,
FTLE fits) with constants measured here beside R, and the same model serves the server's
limits and the CLI's ``--max-minutes``.

``measure_digits`` sets the engine on digits (64-64-10 tanh, N = 1,438, the BLAS engine)
beside the rate its FLOPs would allow at the DGEMM speed of this CPU with the same BLAS
on one thread (``dgemm_gflops``), so the distance to that bound is a measured number.
``measure_depth`` times a network of several hidden layers (4-10-10-3) in turn with the default
one, so their speeds per FLOP compare under the same load.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from core.analysis.hessian import EXACT_MAX_PARAMS
from core.arrays import FloatArray
from core.config import FTLEConfig, RunConfig
from core.data import load_iris
from core.engine.model import MLP
from core.engine.objective import resolve_engine
from core.engine.training import Objective, descend
from core.experiments.cells import chunk_spans
from core.experiments.stability import dataset_for, network_for

REFERENCE_PARAMS = MLP().n_params  # 83
REFERENCE_ROWS = 120  # Iris's training rows
REFERENCE_FLOPS = MLP().step_flops(REFERENCE_ROWS)  # 40,800


def measure_throughput(
    n_rows: int, seconds: float, repeats: int, threads: int = 1, hidden: int | tuple[int, ...] = 10
) -> tuple[float, float]:
    """(best, median) trajectory-steps per second of the engine on Iris over ``repeats`` timed
    runs of about ``seconds`` each, one process sharing ``n_rows`` rows over ``threads``
    threads (BLAS on one thread); ``hidden`` the hidden layers (4-10-3 by default)."""
    data = load_iris()
    mlp = MLP(hidden=hidden)
    objective = mlp.objective(data.x_train, data.y_train, threads=threads)
    return _time_descend(objective, mlp.init(np.random.default_rng(0), n_rows), seconds, repeats)


def _time_descend(objective: Objective, theta0: FloatArray, seconds: float, repeats: int) -> tuple[float, float]:
    """(best, median) trajectory-steps per second of ``descend`` from ``theta0: (K, P)`` over
    ``repeats`` timed runs of about ``seconds`` each, after one step that compiles the kernel."""
    n_steps = _calibrate(objective, theta0, seconds)
    rates = [_timed_rate(objective, theta0, n_steps) for _ in range(repeats)]
    return max(rates), float(np.median(rates))


def _calibrate(objective: Objective, theta0: FloatArray, seconds: float) -> int:
    """The number of steps that takes about ``seconds``, after one step that compiles the kernel."""
    descend(objective, theta0, 0.01, 1)  # compile (or load) the kernel
    n_steps, elapsed = 4, 0.0
    while elapsed < seconds / 4:  # calibrate the number of steps
        n_steps *= 2
        started = time.perf_counter()
        descend(objective, theta0, 0.01, n_steps, save_every=None)
        elapsed = time.perf_counter() - started
    return max(1, int(n_steps * seconds / elapsed))


def _timed_rate(objective: Objective, theta0: FloatArray, n_steps: int) -> float:
    """Trajectory-steps per second of one ``descend`` call of ``n_steps`` steps."""
    started = time.perf_counter()
    descend(objective, theta0, 0.01, n_steps, save_every=None)
    rows: int = theta0.shape[0]
    return rows * n_steps / (time.perf_counter() - started)


@dataclass(frozen=True)
class DepthSpeed:
    """A deeper network beside the one-layer one on Iris (``measure_depth``), K rows, one thread.

    rate, median_rate:  best and median trajectory-steps/s of the deeper network
    step_flops:         its FLOPs per trajectory-step (``MLP.step_flops``)
    one_layer_*:        the same of the default network 4-10-3, timed in turn with it
    """

    widths: tuple[int, ...]
    rows: int
    rate: float
    median_rate: float
    step_flops: int
    one_layer_rate: float
    one_layer_median_rate: float
    one_layer_step_flops: int

    @property
    def per_flop(self) -> float:
        """FLOPs per second of the deeper network over the one-layer network's (1: as fast per FLOP)."""
        return self.rate * self.step_flops / (self.one_layer_rate * self.one_layer_step_flops)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "per_flop": self.per_flop}


def measure_depth(
    hidden: tuple[int, ...] = (10, 10), rows: int = 21, seconds: float = 1.0, repeats: int = 5
) -> DepthSpeed:
    """The engine on Iris with the hidden layers ``hidden`` and with the default one, ``rows``
    trajectories, one thread: ``repeats`` timed runs of about ``seconds`` of each, taken in
    turn, so whatever else runs on the machine slows both alike."""
    data = load_iris()
    networks = [MLP(hidden=hidden), MLP()]
    objectives = [mlp.objective(data.x_train, data.y_train, threads=1) for mlp in networks]
    starts = [mlp.init(np.random.default_rng(0), rows) for mlp in networks]
    n_steps = [_calibrate(o, t, seconds) for o, t in zip(objectives, starts, strict=True)]
    rates: list[list[float]] = [[], []]
    for _ in range(repeats):
        for i in range(2):
            rates[i].append(_timed_rate(objectives[i], starts[i], n_steps[i]))
    n = data.x_train.shape[0]
    (deep, one), (deep_median, one_median) = map(max, rates), (float(np.median(r)) for r in rates)
    return DepthSpeed(
        networks[0].widths,
        rows,
        deep,
        deep_median,
        networks[0].step_flops(n),
        one,
        one_median,
        networks[1].step_flops(n),
    )


def measure_rate(seconds: float = 0.05, repeats: int = 5) -> float:
    """Trajectory-steps per second of one job here: 21 rows (the default run), one thread;
    the best of ``repeats`` short timings (~0.5 s in all with the kernel loaded). The best,
    because whatever else runs at that moment only ever slows a timing down."""
    return measure_throughput(21, seconds, repeats, threads=1)[0]


# ---- the cost model -------------------------------------------------------------------
# One model prices every job, on the server (dashboard.jobs.plans, dashboard.state.rules.Limits) and in
# the CLI (commands.regimes), in reference steps u = 1 / R seconds, R = measure_rate() here.
# Each constant was measured beside R on this machine (2 cores, AMD EPYC; `cli.py bench
# --costs` measures each again), so the estimates follow the machine's speed. What the model
# cannot know is how busy the machine will be while the job runs: other work slows it as much.
#
# One step of a descend call on K rows costs STEP + K row (+ c test for c cells' references):
DESCEND_STEP = 1.6  # u, a plain call (runs): Iris K = 1 2.5 u, K = 128 118 u
# a chunk of cells' step besides its rows and test accuracies (calls, records): kernel 6-12 u,
# BLAS 14-49 u (`bench --costs`; the fits of every chunk shape measured 38-44 u)
CELLS_STEP = {"compiled": 8.5, "numpy": 8.5, "blas": 25.0}
# A run's leading tangent exponent (core.analysis.tangent.LeadingTangents): per step its 2 rows
# and this much besides (the compiled shifts and tangent step): the default run measured +0.083 s
# CPU over 5,000 steps (median of 9; 0.500 s without), 3.4 u a step of which 2 rows are 1.8 u
TANGENT_STEP = 1.6  # u
# Adam's carrier also replays the step's buffers and applies its (theta, m, v) Jacobian: the
# default run with adam at eta 0.01 measured +0.542 s CPU over 5,000 steps (median of 5; 0.798 s
# without; GD's carrier +0.117 s beside it, its priced 3.4 u): 15.4 u a step, 13.5 u besides its 2 rows
ADAM_TANGENT_STEP = 13.5  # u
KERNEL_ROW = 0.9  # u, the default network on the compiled kernel (fits: 0.89 in cells, 0.91 plain)
# 2 to 4 hidden layers (core.engine.kernel.deep_softmax_loss_grad): priced by FLOPs, at this many
# times the one-layer kernel's time per FLOP (4-10-10-3 sigmoid, K = 21, one thread: 65,700
# trajectory-steps/s at 112,800 FLOPs against 204,400 at 40,800: 1.12; 4-10-10-10-3: 0.93)
DEEP_KERNEL_PER_FLOP = 1.12
ACTIVATION_COST = {"sigmoid": 1.0, "relu": 0.75, "tanh": 3.6}  # compiled kernel, measured on Iris
NUMPY_ROW = 2.7  # the reference engine (legacy sigmoid output), in default-network rows (2.4-2.5)
# BLAS engine: FLOPs / 150,000 + 7 u a row (digits 64-64-10 tanh, 29.1 MFLOP: 188-210 u measured;
# 64-32-10: 110 u; 64-8-10: 34 u; Iris 4-30-3 tanh: 7.2 u; sigmoid within 3%, ReLU 10% less)
BLAS_FLOPS_PER_U = 150_000
BLAS_ROW = 7.0
TEST_ROW = 0.9  # a cell's test accuracy per step: 0.9 x its row cost x N_test / N (digits: 36-55 u)
EIGH_PER_U = 150  # eigvalsh of the P x P Hessian, one thread: P^2 / 150 u (P = 83: 46 u; 483: 1,530 u)
LANCZOS_PRODUCTS = 28  # Hessian-vector products of one Lanczos sharpness (digits strip: 22-56, mean 27)
FTLE_FIT = 90.0  # u, the FTLE fit of one curve over the whole window grid (T >= 200: 80-105 u)
CELL_POST = 20.0  # u per cell: summaries, medians, labels, the bootstrap CI per eta
ABLATION_ROWS = 650  # a run's ablation of every weight (rank-1 updates), in rows of its network
# in seconds at REFERENCE_RATE, scaled by REFERENCE_RATE / R
REFERENCE_RATE = 200_000.0
POOL_START = 0.75  # worker processes started until they compute (forkserver, imports): 0.67-0.93 s
PARALLEL_SPEED = 0.85  # each process's speed while another computes beside it, of its speed alone


def row_cost(mlp: MLP, n_samples: int) -> float:
    """u per trajectory-step of ``mlp`` on ``n_samples`` training rows, on the engine "auto" takes
    (1 for the default network is its cost at K = 21 with the call's share; the row alone is 0.9)."""
    engine = resolve_engine("auto", mlp, n_samples)
    if engine == "blas":
        return mlp.step_flops(n_samples) / BLAS_FLOPS_PER_U + BLAS_ROW
    if mlp.depth > 1:
        size = DEEP_KERNEL_PER_FLOP * mlp.step_flops(n_samples) / REFERENCE_FLOPS
    else:
        size = mlp.n_params / REFERENCE_PARAMS * n_samples / REFERENCE_ROWS
    factor = NUMPY_ROW if engine == "numpy" else ACTIVATION_COST.get(mlp.activation, 1.0)
    return KERNEL_ROW * size * factor


@dataclass(frozen=True)
class NetworkCost:
    """What one network on its data costs, in u (``network_cost``)."""

    n_params: int
    engine: str
    row: float  # one trajectory-step
    test: float  # one reference's test accuracy, each step of a cell
    sharpness: float  # one largest Hessian eigenvalue: 2P rows and eigvalsh, or Lanczos


def network_cost(mlp: MLP, n_samples: int, n_test: int) -> NetworkCost:
    """The costs of ``mlp`` on ``n_samples`` training and ``n_test`` test rows."""
    engine, row, p = resolve_engine("auto", mlp, n_samples), row_cost(mlp, n_samples), mlp.n_params
    if p <= EXACT_MAX_PARAMS:  # core.analysis.hessian's "auto": one call on 2P rows, then eigvalsh
        sharp = DESCEND_STEP + 2 * p * row + p * p / EIGH_PER_U
    else:  # Lanczos: a call on 2 rows per product (digits: 8,700-17,800 u measured)
        sharp = LANCZOS_PRODUCTS * (CELLS_STEP[engine] + 2 * row)
    test = TEST_ROW * row * n_test / n_samples if n_samples else 0.0
    return NetworkCost(p, engine, row, test, sharp)


@dataclass(frozen=True)
class Estimate:
    """A job's estimated seconds here, and what they are made of.

    seconds:          in all
    training:         of it, the trajectory-steps alone, shared over the processes
    trajectory_steps: rows x steps trained
    n_params:         P of the network
    workers:          processes computing at once
    """

    seconds: float
    training: float
    trajectory_steps: int
    n_params: int
    workers: int = 1

    @property
    def rate(self) -> float:
        """Trajectory-steps per second of each process while it trains."""
        return self.trajectory_steps / (self.training * self.workers) if self.training > 0 else math.inf

    @property
    def besides(self) -> float:
        """Seconds besides the training: starting processes, sharpness, fits, summaries."""
        return self.seconds - self.training


def run_estimate(
    net: NetworkCost, n_rows: int, n_steps: int, rate: float, *, sharpness_points: int = 0, ablation: bool = False
) -> Estimate:
    """One descend call of ``n_rows`` rows for ``n_steps`` steps in this process (a run), with
    ``sharpness_points`` sharpnesses, an FTLE fit and, if ``ablation``, every weight ablated."""
    training = (n_steps + 1) * n_rows * net.row
    other = (n_steps + 1) * DESCEND_STEP + sharpness_points * net.sharpness + FTLE_FIT
    other += ABLATION_ROWS * net.row if ablation else 0.0
    return Estimate((training + other) / rate, training / rate, n_rows * n_steps, net.n_params)


def cells_estimate(
    net: NetworkCost,
    n_cells: int,
    rows_per_cell: int,
    n_steps: int,
    rate: float,
    workers: int,
    *,
    sharpness: bool = False,
    ftle_series: int = 0,
    local: bool = True,
    test_accuracy: bool = True,
    started: bool = False,
) -> Estimate:
    """``n_cells`` cells of core.experiments.cells, chunked as ``train_cells`` chunks them, over ``workers``
    processes; ``ftle_series`` FTLE fits per cell afterwards. ``started``: the local worker
    processes run already (a setting map's values after the first share the first's:
    core.engine.parallel.shared_workers), so they compute from 0, not from POOL_START."""
    spans = [s.stop - s.start for s in chunk_spans(n_cells, rows_per_cell, local=local)]
    step, test = CELLS_STEP[net.engine], net.test if test_accuracy else 0.0
    chunks = [
        ((n_steps + 1) * (step + c * rows_per_cell * net.row + c * test) + c * net.sharpness * sharpness) / rate
        for c in spans
    ]
    post = n_cells * (ftle_series * FTLE_FIT * window_share(n_steps) + CELL_POST) / rate
    workers = max(1, min(workers, len(chunks)))
    training = (n_steps + 1) * n_cells * rows_per_cell * net.row / rate / workers
    start = 0.0 if started else POOL_START * REFERENCE_RATE / rate
    seconds = _makespan(chunks, workers, start, local) + post
    return Estimate(seconds, training, n_cells * rows_per_cell * n_steps, net.n_params, workers)


def lyapunov_estimate(
    net: NetworkCost, n_inits: int, n_eps: int, n_copies: int, n_steps: int, rate: float, workers: int
) -> Estimate:
    """core.experiments.lyapunov_sweep.run_lyapunov: ``n_inits`` cells of 1 + E M rows on
    core.experiments.cells (no test accuracy), then E FTLE fits per cell."""
    return cells_estimate(
        net, n_inits, 1 + n_eps * n_copies, n_steps, rate, workers, ftle_series=n_eps, test_accuracy=False
    )


def _makespan(chunks: list[float], workers: int, start: float, local: bool) -> float:
    """Seconds until the last of ``chunks`` (seconds each, in a process alone) is done, as
    core.engine.parallel.map_chunks runs them: in this process for one worker or one chunk; else
    locally chunk 0 here at once, then here the chunks after chunk 1 one by one until the
    processes start at ``start``, and the others on min(workers, left) processes from ``start``
    (an executor's processes from 0), each free process taking the next chunk; every process at
    PARALLEL_SPEED while others compute beside it."""
    if workers == 1 or len(chunks) == 1:
        return sum(chunks)
    slow = 1.0 / PARALLEL_SPEED
    if local:
        first, taken = chunks[0] * slow, 2  # chunk 1 is always the processes' (core.engine.parallel)
        while first < start and taken < len(chunks):
            first, taken = first + chunks[taken] * slow, taken + 1
        rest = [chunks[1], *chunks[taken:]]
        free = [start] * min(workers, len(rest))
    else:
        first, rest, free = 0.0, chunks, [0.0] * workers
    for seconds in rest:
        i = free.index(min(free))
        free[i] += seconds * slow
    return max(first, *free)


def window_share(n_steps: int, config: FTLEConfig = FTLEConfig()) -> float:
    """The share of the FTLE fit's work (points over every window of the grid) that a curve
    of ``n_steps + 1`` points has: 1 from T = 200 on with the default grid."""
    (a0, a1, da), (w0, w1, dw) = config.starts, config.lengths
    grid = [(a, w) for a in range(a0, a1 + 1, da) for w in range(w0, w1 + 1, dw)]
    total = sum(w for _, w in grid)
    return sum(w for a, w in grid if a + w <= n_steps + 1) / total


@dataclass(frozen=True)
class DigitsSpeed:
    """The engine on digits beside the rate DGEMM would allow (``measure_digits``).

    engine:          the engine that ran ("auto" picks "blas" for digits)
    rows, threads:   K trajectories in one process, over that many threads
    rate:            best trajectory-steps/s of the timed runs; ``median_rate`` their median
    step_flops:      FLOPs of one trajectory-step, 4 N D H + 6 N H C (``MLP.step_flops``)
    dgemm_gflops:    DGEMM GFLOP/s here, one BLAS thread, on the step's two large products
    """

    engine: str
    rows: int
    threads: int
    rate: float
    median_rate: float
    step_flops: int
    dgemm_gflops: float

    @property
    def flop_limited_rate(self) -> float:
        """Trajectory-steps/s if every FLOP of a step ran at DGEMM speed on each thread."""
        return self.threads * self.dgemm_gflops * 1e9 / self.step_flops

    @property
    def ratio(self) -> float:
        """How many times slower than FLOP-limited the engine runs (1 = at the bound)."""
        return self.flop_limited_rate / self.rate

    def to_dict(self) -> dict[str, str | int | float]:
        return {**asdict(self), "flop_limited_rate": self.flop_limited_rate, "ratio": self.ratio}


def dgemm_gflops(shapes: list[tuple[int, int, int]], seconds: float = 0.3, repeats: int = 5) -> float:
    """GFLOP/s of C = A B in float64 on one BLAS thread (the engine's setting), with A (M, K)
    and B (K, N) contiguous, over the ``(M, K, N)`` shapes: 2 M K N FLOPs each, all shapes
    taken together, best of ``repeats`` rounds of about ``seconds`` in all."""
    rng = np.random.default_rng(0)
    operands = [(rng.random((m, k)), rng.random((k, n)), np.empty((m, n))) for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)
    best = np.inf
    with threadpool_limits(limits=1, user_api="blas"):
        for a, b, c in operands:
            np.matmul(a, b, out=c)  # warm the caches and BLAS's buffers
        started = time.perf_counter()
        for a, b, c in operands:
            np.matmul(a, b, out=c)
        calls = max(1, int(seconds / repeats / (time.perf_counter() - started)))
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(calls):
                for a, b, c in operands:
                    np.matmul(a, b, out=c)
            best = min(best, (time.perf_counter() - started) / calls)
    return flops / best / 1e9


def measure_digits(rows: int = 6, seconds: float = 1.0, repeats: int = 3, threads: int = 1) -> DigitsSpeed:
    """The engine's trajectory-steps/s on digits (``RunConfig.for_dataset("digits")``: 64-64-10
    tanh on the 1,438 training rows), ``rows`` trajectories over ``threads`` threads, best and
    median of ``repeats`` runs of about ``seconds``; and the DGEMM speed of this CPU on the
    shapes of the step's large products, (H, D) @ (D, N) forward and (D, N) @ (N, H) for the
    gradient of W1, which together are 81% of its FLOPs."""
    config = RunConfig.for_dataset("digits")
    data = dataset_for(config, None)
    mlp = network_for(config, data)
    objective = mlp.objective(data.x_train, data.y_train, threads=threads)
    theta0 = mlp.init(np.random.default_rng(0), rows)
    best, median = _time_descend(objective, theta0, seconds, repeats)
    n, d, h = data.x_train.shape[0], mlp.n_inputs, mlp.widths[0]
    gflops = dgemm_gflops([(h, d, n), (d, n, h)])
    return DigitsSpeed(objective.engine, rows, threads, best, median, mlp.step_flops(n), gflops)
