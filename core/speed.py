"""How fast the engine runs on this machine, and what a job will cost here.

A job's time is estimated from a measurement, not a constant: ``measure_rate`` times the
engine on the default network (Iris, 4-10-3, P = 83) and gives trajectory-steps per
second; a network with P parameters costs about P / 83 times as much per step (the
kernel's work per row and step is proportional to P for a fixed data set).

``measure_digits`` sets the engine on digits (64-64-10 tanh, N = 1,438, the BLAS engine)
beside the rate its FLOPs would allow at the DGEMM speed of this CPU with the same BLAS
on one thread (``dgemm_gflops``), so the distance to that bound is a measured number.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from core.config import RunConfig
from core.data import load_iris
from core.experiments import dataset_for, network_for
from core.model import MLP
from core.objective import resolve_engine
from core.training import descend

REFERENCE_PARAMS = MLP().n_params  # 83


def measure_throughput(n_rows: int, seconds: float, repeats: int, threads: int = 1) -> tuple[float, float]:
    """(best, median) trajectory-steps per second of the engine on Iris over ``repeats`` timed
    runs of about ``seconds`` each, one process sharing ``n_rows`` rows over ``threads``
    threads (BLAS on one thread)."""
    data = load_iris()
    mlp = MLP()
    objective = mlp.objective(data.x_train, data.y_train, threads=threads)
    return _time_descend(objective, mlp.init(np.random.default_rng(0), n_rows), seconds, repeats)


def _time_descend(objective, theta0: np.ndarray, seconds: float, repeats: int) -> tuple[float, float]:
    """(best, median) trajectory-steps per second of ``descend`` from ``theta0: (K, P)`` over
    ``repeats`` timed runs of about ``seconds`` each, after one step that compiles the kernel."""
    n_rows = theta0.shape[0]
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


def measure_job_rate(mlp: MLP, data, *, rows: int = 21, seconds: float = 0.05, repeats: int = 3) -> float:
    """Trajectory-steps per second of this network on this data (``Dataset``) here: ``rows``
    rows, one thread, the engine its objective picks; the best of ``repeats`` short timings.
    For a job on other data than Iris, where cost is not proportional to P (digits goes
    through BLAS), where ``relative_cost`` is only an estimate."""
    objective = mlp.objective(data.x_train, data.y_train)
    return _time_descend(objective, mlp.init(np.random.default_rng(0), rows), seconds, repeats)[0]


# The BLAS engine's time per network-step, in steps of the default network (measured beside
# each other, one thread, this machine): ~FLOPs / 150,000 (`cli.py bench --digits`: 993 digits
# steps/s of 29.1 MFLOP each beside 190,400 default steps/s: 29.1e6 / (190,400 / 993) = 152,000)
# plus a fixed ~17 for its five GEMM calls and NumPy work (digits with 8 hidden units: 4,490/s,
# 3.6 MFLOP). The compiled kernel's work grows with N and P; tanh is scalar there.
BLAS_FLOPS_PER_REFERENCE_STEP = 150_000
BLAS_OVERHEAD_STEPS = 17.0
ACTIVATION_COST = {"sigmoid": 1.0, "relu": 0.75, "tanh": 3.6}  # compiled kernel, measured on Iris
REFERENCE_ROWS = 120


def relative_cost(mlp: MLP, n_samples: int) -> float:
    """The time of one trajectory-step of ``mlp`` on ``n_samples`` training rows, in
    trajectory-steps of the default network on Iris (1 for it; digits ~210)."""
    if resolve_engine("auto", mlp, n_samples) == "blas":
        return mlp.step_flops(n_samples) / BLAS_FLOPS_PER_REFERENCE_STEP + BLAS_OVERHEAD_STEPS
    return mlp.n_params / REFERENCE_PARAMS * n_samples / REFERENCE_ROWS * ACTIVATION_COST.get(mlp.activation, 1.0)


def estimate_seconds(trajectory_steps: float, cost: float, rate: float, workers: int = 1) -> float:
    """Seconds for ``trajectory_steps`` that each cost ``cost`` default trajectory-steps
    (``relative_cost``) at ``rate`` (measured on the default network) over ``workers`` processes."""
    return trajectory_steps * cost / (rate * workers)


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

    def to_dict(self) -> dict:
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
    n, d, h = data.x_train.shape[0], mlp.n_inputs, mlp.hidden
    gflops = dgemm_gflops([(h, d, n), (d, n, h)])
    return DigitsSpeed(objective.engine, rows, threads, best, median, mlp.step_flops(n), gflops)
