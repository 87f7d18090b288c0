"""The finite-time Lyapunov exponent over many initial networks (docs/method.md §3; the paper's Fig. 12):
G initial conditions x E perturbation radii, FTLE statistics per eps.

Initial conditions are spread over worker processes in chunks; each has its own generator
spawned from ``SeedSequence(seed)`` (one child per initial condition, drawing the initial
network then the perturbation directions), so results do not depend on the number of workers.
The job's peak memory is estimated and checked before anything is allocated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.analysis.lyapunov import N_BOOT, EnsembleStats, FTLEFit, ensemble_stats, fit_ftle, global_rate
from core.arrays import BoolArray, FloatArray, IntArray
from core.config import FTLEConfig, RunConfig
from core.data import Dataset
from core.engine.model import MLP
from core.engine.parallel import default_workers, map_chunks
from core.engine.perturb import shared_reference_batch, unit_perturbations
from core.engine.training import check_memory, descend, descend_bytes
from core.experiments.stability import checked_eps, dataset_for, network_for
from core.validate import check_int


@dataclass(frozen=True, eq=False)
class LyapunovResult:
    """G initial conditions x E perturbation radii.

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


@dataclass(frozen=True)
class _Chunk:
    """What one worker needs: everything is plain arrays and frozen dataclasses."""

    mlp: MLP
    x: FloatArray
    y: IntArray
    config: RunConfig
    eps: FloatArray
    seeds: tuple[np.random.SeedSequence, ...]


def _lyapunov_chunk(chunk: _Chunk) -> tuple[FloatArray, BoolArray]:
    """Train the initial conditions of one chunk; -> mean distance (g, E, T + 1), diverged (g, E).

    Rows per initial condition: one reference shared by every eps, then E blocks of M copies.
    """
    cfg, mlp, n_eps, m = chunk.config, chunk.mlp, chunk.eps.size, chunk.config.n_perturbations
    blocks, references = [], []
    for g, seed in enumerate(chunk.seeds):
        rng = np.random.default_rng(seed)
        theta = mlp.init(rng, 1, cfg.init)[0]
        unit = unit_perturbations(rng, m, mlp.weight_mask, cfg.perturbation)
        blocks.append(shared_reference_batch(theta, unit, chunk.eps))
        references.append(np.full(1 + n_eps * m, g * (1 + n_eps * m)))
    traj = descend(
        mlp.objective(chunk.x, chunk.y, cfg.l2),  # one thread: the chunks already fill the cores
        np.vstack(blocks),
        cfg.learning_rate,
        cfg.n_steps,
        optimizer=cfg.update_rule(),
        reference=np.concatenate(references),
        norm=cfg.distance,
        save_every=None,
    )
    g = len(chunk.seeds)
    per_init = traj.distance.reshape(cfg.n_steps + 1, g, 1 + n_eps * m)[:, :, 1:]
    mean_d: FloatArray = per_init.reshape(cfg.n_steps + 1, g, n_eps, m).mean(axis=-1).transpose(1, 2, 0)
    div = traj.diverged.reshape(g, 1 + n_eps * m)
    diverged = np.any(div[:, 1:].reshape(g, n_eps, m), axis=-1) | div[:, :1]
    return mean_d, diverged


def _chunk_bytes(chunk: _Chunk) -> int:
    """Peak memory of :func:`_lyapunov_chunk`: the blocks of its rows and their stack, the descend
    over them, and the copy of the distances that the mean over the copies makes."""
    t, p = chunk.config.n_steps, chunk.mlp.n_params
    rows = len(chunk.seeds) * (1 + chunk.eps.size * chunk.config.n_perturbations)
    return descend_bytes(t, rows, p, None) + 8 * rows * (p + t + 1)


def _results_bytes(n_inits: int, n_eps: int, n_points: int, ftle_config: FTLEConfig) -> int:
    """The parent's peak after the chunks, the larger of: the mean distance curves, (G E, T + 1)
    held twice while they are joined and once more as logs in the FTLE fit, with the fit's work
    arrays (four copies of its largest set of windows); the curves with the bootstrap of one eps
    (N_BOOT x G indices and values)."""
    curves = n_inits * n_eps * n_points
    fit = 3 * curves + 4 * n_inits * n_eps * _window_points(ftle_config, n_points)
    return 8 * max(fit, curves + 2 * N_BOOT * n_inits)


def _window_points(ftle_config: FTLEConfig, n_points: int) -> int:
    """The most points the FTLE fit copies out of one curve at once: over window lengths w that
    fit, w times the number of starts a with a + w <= n_points."""
    (a0, a1, da), (w0, w1, dw) = ftle_config.starts, ftle_config.lengths
    lengths = range(w0, min(w1, n_points) + 1, dw)
    return max((w * len(range(a0, min(a1, n_points - w) + 1, da)) for w in lengths), default=0)


def _check_lyapunov_memory(chunks: list[_Chunk], workers: int, ftle_config: FTLEConfig) -> None:
    """The larger of two phases: the chunks that run at once (a worker holds one chunk at a time)
    while the parent gathers their curves; then the parent's results and fit."""
    cfg, n_eps = chunks[0].config, chunks[0].eps.size
    n_inits, in_flight, n_points = sum(len(c.seeds) for c in chunks), min(workers, len(chunks)), cfg.n_steps + 1
    rows = len(chunks[0].seeds) * (1 + n_eps * cfg.n_perturbations)
    running = in_flight * _chunk_bytes(chunks[0]) + 8 * n_inits * n_eps * n_points
    check_memory(
        max(running, _results_bytes(n_inits, n_eps, n_points, ftle_config)),
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
    inits_per_chunk: int = 4,
    on_progress: Callable[[int, int, None], object] | None = None,
) -> LyapunovResult:
    """FTLE over ``n_inits`` initial conditions for every eps (docs/method.md §3; the paper's Fig. 12).

    ``config`` supplies the network, learning rate, steps and M; its ``eps`` is unused.
    ``on_progress(done_inits, n_inits, None)`` may return False to stop early; the
    result then covers the initial conditions finished so far.
    """
    check_int("n_inits", n_inits, low=1, high=1_000_000)
    check_int("inits_per_chunk", inits_per_chunk, low=1, high=10_000)
    eps = checked_eps(eps_values)
    workers = default_workers() if workers is None else check_int("workers", workers, low=1, high=1024)
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    seeds = np.random.SeedSequence(config.seed).spawn(n_inits)
    chunks = [
        _Chunk(mlp, data.x_train, data.y_train, config, eps, tuple(seeds[i : i + inits_per_chunk]))
        for i in range(0, n_inits, inits_per_chunk)
    ]
    _check_lyapunov_memory(chunks, workers, ftle_config)
    outputs, cancelled = map_chunks(
        _lyapunov_chunk, chunks, workers=workers, sizes=[len(c.seeds) for c in chunks], on_progress=on_progress
    )
    if not outputs:
        mean_d = np.empty((0, eps.size, config.n_steps + 1))
        diverged = np.empty((0, eps.size), dtype=bool)
    else:
        mean_d = np.concatenate([o[0] for o in outputs])
        diverged = np.concatenate([o[1] for o in outputs])
    fits = fit_ftle(mean_d, ftle_config)
    # the bootstrap's generator: the next child after the initial conditions' ones
    stats_rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(n_inits,)))
    stats = tuple(ensemble_stats(fits.slope[:, j], fits.kept[:, j], stats_rng) for j in range(eps.size))
    return LyapunovResult(config, ftle_config, eps, mean_d, fits, diverged, stats, cancelled)
