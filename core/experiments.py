"""The paper's experiments on top of the engine (SPEC sections 2-4).

- :func:`run_stability`: one reference network and M perturbed copies from t = 0.
- :func:`run_eps_sweep`: the same at several eps in one batch (linear response, collapse).
- :func:`run_orbital`: the copies are made at iteration t0 of the reference trajectory.
- :func:`run_lyapunov`: many initial conditions x several eps; FTLE statistics per eps.
  Initial conditions are spread over worker processes; each has its own generator
  spawned from the seed, so results do not depend on the number of workers.

Memory: each entry point estimates the peak memory of its job and refuses it (``ValueError``)
before allocating anything when that exceeds the memory available (``core.training.check_memory``).

Randomness: ``default_rng(seed)`` draws the initial network, then the unit perturbation
directions (scaled by eps); the Lyapunov sweep spawns one child generator per initial
condition from ``SeedSequence(seed)`` and draws the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from core.config import FTLEConfig, RunConfig
from core.data import Dataset, load_dataset
from core.lyapunov import (
    N_BOOT,
    EnsembleStats,
    FTLEFit,
    ensemble_stats,
    fit_ftle,
    global_rate,
    mean_distance,
    normalized_distance,
)
from core.model import MLP
from core.parallel import default_workers, map_chunks
from core.perturb import shared_reference_batch, unit_perturbations, with_copies
from core.training import Progress, Trajectory, check_memory, descend, descend_bytes
from core.validate import check_float, check_int


def network_for(config: RunConfig, data: Dataset) -> MLP:
    """The MLP of ``config`` sized to the data's features and classes."""
    return MLP(data.n_features, config.hidden, data.n_classes, config.activation, config.output)


def dataset_for(config: RunConfig, data: Dataset | None) -> Dataset:
    """The config's named data set, or the given data (standardised if the config asks)."""
    if data is None:
        return load_dataset(config.dataset, split_seed=config.split_seed, standardize=config.standardize)
    return data.standardized() if config.standardize else data


def check_theta0(theta0: np.ndarray, mlp: MLP) -> np.ndarray:
    """A user-given initial network: float, shape (P,), finite."""
    theta0 = np.asarray(theta0)
    if theta0.shape != (mlp.n_params,):
        raise ValueError(f"theta0 must have shape ({mlp.n_params},) for this network, got {theta0.shape}")
    if not np.issubdtype(theta0.dtype, np.floating):
        raise ValueError(f"theta0 must be a float array, got dtype {theta0.dtype}")
    if not np.isfinite(theta0).all():
        raise ValueError("theta0 contains NaN or infinite values")
    return theta0.astype(np.float64)


def start_and_directions(config: RunConfig, mlp: MLP, theta0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The reference's start (P,) and the unit perturbation directions (M, P), from the seed.

    The initial network is drawn even when ``theta0`` is given, so the directions are the
    same for a given seed either way.
    """
    rng = np.random.default_rng(config.seed)
    drawn = mlp.init(rng, 1, config.init)[0]
    start = drawn if theta0 is None else check_theta0(theta0, mlp)
    return start, unit_perturbations(rng, config.n_perturbations, mlp.weight_mask, config.perturbation)


@dataclass(frozen=True, eq=False)
class StabilityResult:
    """Row 0 of the trajectory is the reference, rows 1..M the perturbed copies."""

    config: RunConfig
    data: Dataset
    mlp: MLP
    trajectory: Trajectory
    ftle_config: FTLEConfig = FTLEConfig()

    @property
    def distance(self) -> np.ndarray:
        """(T + 1, M) d_m(t)."""
        return self.trajectory.distance[:, 1:]

    @cached_property
    def mean_distance(self) -> np.ndarray:
        """(T + 1,) <d(t)>."""
        return mean_distance(self.distance)

    @property
    def normalized_distance(self) -> np.ndarray:
        """(T + 1,) <d(t)> / (eps N_w)."""
        return normalized_distance(self.mean_distance, self.config.eps, self.mlp.n_weights)

    @cached_property
    def ftle(self) -> FTLEFit:
        """The FTLE of <d(t)> with the estimator settings ``ftle_config``."""
        return fit_ftle(self.mean_distance, self.ftle_config)

    @cached_property
    def test_accuracy(self) -> np.ndarray:
        """(K,) test accuracy of the final networks (NaN without test rows)."""
        return self.mlp.accuracy(self.trajectory.final_theta, self.data.x_test, self.data.y_test)


def run_stability(
    config: RunConfig,
    *,
    data: Dataset | None = None,
    theta0: np.ndarray | None = None,
    on_progress: Progress | None = None,
    progress_every: int = 250,
    threads: int | None = None,
    ftle_config: FTLEConfig = FTLEConfig(),
) -> StabilityResult:
    """Dynamical stability (SPEC section 2): reference + M copies perturbed at t = 0.

    ``on_progress(done, total, partial)`` is called every ``progress_every`` steps;
    ``threads`` share the rows (default: one per core); ``ftle_config`` sets the estimator
    of ``result.ftle``.
    """
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    rows = 1 + config.n_perturbations
    check_memory(
        descend_bytes(config.n_steps, rows, mlp.n_params, config.save_every),
        "its records " + _records(config.n_steps, rows, mlp.n_params, config.save_every),
        "use fewer steps or perturbations, or a larger save_every",
    )
    start, unit = start_and_directions(config, mlp, theta0)
    trajectory = descend(
        mlp.objective(data.x_train, data.y_train, config.l2, threads=threads or default_workers()),
        with_copies(start, unit, config.eps),
        config.learning_rate,
        config.n_steps,
        norm=config.distance,
        save_every=config.save_every,
        on_progress=on_progress,
        progress_every=progress_every,
    )
    return StabilityResult(config, data, mlp, trajectory, ftle_config)


def _records(n_steps: int, n_rows: int, n_params: int, save_every: int | None) -> str:
    """What the records of one descend call hold, for the message of ``check_memory``."""
    saves = 2 if save_every is None else n_steps // save_every + 2
    return f"({n_steps + 1:,} steps x {n_rows:,} trajectories; {n_params} parameters saved {saves:,} times)"


@dataclass(frozen=True, eq=False)
class EpsSweepResult:
    """One initial network, its M copies at each of E radii (SPEC Figs. 4 and 6).

    eps (E,); distance (E, T + 1, M); reference loss (T + 1,).
    """

    config: RunConfig
    eps: np.ndarray
    distance: np.ndarray
    loss: np.ndarray
    n_weights: int
    cancelled: bool = False

    @property
    def mean_distance(self) -> np.ndarray:
        """(E, T + 1)."""
        return mean_distance(self.distance)

    @property
    def normalized_distance(self) -> np.ndarray:
        """(E, T + 1) <d>/(eps N_w): collapses onto one curve in the linear regime."""
        return self.mean_distance / (self.eps[:, None] * self.n_weights)


def run_eps_sweep(
    config: RunConfig,
    eps_values: list[float] | np.ndarray,
    *,
    data: Dataset | None = None,
    theta0: np.ndarray | None = None,
    on_progress: Progress | None = None,
    threads: int | None = None,
) -> EpsSweepResult:
    """The run of ``config`` repeated at several eps in one batch: same initial network, same
    perturbation directions scaled by each eps, one shared reference trajectory.
    ``threads`` share the rows (default: one per core)."""
    eps = _checked_eps(eps_values)
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    rows = 1 + eps.size * config.n_perturbations
    check_memory(  # and the copy of the distances that the reshape by eps makes
        descend_bytes(config.n_steps, rows, mlp.n_params, None) + 8 * (config.n_steps + 1) * rows,
        "its records " + _records(config.n_steps, rows, mlp.n_params, None),
        "use fewer steps, perturbations or eps values",
    )
    start, unit = start_and_directions(config, mlp, theta0)
    traj = descend(
        mlp.objective(data.x_train, data.y_train, config.l2, threads=threads or default_workers()),
        shared_reference_batch(start, unit, eps),
        config.learning_rate,
        config.n_steps,
        norm=config.distance,
        save_every=None,
        on_progress=on_progress,
    )
    m = config.n_perturbations
    distance = traj.distance[:, 1:].reshape(-1, eps.size, m).transpose(1, 0, 2)
    return EpsSweepResult(config, eps, distance, traj.loss[:, 0], mlp.n_weights, traj.cancelled)


def _checked_eps(eps_values) -> np.ndarray:
    eps = np.array([check_float("eps", e, low=0.0, high=10.0) for e in np.ravel(eps_values)])
    if eps.size == 0:
        raise ValueError("eps_values must hold at least one value")
    return eps


@dataclass(frozen=True, eq=False)
class OrbitalResult:
    """``before``: the reference alone over [0, t0]; ``after``: reference + M copies
    over [t0, T] (its step 0 is iteration t0)."""

    config: RunConfig
    t0: int
    before: Trajectory
    after: Trajectory
    n_weights: int

    @property
    def iterations(self) -> np.ndarray:
        """(T - t0 + 1,) iteration numbers of ``after``."""
        return self.t0 + np.arange(self.after.n_steps + 1)

    @property
    def normalized_distance(self) -> np.ndarray:
        """(T - t0 + 1,) <d>/(eps N_w) after the perturbation."""
        return normalized_distance(mean_distance(self.after.distance[:, 1:]), self.config.eps, self.n_weights)


def run_orbital(
    config: RunConfig,
    t0: int,
    *,
    data: Dataset | None = None,
    theta0: np.ndarray | None = None,
    on_progress: Progress | None = None,
    threads: int | None = None,
) -> OrbitalResult:
    """Orbital stability (SPEC section 4): perturb the reference at iteration t0 < T.
    ``threads`` share the rows (default: one per core)."""
    check_int("t0", t0, low=0, high=config.n_steps - 1)
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    _check_orbital_memory(config, t0, mlp.n_params)
    objective = mlp.objective(data.x_train, data.y_train, config.l2, threads=threads or default_workers())
    start, unit = start_and_directions(config, mlp, theta0)
    before = descend(objective, start[None, :], config.learning_rate, t0, save_every=config.save_every)
    after = descend(
        objective,
        with_copies(before.final_theta[0], unit, config.eps),
        config.learning_rate,
        config.n_steps - t0,
        norm=config.distance,
        save_every=config.save_every,
        on_progress=on_progress,
    )
    return OrbitalResult(config, t0, before, after, mlp.n_weights)


def _check_orbital_memory(config: RunConfig, t0: int, n_params: int) -> None:
    """The reference alone over t0 steps, whose records stay held, then the reference and its
    M copies over T - t0 steps."""
    rows, after = 1 + config.n_perturbations, config.n_steps - t0
    before = descend_bytes(t0, 1, n_params, config.save_every)
    check_memory(
        before + descend_bytes(after, rows, n_params, config.save_every),
        f"the reference's records over {t0:,} steps, then the records "
        + _records(after, rows, n_params, config.save_every),
        "use fewer steps or perturbations, a later t0 or a larger save_every",
    )


@dataclass(frozen=True, eq=False)
class LyapunovResult:
    """G initial conditions x E perturbation radii.

    eps: (E,); mean_distance: (G, E, T + 1); fits: FTLEFit of shape (G, E);
    diverged: (G, E) any trajectory of that cell diverged; stats: one EnsembleStats per eps.
    """

    config: RunConfig
    ftle_config: FTLEConfig
    eps: np.ndarray
    mean_distance: np.ndarray
    fits: FTLEFit
    diverged: np.ndarray
    stats: tuple[EnsembleStats, ...]
    cancelled: bool = False

    @property
    def global_rate(self) -> np.ndarray:
        """(G, E) ln(<d(T)>/<d(0)>)/T."""
        return global_rate(self.mean_distance)


@dataclass(frozen=True)
class _Chunk:
    """What one worker needs: everything is plain arrays and frozen dataclasses."""

    mlp: MLP
    x: np.ndarray
    y: np.ndarray
    config: RunConfig
    eps: np.ndarray
    seeds: tuple[np.random.SeedSequence, ...]


def _lyapunov_chunk(chunk: _Chunk) -> tuple[np.ndarray, np.ndarray]:
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
        reference=np.concatenate(references),
        norm=cfg.distance,
        save_every=None,
    )
    g = len(chunk.seeds)
    per_init = traj.distance.reshape(cfg.n_steps + 1, g, 1 + n_eps * m)[:, :, 1:]
    mean_d = per_init.reshape(cfg.n_steps + 1, g, n_eps, m).mean(axis=-1).transpose(1, 2, 0)
    div = traj.diverged.reshape(g, 1 + n_eps * m)
    diverged = div[:, 1:].reshape(g, n_eps, m).any(axis=-1) | div[:, :1]
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
    eps_values: list[float] | np.ndarray,
    n_inits: int,
    *,
    ftle_config: FTLEConfig = FTLEConfig(),
    data: Dataset | None = None,
    workers: int | None = None,
    inits_per_chunk: int = 4,
    on_progress: Progress | None = None,
) -> LyapunovResult:
    """FTLE over ``n_inits`` initial conditions for every eps (SPEC section 3, Fig. 12).

    ``config`` supplies the network, learning rate, steps and M; its ``eps`` is unused.
    ``on_progress(done_inits, n_inits, None)`` may return False to stop early; the
    result then covers the initial conditions finished so far.
    """
    check_int("n_inits", n_inits, low=1, high=1_000_000)
    check_int("inits_per_chunk", inits_per_chunk, low=1, high=10_000)
    eps = _checked_eps(eps_values)
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
