"""Many (learning rate, initial network) cells trained side by side: the engine of the regime
sweeps, maps, orbit diagrams and the FTLE sweep (docs/method.md §3, §6).

A *cell* is the initial network that :func:`core.experiments.stability.run_stability` draws for a seed
s, trained at one learning rate eta, with M perturbed copies at each of E radii that share
its reference trajectory (1 + E M rows; M = 0 trains the network alone). So the cell
(eta, s, eps) of a sweep is exactly the run ``replace(config, learning_rate=eta, seed=s,
eps=eps)``: a point of a map can be opened as a single run.

Cells are packed, in the order given, into chunks of whole cells; every row of a chunk has
its own learning rate. The chunks run over worker processes. Their size depends only on the
job, never on the number of workers, and a row's arithmetic does not depend on the other rows
of its batch, so the results are identical for any number of workers.

Per cell the reference's training loss and test accuracy are kept at every step (the
objective keeps the reference rows of each step, and their test accuracy is computed a block
of steps at a time, unless not asked), the mean distance of its copies at each eps, the first
non-finite step, whether any row diverged (in all and at each eps), and optionally the sharpness of its final network
and the leading tangent exponent of its reference (docs/method.md §10), carried along the
chunk's one training (``core.analysis.tangent.LeadingTangents``: two rows more a step and cell,
in the same objective call on the compiled engine, the training's numbers unchanged).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from core.analysis.hessian import sharpness
from core.analysis.tangent import LeadingTangents
from core.arrays import BoolArray, FloatArray, IntArray
from core.config import MAX_SEED, RunConfig
from core.data import Dataset
from core.engine.model import MLP
from core.engine.parallel import chosen_executor, default_workers, map_chunks
from core.engine.perturb import shared_reference_batch
from core.engine.training import NEVER, Objective, check_memory, descend, descend_bytes, reusing_form
from core.experiments.stability import batches_for, check_theta0, network_for, start_and_directions
from core.validate import check_float, check_int

ROWS_PER_CHUNK = 128  # rows of one descend call: the engine's rate is flat from ~20 rows up (bench)
MIN_CHUNKS = 16  # small jobs still split, so progress moves and both cores work
ACCURACY_NETWORKS = 512  # networks per test-accuracy call (_steps_per_block)
ACCURACY_FLOATS = 2**19  # their parameters and forward pass: 4 MB (not in cells_bytes)

# on_progress(done_cells, total_cells, partial CellResults) -> False to cancel
CellProgress = Callable[[int, int, "CellResults"], object]


@dataclass(frozen=True, eq=False)
class CellResults:
    """n cells, E radii, T steps. Cells not computed (a cancelled job) are NaN and not ``done``.

    loss:           (n, T + 1) training loss of the reference
    test_accuracy:  (n, T + 1) test accuracy of the reference (NaN without test rows, after
                    it diverged, or if not asked)
    train_accuracy: (n,) final training accuracy of the reference
    mean_distance:  (n, E, T + 1) mean distance of the M copies to the reference (E = 0 if M = 0)
    diverged_at:    (n,) first step at which the reference was not finite, or -1
    diverged:       (n,) any row of the cell (reference or copy) stopped being finite
    diverged_eps:   (n, E) the reference or a copy at that eps stopped being finite
    sharpness:      (n,) largest Hessian eigenvalue of the final reference (NaN if not asked)
    done:           (n,) bool
    leading:        (n,) leading tangent exponent of the reference over its finite steps (NaN if
                    not asked)
    """

    loss: FloatArray
    test_accuracy: FloatArray
    train_accuracy: FloatArray
    mean_distance: FloatArray
    diverged_at: IntArray
    diverged: BoolArray
    diverged_eps: BoolArray
    sharpness: FloatArray
    done: BoolArray
    leading: FloatArray
    cancelled: bool = False

    @classmethod
    def empty(cls, n_cells: int, n_eps: int, n_steps: int) -> CellResults:
        nan = np.full
        return cls(
            loss=nan((n_cells, n_steps + 1), np.nan),
            test_accuracy=nan((n_cells, n_steps + 1), np.nan),
            train_accuracy=nan(n_cells, np.nan),
            mean_distance=nan((n_cells, n_eps, n_steps + 1), np.nan),
            diverged_at=nan(n_cells, NEVER, dtype=np.int64),
            diverged=np.zeros(n_cells, dtype=bool),
            diverged_eps=np.zeros((n_cells, n_eps), dtype=bool),
            sharpness=nan(n_cells, np.nan),
            done=np.zeros(n_cells, dtype=bool),
            leading=nan(n_cells, np.nan),
        )

    def fill(self, cells: slice, part: CellResults) -> None:
        """Write the results of a chunk (cells ``cells``) into these arrays."""
        for field in dataclasses.fields(self):
            if field.name != "cancelled":
                getattr(self, field.name)[cells] = getattr(part, field.name)


@dataclass(frozen=True)
class _Chunk:
    """What one worker needs: plain arrays and frozen dataclasses."""

    mlp: MLP
    data: Dataset
    config: RunConfig
    eps: FloatArray  # (E,)
    n_copies: int  # M
    etas: FloatArray  # (c,)
    seeds: IntArray  # (c,)
    with_sharpness: bool
    theta0: FloatArray | None = None  # (P,) replaces every cell's drawn initial network
    with_test_accuracy: bool = True
    with_leading: bool = False


class _WithTestAccuracy:
    """The training objective, also keeping the reference rows of each call: descend calls it
    once per step t = 0..T, in order. Their test accuracy is computed for ``block`` steps at
    once, all the block's networks in one :meth:`MLP.accuracy` call: its formula, and each
    network's forward pass is the same arithmetic whatever else is in the call, so the numbers
    are those of one call a step, bit for bit (tests/core/experiments/test_cells_test_accuracy.py).
    One call a step cost the default sweep ~11% of its time (docs/performance.md)."""

    def __init__(self, objective: Objective, mlp: MLP, data: Dataset, rows: IntArray, n_steps: int) -> None:
        self.objective, self.mlp, self.data, self.rows = objective, mlp, data, rows
        self.accuracy = np.full((n_steps + 1, rows.size), np.nan)  # (T + 1, c)
        self.block = _steps_per_block(mlp, rows.size, len(data.y_test), n_steps + 1)
        self.kept = np.empty((self.block, rows.size, mlp.n_params))  # (B, c, P) since step self.first
        self.t = self.first = 0

    def __call__(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        self._keep(theta)
        return self.objective(theta)

    def reusing(self, n_rows: int) -> Callable[[FloatArray], tuple[FloatArray, FloatArray, FloatArray]]:
        """As ``Objective.reusing``: the wrapped objective's form that writes into arrays kept
        across calls (descend's, each step; if it has one), the reference rows kept as by a call.
        A chunk's step, CPU time, alternating (docs/performance.md): one cell 19.5-20.8 ->
        17.6-18.1 us, 32 one-network cells (an eta x seed chunk) 472-501 -> 436-461 us."""
        step = reusing_form(self.objective, n_rows)

        def objective(theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
            self._keep(theta)
            return step(theta)

        return objective

    def _keep(self, theta: FloatArray) -> None:
        """Keep this step's reference rows; every ``block`` steps, their test accuracy."""
        if self.t < len(self.accuracy) and len(self.data.y_test):
            np.take(theta, self.rows, axis=0, out=self.kept[self.t - self.first])
        self.t += 1
        if self.t - self.first == self.block:
            self.flush()

    def finish(self) -> FloatArray:
        """(T + 1, c) the test accuracy of every step called so far (NaN for the others)."""
        self.flush()
        return self.accuracy

    def flush(self) -> None:
        """The test accuracy of the steps kept since the last flush."""
        n_kept, c = min(self.t, len(self.accuracy)) - self.first, self.rows.size
        if n_kept > 0 and len(self.data.y_test):
            kept = self.kept[:n_kept].reshape(n_kept * c, -1)
            got = self.mlp.accuracy(kept, self.data.x_test, self.data.y_test)
            self.accuracy[self.first : self.first + n_kept] = got.reshape(n_kept, c)
        self.first += n_kept


def _steps_per_block(mlp: MLP, n_refs: int, n_test: int, n_steps: int) -> int:
    """Steps whose test accuracy one :meth:`MLP.accuracy` call computes: about
    ACCURACY_NETWORKS networks, and their parameters and forward pass (every layer's (N_test,)
    outputs per network) within ACCURACY_FLOATS; at least one step, at most all. Measured, CPU
    time per network of the default network on the 30 Iris test rows: 2.5 us in calls of 21
    (one step of a sweep's chunk), 1.5 us in calls of 504 (24 steps); 1.6 and 1.5 us at 128
    networks a step (an eta x seed chunk), where the forward pass itself is the cost."""
    per_network = mlp.n_params + (sum(mlp.widths) + 2 * mlp.n_classes) * max(n_test, 1)
    fits = min(ACCURACY_NETWORKS // n_refs, ACCURACY_FLOATS // (n_refs * per_network))
    return max(1, min(n_steps, fits))


def _train_chunk(chunk: _Chunk) -> CellResults:
    """Train the cells of one chunk as one batch; rows per cell: reference, then E blocks of M copies.

    BLAS on one thread for the whole chunk, not only inside descend: a chunk has one core (the
    chunks fill the cores), and OpenBLAS's second thread then waits for a busy core. Measured
    with the other core busy: the digits test-accuracy forward (1 x 64 x 64 @ 64 x 359, each
    step) 560 us on two threads, 170 us on one; an exact Hessian's eigvalsh (83 x 83) 3-6 ms
    against 0.34 ms; an Iris sweep chunk with its 21 sharpnesses 0.47-0.63 s against 0.35 s.
    The training's numbers do not change: the objective pins BLAS itself."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _train_cells_of(chunk)


def _train_cells_of(chunk: _Chunk) -> CellResults:
    cfg, mlp, m, n_eps = chunk.config, chunk.mlp, chunk.n_copies, chunk.eps.size
    per_cell, c, t = 1 + n_eps * m, chunk.etas.size, cfg.n_steps
    blocks = []
    for seed in chunk.seeds:
        start, unit = start_and_directions(dataclasses.replace(cfg, seed=int(seed)), mlp, chunk.theta0)
        blocks.append(shared_reference_batch(start, unit[:m], chunk.eps) if m else start[None, :])
    refs = np.arange(c) * per_cell
    objective = mlp.objective(chunk.data.x_train, chunk.data.y_train, cfg.l2)  # one thread: chunks fill the cores
    batches = batches_for(cfg, chunk.data, objective)
    carrier = None
    if chunk.with_leading:  # the references' tangent vectors carried in the same calls
        carrier = LeadingTangents(objective, chunk.etas, t, refs, cfg.update_rule(), batches)
    trained = objective if carrier is None else carrier
    observed = _WithTestAccuracy(trained, mlp, chunk.data, refs, t) if chunk.with_test_accuracy else None
    traj = descend(
        trained if observed is None else observed,
        np.vstack(blocks),
        np.repeat(chunk.etas, per_cell),
        t,
        reference=np.repeat(refs, per_cell),
        norm=cfg.distance,
        save_every=None,
        optimizer=cfg.update_rule(),
        batches=batches,  # the test accuracy is read once per step, on the full batch
    )
    diverged_at = traj.diverged_at[refs]
    test_accuracy = np.full((c, t + 1), np.nan) if observed is None else observed.finish().T.copy()  # (c, T + 1)
    test_accuracy[np.arange(t + 1)[None, :] >= np.where(diverged_at == NEVER, t + 1, diverged_at)[:, None]] = np.nan
    copies = traj.distance.reshape(t + 1, c, per_cell)[:, :, 1:].reshape(t + 1, c, n_eps, m)
    final = traj.final_theta[refs]
    diverged = traj.diverged.reshape(c, per_cell)  # (c, 1 + E M)
    return CellResults(
        loss=np.ascontiguousarray(traj.loss[:, refs].T),
        test_accuracy=test_accuracy,
        train_accuracy=traj.accuracy[-1, refs],
        mean_distance=copies.mean(axis=-1).transpose(1, 2, 0) if m else np.empty((c, 0, t + 1)),
        diverged_at=diverged_at,
        diverged=np.any(diverged, axis=1),
        diverged_eps=np.any(diverged[:, 1:].reshape(c, n_eps, m), axis=-1) | diverged[:, :1],
        sharpness=sharpness(objective, final) if chunk.with_sharpness else np.full(c, np.nan),
        done=np.ones(c, dtype=bool),
        leading=np.full(c, np.nan) if carrier is None else carrier.exponents,
    )


def cells_per_chunk(n_cells: int, rows_per_cell: int) -> int:
    """Cells per chunk: about ROWS_PER_CHUNK rows, and at least MIN_CHUNKS chunks when there
    are that many cells. A function of the job alone (not of the workers)."""
    return max(1, min(ROWS_PER_CHUNK // rows_per_cell, math.ceil(n_cells / MIN_CHUNKS)))


def chunk_spans(n_cells: int, rows_per_cell: int, *, local: bool) -> list[slice]:
    """The cells of each chunk, in order (``cells_per_chunk`` each). Locally the first chunk is
    a quarter of the others: it runs here at once, and its cells are a live map's first drawn
    (the default strip's: 0.1 s of training, not 0.2), while the workers start; this process
    then goes on with whole chunks until they have (core.engine.parallel). An executor's
    workers are running already, and equal chunks share them out evenly."""
    size = cells_per_chunk(n_cells, rows_per_cell)
    first = max(1, size // 4) if local else size
    return [slice(0, min(first, n_cells))] + [slice(lo, min(lo + size, n_cells)) for lo in range(first, n_cells, size)]


def check_cells(config: RunConfig, etas: FloatArray, seeds: IntArray, eps: FloatArray, n_copies: int) -> None:
    """The cells' settings: positive finite learning rates, seeds in range, eps in (0, 10]."""
    if etas.shape != seeds.shape or etas.ndim != 1 or etas.size == 0:
        raise ValueError(f"need one seed per learning rate and at least one cell, got {etas.shape} and {seeds.shape}")
    for eta in np.unique(etas):
        check_float("learning rate", float(eta), low=0.0, high=1e6)
    if seeds.min() < 0 or seeds.max() > MAX_SEED:
        raise ValueError(f"seeds must lie in [0, {MAX_SEED}], got {seeds.min()}..{seeds.max()}")
    for e in eps:
        check_float("eps", float(e), low=0.0, high=10.0)
    check_int("copies", n_copies, low=0, high=10_000)
    if n_copies and eps.size == 0:
        raise ValueError("copies need at least one eps")


def cells_bytes(n_cells: int, n_eps: int, n_copies: int, n_steps: int, n_params: int, workers: int) -> int:
    """Peak memory of :func:`train_cells`: the chunks running at once (their descend, their
    start blocks and the copy of the distances that the mean makes), plus the results held
    here (loss, test accuracy and E mean distances per cell and step, twice while a chunk's
    part is written in). The test accuracy's block of steps (at most 4 MB) is left out."""
    per_cell = 1 + n_eps * n_copies
    rows = cells_per_chunk(n_cells, per_cell) * per_cell
    in_flight = min(workers, math.ceil(n_cells / (rows // per_cell)))
    chunk = descend_bytes(n_steps, rows, n_params, None) + 8 * rows * (n_params + n_steps + 1)
    results = 8 * n_cells * (2 + n_eps) * (n_steps + 1)
    return in_flight * chunk + 2 * results


def train_cells(
    config: RunConfig,
    data: Dataset,
    etas: FloatArray,
    seeds: IntArray,
    *,
    eps: FloatArray | None = None,
    n_copies: int = 0,
    with_sharpness: bool = False,
    with_test_accuracy: bool = True,
    with_leading: bool = False,
    theta0: FloatArray | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    on_progress: CellProgress | None = None,
) -> CellResults:
    """Train cell i = (etas[i], seeds[i]) for ``config.n_steps`` steps with ``n_copies`` copies
    at each of ``eps`` (E,). ``config`` gives the network, steps, l2, perturbation kind and
    distance; its learning rate, seed, eps and n_perturbations are replaced per cell.
    ``theta0`` (P,), if given, is every cell's initial network (the seeds still draw the
    perturbation directions), as ``run_stability(..., theta0=...)`` does.
    ``with_test_accuracy=False`` skips the test accuracy of every step (NaN): the FTLE sweep
    has no use for it; on Iris at 71 rows a cell it is 2-6% of the time (CPU time of 40 such
    cells in one process, 200 steps: 2.79-2.86 s with it, 2.69-2.74 s without; 3.26-3.39 s
    with it when it was computed one call a step).
    ``with_leading=True`` also gives each reference's leading tangent exponent (``leading``;
    every update rule has its tangent map).
    The chunks run over ``workers`` local processes, or on ``executor`` if given (a
    ``concurrent.futures.Executor``, such as Celery workers on other hosts: ``cluster``);
    the results are the same either way.
    ``on_progress(done, total, partial)`` may return False to stop; the result then marks
    the cells done. Memory is checked before anything is trained."""
    etas, seeds = np.asarray(etas, dtype=np.float64), np.asarray(seeds, dtype=np.int64)
    eps = np.zeros(0) if eps is None else np.asarray(eps, dtype=np.float64).ravel()
    check_cells(config, etas, seeds, eps, n_copies)
    eps = eps if n_copies else np.zeros(0)
    workers = default_workers() if workers is None else check_int("workers", workers, low=1, high=1024)
    mlp = network_for(config, data)
    theta0 = None if theta0 is None else check_theta0(theta0, mlp)
    cfg = dataclasses.replace(config, n_perturbations=max(n_copies, 1))
    check_memory(
        cells_bytes(etas.size, eps.size, n_copies, cfg.n_steps, mlp.n_params, workers),
        f"{etas.size:,} cells of {1 + eps.size * n_copies} trajectories x {cfg.n_steps + 1:,} steps",
        "use fewer learning rates, networks, eps values, copies or steps",
    )
    spans = chunk_spans(etas.size, 1 + eps.size * n_copies, local=chosen_executor(executor) is None)
    chunks = [
        _Chunk(
            mlp, data, cfg, eps, n_copies, etas[s], seeds[s], with_sharpness, theta0, with_test_accuracy, with_leading
        )
        for s in spans
    ]
    results = CellResults.empty(etas.size, eps.size, cfg.n_steps)

    def progress(done: int, total: int, _: None) -> object:
        return None if on_progress is None else on_progress(done, total, results)

    _, cancelled = map_chunks(
        _train_chunk,
        chunks,
        workers=workers,
        executor=executor,
        sizes=[s.stop - s.start for s in spans],
        on_progress=progress,
        on_result=lambda i, part: results.fill(spans[i], part),
    )
    return dataclasses.replace(results, cancelled=cancelled)
