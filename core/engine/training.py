"""Full-batch gradient descent as a discrete dynamical system (docs/method.md §1).

    theta_{t+1} = theta_t - eta * grad L(theta_t)

for K trajectories at once, each with its own learning rate, so a sweep over eta is one
batch. The engine is handed the dynamics as a function and knows nothing of networks:
``objective(theta) -> (loss (K,), grad (K, P), accuracy (K,))``. An objective that also has
``reusing(K)`` (core.engine.objective.Objective) is called through it: the same three arrays
every step, overwritten by the next, since each step is done with them before the next call.

Mini-batch SGD (docs/method.md §13): the gradient of step t is that of the loss over the
training rows ``BatchOrder.rows(t)`` alone, one order shared by every row of theta, so the
copies follow the same random dynamical system as their reference (``MiniBatches``).

Every step records the loss, the accuracy, the L1 norm of theta and the distance of every
row to its reference row, and accumulates each parameter's path length sum_t |w(t+1) - w(t)|;
parameters are saved only every ``save_every`` steps, so memory is
8 * (4 (T + 1) K + (S + 1) K P) bytes (see ``record_bytes``); a call's peak also holds the
saved parameters stacked once more at the end (see ``descend_bytes``). ``check_memory``
refuses a job whose estimate exceeds the memory available before anything is allocated.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from core.arrays import BoolArray, FloatArray, IntArray
from core.engine import kernel
from core.engine.optimizers import GD, Optimizer
from core.validate import check_choice, check_int

Objective = Callable[[FloatArray], tuple[FloatArray, FloatArray, FloatArray]]
# on_progress(done_steps, total_steps, partial_trajectory) -> False to cancel
Progress = Callable[[int, int, "Trajectory"], object]

# spawn key of the batch order's generators (docs/method.md §13): apart from every network's
# (default_rng(seed)), the bootstrap's (2**31 - 1, j) and the loss shuffles' (2**31 - 2,)
BATCH_KEY = 2**31 - 3
NEVER = -1  # diverged_at value of a trajectory that stayed finite
WORK_ARRAYS = 6  # (K, P) arrays besides the records: start, theta, two gradients, the zero step, the L2 term


@dataclass(frozen=True, eq=False)
class Trajectory:
    """What a run of :func:`descend` recorded. T is the number of steps actually done.

    steps:        (S,) iterations at which ``theta`` was saved (0 and T always included)
    theta:        (S, K, P) saved parameters
    loss:         (T + 1, K) training loss of theta_t
    accuracy:     (T + 1, K) training accuracy of theta_t
    distance:     (T + 1, K) distance of row k to row reference[k] (0 on reference rows)
    theta_norm:   (T + 1, K) ||theta_t||_1
    path_length:  (K, P) sum over steps of |theta_{t+1} - theta_t|, per parameter
    reference:    (K,) index of each row's reference row
    learning_rate:(K,)
    diverged_at:  (K,) first step with a non-finite loss or parameter, or -1; such a row
                  is frozen from then on
    norm:         "l1" or "l2", the distance used
    cancelled:    True if on_progress stopped the run before n_steps
    """

    steps: IntArray
    theta: FloatArray
    loss: FloatArray
    accuracy: FloatArray
    distance: FloatArray
    theta_norm: FloatArray
    path_length: FloatArray
    reference: IntArray
    learning_rate: FloatArray
    diverged_at: IntArray
    norm: str
    cancelled: bool = False

    @property
    def n_steps(self) -> int:
        return len(self.loss) - 1

    @property
    def diverged(self) -> BoolArray:
        """(K,) bool."""
        diverged: BoolArray = self.diverged_at != NEVER
        return diverged

    @property
    def final_theta(self) -> FloatArray:
        """(K, P) parameters after the last step done."""
        final: FloatArray = self.theta[-1]
        return final


@dataclass(frozen=True)
class BatchOrder:
    """Which of the N training rows each step of mini-batch SGD sees (docs/method.md §13).

    Epoch e is a fresh permutation of the rows, ``default_rng(SeedSequence(seed, spawn_key=
    (BATCH_KEY, e))).permutation(N)``, cut into ``per_epoch`` = N // B batches of B rows in
    order; the N mod B rows left over are dropped, as torch's ``DataLoader(drop_last=True)``
    does, so every batch has one shape (one compiled kernel). Step t takes batch t mod
    ``per_epoch`` of epoch t // ``per_epoch``. A function of (N, B, seed) alone: never of a
    network's seed, so every row of a job sees the same batches.
    """

    n_samples: int
    batch_size: int
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("n_samples", self.n_samples, low=1, high=2**62)
        check_int("seed", self.seed, low=0, high=2**63 - 1)
        size = self.batch_size
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or not 1 <= size <= self.n_samples:
            raise ValueError(
                f"batch_size must be a whole number from 1 to {self.n_samples} (the training rows), got {size!r}"
            )
        object.__setattr__(self, "batch_size", int(size))

    @property
    def per_epoch(self) -> int:
        """Batches per epoch: N // B."""
        return self.n_samples // self.batch_size

    def permutation(self, epoch: int) -> IntArray:
        """(N,) the order of the rows in ``epoch`` (read-only)."""
        return _permutation(self.n_samples, self.seed, epoch)

    def rows(self, t: int) -> IntArray:
        """(B,) the training rows of step t."""
        epoch, batch = divmod(t, self.per_epoch)
        start = batch * self.batch_size
        return self.permutation(epoch)[start : start + self.batch_size]


@lru_cache(maxsize=4)
def _permutation(n_samples: int, seed: int, epoch: int) -> IntArray:
    """One epoch's order; kept, since the steps of an epoch (and the tangent) ask for it in turn."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(BATCH_KEY, epoch)))
    order: IntArray = rng.permutation(n_samples)
    order.setflags(write=False)
    return order


class RowObjective(Protocol):
    """An objective that can also be evaluated on a subset of its training rows."""

    def __call__(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]: ...

    def on_rows(self, rows: IntArray) -> Objective: ...


@dataclass(frozen=True, eq=False)
class MiniBatches:
    """The objective of each step of mini-batch SGD: ``at(t)`` is ``objective`` on the rows
    ``order.rows(first_step + t)`` (``first_step``: a run continued from that step, as the
    copies of orbital stability are). ``objective`` is the full training loss; the batch
    objective ``at(t)`` returns is valid until the next call (``Objective.on_rows``)."""

    objective: RowObjective
    order: BatchOrder
    first_step: int = 0

    def at(self, t: int) -> Objective:
        return self.objective.on_rows(self.order.rows(self.first_step + t))


def record_bytes(n_steps: int, n_rows: int, n_params: int, save_every: int) -> int:
    """Memory of the records of one :func:`descend` call, in bytes."""
    n_saved = n_steps // save_every + 2
    return 8 * (4 * (n_steps + 1) * n_rows + (n_saved + 1) * n_rows * n_params)


def descend_bytes(n_steps: int, n_rows: int, n_params: int, save_every: int | None) -> int:
    """Peak memory of one :func:`descend` call, in bytes: its records (``record_bytes``), the
    saved parameters stacked into one array at the end while the list of them still exists,
    and ``WORK_ARRAYS`` (K, P) work arrays. ``save_every=None`` as in :func:`descend`."""
    every = max(n_steps, 1) if save_every is None else save_every
    stacked = (n_steps // every + 2) * n_rows * n_params
    return record_bytes(n_steps, n_rows, n_params, every) + 8 * (stacked + WORK_ARRAYS * n_rows * n_params)


def available_memory() -> int | None:
    """Bytes a new allocation may take: MemAvailable of /proc/meminfo (free memory plus the
    cache the kernel can reclaim), else the free pages from ``os.sysconf``; None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # no sysconf (Windows) or no such name (macOS)
        return None


def check_memory(needed: int, what: str, advice: str) -> None:
    """Refuse (``ValueError``) a job whose estimated peak memory ``needed`` exceeds the memory
    available; the message gives both numbers, ``what`` the memory holds and ``advice``.
    Where the available memory cannot be read, nothing is refused."""
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"this run needs ~{_gigabytes(needed)} GB of memory for {what}; "
            f"about {_gigabytes(available)} GB are available: {advice}"
        )


def _gigabytes(n_bytes: int) -> str:
    """3.2e12 -> "3,200"; 4.5e8 -> "0.45"."""
    gb = n_bytes / 1e9
    return f"{gb:,.0f}" if gb >= 10 else f"{gb:.2g}"


def descend(
    objective: Objective,
    theta0: FloatArray,
    learning_rate: float | FloatArray,
    n_steps: int,
    *,
    reference: IntArray | None = None,
    norm: str = "l1",
    save_every: int | None = 100,
    on_progress: Progress | None = None,
    progress_every: int = 250,
    optimizer: Optimizer = GD,
    batches: MiniBatches | None = None,
) -> Trajectory:
    """Run T = ``n_steps`` steps of gradient descent on the rows of ``theta0: (K, P)``
    (or of another update rule: ``optimizer``, core.engine.optimizers).

    With ``batches`` the step's gradient is that of its mini-batch, ``batches.at(t)``, one
    call for all rows, while ``objective`` (the full training loss) gives what is recorded:
    the loss and accuracy of every step are those of the whole training set, as without
    batches (docs/method.md §13). Without, one objective call per step does both.

    ``learning_rate`` is a scalar or (K,); ``reference`` (K,) names each row's reference
    row for the distance (default: row 0). ``save_every=None`` saves only the first and
    last parameters. ``on_progress(done, total, partial)`` is called every
    ``progress_every`` steps and at the end; returning ``False`` stops the run, and the
    result then covers the steps done with ``cancelled=True``.
    BLAS runs on one thread (measured: faster than two for these small matrices).
    """
    theta = np.array(theta0, dtype=np.float64, copy=True)
    if theta.ndim != 2 or not np.isfinite(theta).all():
        raise ValueError(f"theta0 must be a finite (K, P) array, got shape {theta.shape}")
    k = theta.shape[0]
    eta = np.broadcast_to(np.asarray(learning_rate, dtype=np.float64), (k,)).copy()
    if not (np.isfinite(eta).all() and (eta > 0).all()):
        raise ValueError(f"learning rates must be positive and finite, got {eta[~(np.isfinite(eta) & (eta > 0))][:3]}")
    reference = np.zeros(k, dtype=np.int64) if reference is None else np.asarray(reference, dtype=np.int64)
    if reference.shape != (k,) or reference.min(initial=0) < 0 or reference.max(initial=0) >= k:
        raise ValueError(f"reference must be (K,) = ({k},) indices into the rows, got {reference!r}")
    check_int("n_steps", n_steps, low=0, high=100_000_000)
    check_choice("norm", norm, ("l1", "l2"))
    check_int("progress_every", progress_every, low=1, high=100_000_000)
    every = n_steps if save_every is None else check_int("save_every", save_every, low=1, high=100_000_000)

    rec = _Records(theta, n_steps, every, reference, eta, norm)
    state = optimizer.state(*theta.shape)
    full, batch_gradient = reusing_form(objective, k), _BatchGradients(k)
    with threadpool_limits(limits=1, user_api="blas"):
        for t in range(n_steps):
            loss, grad, accuracy = full(theta)
            if batches is not None:
                grad = batch_gradient(batches.at(t), theta)  # the mini-batch's gradient at theta_t
            rec.advance(t, theta, loss, accuracy, state.direction(t, grad))
            if rec.is_save_step(t + 1):
                rec.save(t + 1, theta)
            done = t + 1
            if on_progress is not None and (done % progress_every == 0 or done == n_steps):
                if on_progress(done, n_steps, rec.finish(theta, done, objective, final=False)) is False:
                    return rec.finish(theta, done, objective, cancelled=True)
        return rec.finish(theta, n_steps, objective)


def reusing_form(objective: Objective, n_rows: int) -> Objective:
    """``objective`` in its form that returns the same arrays every call, overwritten by the
    next (``Objective.reusing``), if it has one; else itself. Each step is done with its
    results (recorded, the step taken) before the next call."""
    reusing = getattr(objective, "reusing", None)
    reused: Objective = objective if reusing is None else reusing(n_rows)
    return reused


class _BatchGradients:
    """The gradient of each step's mini-batch loss, through :func:`reusing_form` made once per
    objective (``MiniBatches.at`` returns the same one for every batch of a size)."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.last: tuple[Objective, Objective] | None = None  # a step's objective, its reusing form

    def __call__(self, objective: Objective, theta: FloatArray) -> FloatArray:
        """(K, P) gradient of ``objective`` at theta (K, P)."""
        if self.last is None or self.last[0] is not objective:
            self.last = (objective, reusing_form(objective, self.n_rows))
        return self.last[1](theta)[1]


class _Records:
    """Preallocated per-step arrays of one descend call."""

    def __init__(
        self, theta: FloatArray, n_steps: int, every: int, reference: IntArray, eta: FloatArray, norm: str
    ) -> None:
        k, _ = theta.shape
        self.every, self.reference, self.eta, self.norm, self.l1 = every, reference, eta, norm, norm == "l1"
        self.records = np.full((4, n_steps + 1, k), np.nan)
        self.loss, self.accuracy, self.distance, self.theta_norm = self.records
        self.path_length = np.zeros_like(theta)
        self.saved_steps: list[int] = [0]
        self.saved = [theta.copy()]
        self.diverged_at = np.full(k, NEVER, dtype=np.int64)
        self.active_rate = eta.copy()

    def advance(self, t: int, theta: FloatArray, loss: FloatArray, accuracy: FloatArray, grad: FloatArray) -> None:
        """Record step t (loss, accuracy, distance, norm; freeze rows that are no longer
        finite), then theta -= rate * grad in place and add |rate * grad| to the path length."""
        kernel.record_and_step(
            t,
            theta,
            grad,
            np.ascontiguousarray(loss, dtype=np.float64),
            np.ascontiguousarray(accuracy, dtype=np.float64),
            self.reference,
            self.l1,
            self.active_rate,
            self.diverged_at,
            self.records,
            self.path_length,
        )

    def is_save_step(self, t: int) -> bool:
        return t % self.every == 0

    def save(self, t: int, theta: FloatArray) -> None:
        self.saved_steps.append(t)
        self.saved.append(theta.copy())

    def finish(
        self, theta: FloatArray, done: int, objective: Objective, *, final: bool = True, cancelled: bool = False
    ) -> Trajectory:
        """The trajectory so far; on ``final`` also record theta_T (loss, distance, save)."""
        if final:
            loss, _, accuracy = objective(theta)
            self.advance(done, theta, loss, accuracy, np.zeros_like(theta))  # records only: a zero step
            if self.saved_steps[-1] != done:
                self.save(done, theta)
        # A partial result holds views of the growing records (valid during on_progress)
        # and only the last saved theta; theta_done is not evaluated yet: stop before it.
        stop = done + 1 if final else done
        return Trajectory(
            steps=np.array(self.saved_steps if final else self.saved_steps[-1:]),
            theta=np.stack(self.saved if final else self.saved[-1:]),
            loss=self.loss[:stop],
            accuracy=self.accuracy[:stop],
            distance=self.distance[:stop],
            theta_norm=self.theta_norm[:stop],
            path_length=self.path_length if final else self.path_length.copy(),
            reference=self.reference,
            learning_rate=self.eta,
            diverged_at=self.diverged_at.copy(),
            norm=self.norm,
            cancelled=cancelled,
        )
