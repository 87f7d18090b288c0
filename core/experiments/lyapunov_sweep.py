"""The finite-time Lyapunov exponent over many initial networks (docs/method.md §3; the paper's Fig. 12):
G initial networks x E perturbation radii, FTLE statistics per eps.

Network g of a sweep with seed s is the run of seed s + g: the network and the unit
perturbation directions that ``run_stability(replace(config, seed=s + g))`` draws, trained at
the config's learning rate with M copies at each eps around one shared reference. The
networks are the cells of :func:`core.experiments.cells.train_cells` at one learning rate
(the convention of the regime sweeps and maps), so a network of a sweep can be opened as a
single run, and the results do not depend on the number of workers. The job's peak memory
is estimated and checked before anything is allocated.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from core.analysis.lyapunov import N_BOOT, EnsembleStats, FTLEFit, ensemble_stats, fit_ftle, global_rate
from core.arrays import BoolArray, FloatArray
from core.config import MAX_SEED, FTLEConfig, RunConfig
from core.data import Dataset
from core.engine.parallel import chosen_executor, default_workers
from core.engine.training import check_memory
from core.experiments.cells import CellResults, cells_bytes, chunk_spans, train_cells
from core.experiments.regimes import BOOTSTRAP_KEY
from core.experiments.stability import checked_eps, dataset_for, network_for
from core.validate import check_int, check_seed_range


@dataclass(frozen=True, eq=False)
class LyapunovResult:
    """G initial networks x E perturbation radii; row g is the network of seed ``config.seed + g``.

    eps: (E,); mean_distance: (G, E, T + 1); fits: FTLEFit of shape (G, E);
    diverged: (G, E) any trajectory of that cell diverged; stats: one EnsembleStats per eps.
    """

    config: RunConfig
    ftle_config: FTLEConfig
    eps: FloatArray
    mean_distance: FloatArray
    fits: FTLEFit
    diverged: BoolArray
    stats: tuple[EnsembleStats, ...]
    cancelled: bool = False

    @property
    def global_rate(self) -> FloatArray:
        """(G, E) ln(<d(T)>/<d(0)>)/T."""
        return global_rate(self.mean_distance)


def _results_bytes(n_inits: int, n_eps: int, n_points: int, ftle_config: FTLEConfig) -> int:
    """The peak after training: the cells' records (loss and test accuracy, (G, T + 1) each,
    and the mean distance curves, (G E, T + 1)), and the larger of: the FTLE fit (the curves'
    logs and four copies of its largest set of windows, with a copy of the curves to spare);
    the bootstrap of one eps (N_BOOT x G indices and values)."""
    curves = n_inits * n_eps * n_points
    fit = 2 * curves + 4 * n_inits * n_eps * _window_points(ftle_config, n_points)
    return 8 * (2 * n_inits * n_points + curves + max(fit, 2 * N_BOOT * n_inits))


def _window_points(ftle_config: FTLEConfig, n_points: int) -> int:
    """The most points the FTLE fit copies out of one curve at once: over window lengths w that
    fit, w times the number of starts a with a + w <= n_points."""
    (a0, a1, da), (w0, w1, dw) = ftle_config.starts, ftle_config.lengths
    lengths = range(w0, min(w1, n_points) + 1, dw)
    return max((w * len(range(a0, min(a1, n_points - w) + 1, da)) for w in lengths), default=0)


def _check_lyapunov_memory(
    config: RunConfig,
    ftle_config: FTLEConfig,
    n_params: int,
    n_inits: int,
    n_eps: int,
    workers: int,
    executor: Executor | None,
) -> None:
    """The larger of two phases: training (``train_cells``'s chunks that run at once, a worker
    holding one chunk at a time, while the records gather here); then the fit and bootstrap."""
    per_cell, n_points = 1 + n_eps * config.n_perturbations, config.n_steps + 1
    spans = chunk_spans(n_inits, per_cell, local=chosen_executor(executor) is None)
    in_flight, rows = min(workers, len(spans)), max(s.stop - s.start for s in spans) * per_cell
    training = cells_bytes(n_inits, n_eps, config.n_perturbations, config.n_steps, n_params, workers)
    check_memory(
        max(training, _results_bytes(n_inits, n_eps, n_points, ftle_config)),
        f"{in_flight} chunk(s) at once of {rows:,} trajectories x {n_points:,} steps "
        f"and the distance curves of {n_inits:,} initial conditions x {n_eps} eps",
        "use fewer steps, perturbations, eps values, initial conditions or workers",
    )


def run_lyapunov(
    config: RunConfig,
    eps_values: list[float] | FloatArray,
    n_inits: int,
    *,
    ftle_config: FTLEConfig = FTLEConfig(),
    data: Dataset | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    on_progress: Callable[[int, int, None], object] | None = None,
) -> LyapunovResult:
    """FTLE over ``n_inits`` initial networks, seeds ``config.seed`` .. ``config.seed + n_inits - 1``,
    for every eps (docs/method.md §3; the paper's Fig. 12).

    ``config`` supplies the network, learning rate, steps and M; its ``eps`` is unused.
    The networks are trained over ``workers`` local processes, or on ``executor`` (see
    :func:`core.experiments.cells.train_cells`); the results are the same either way.
    ``on_progress(done_inits, n_inits, None)`` may return False to stop early; the result
    then covers the leading networks finished so far (row g is still seed ``config.seed + g``).
    """
    check_int("n_inits", n_inits, low=1, high=1_000_000)
    check_seed_range(config.seed, n_inits, MAX_SEED)
    eps = checked_eps(eps_values)
    workers = default_workers() if workers is None else check_int("workers", workers, low=1, high=1024)
    data = dataset_for(config, data)
    n_params = network_for(config, data).n_params
    _check_lyapunov_memory(config, ftle_config, n_params, n_inits, eps.size, workers, executor)

    def progress(done: int, total: int, _: CellResults) -> object:
        return None if on_progress is None else on_progress(done, total, None)

    cells = train_cells(
        config,
        data,
        np.full(n_inits, config.learning_rate),
        config.seed + np.arange(n_inits),
        eps=eps,
        n_copies=config.n_perturbations,
        with_test_accuracy=False,
        workers=workers,
        executor=executor,
        on_progress=progress,
    )
    finished = int(np.argmin(cells.done)) if not cells.done.all() else n_inits  # the leading networks done
    mean_d, diverged = cells.mean_distance[:finished], cells.diverged_eps[:finished]
    fits = fit_ftle(mean_d, ftle_config)
    stats = tuple(ensemble_stats(fits.slope[:, j], fits.kept[:, j], _bootstrap_rng(config, j)) for j in range(eps.size))
    return LyapunovResult(config, ftle_config, eps, mean_d, fits, diverged, stats, cells.cancelled)


def _bootstrap_rng(config: RunConfig, j: int) -> np.random.Generator:
    """The generator of the bootstrap at eps j: spawn key (BOOTSTRAP_KEY, j) of the base seed,
    as the regime sweep's at eta j, apart from every network's generator (default_rng(seed))."""
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(BOOTSTRAP_KEY, j)))
