"""The paper's experiments on top of the engine (docs/method.md §2-§4): what every one of them
starts from, and the first, dynamical stability.

- :func:`run_stability` (here): one reference network and M perturbed copies from t = 0.
- :func:`run_eps_sweep` (:mod:`core.experiments.eps_sweep`): the same at several eps in one batch
  (linear response, collapse).
- :func:`run_orbital` (:mod:`core.experiments.orbital_stability`): the copies are made at iteration t0 of
  the reference trajectory.
- :func:`run_lyapunov` (:mod:`core.experiments.lyapunov_sweep`): many initial conditions x several eps;
  FTLE statistics per eps.

Memory: each entry point estimates the peak memory of its job and refuses it (``ValueError``)
before allocating anything when that exceeds the memory available (``core.engine.training.check_memory``).

Randomness: ``default_rng(seed)`` draws the initial network, then the unit perturbation
directions (scaled by eps) (:func:`start_and_directions`). With ``config.batch_size`` the
mini-batches' order comes from ``config.batch_seed`` alone (:func:`batches_for`,
docs/method.md §13).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from core.analysis.lyapunov import FTLEFit, fit_ftle, mean_distance, normalized_distance
from core.arrays import FloatArray
from core.config import FTLEConfig, RunConfig
from core.data import Dataset, load_dataset
from core.engine.model import MLP
from core.engine.objective import Objective
from core.engine.parallel import default_workers
from core.engine.perturb import unit_perturbations, with_copies
from core.engine.training import (
    BatchOrder,
    MiniBatches,
    Progress,
    RowObjective,
    Trajectory,
    check_memory,
    descend,
    descend_bytes,
)
from core.engine.training import Objective as Loss
from core.validate import check_float


def network_for(config: RunConfig, data: Dataset) -> MLP:
    """The MLP of ``config`` sized to the data's features and classes."""
    return MLP(data.n_features, config.hidden, data.n_classes, config.activation, config.output)


def dataset_for(config: RunConfig, data: Dataset | None) -> Dataset:
    """The config's named data set, or the given data (standardised if the config asks)."""
    if data is None:
        return load_dataset(config.dataset, split_seed=config.split_seed, standardize=config.standardize)
    return data.standardized() if config.standardize else data


def check_theta0(theta0: npt.ArrayLike, mlp: MLP) -> FloatArray:
    """A user-given initial network: float, shape (P,), finite."""
    theta0 = np.asarray(theta0)
    if theta0.shape != (mlp.n_params,):
        raise ValueError(f"theta0 must have shape ({mlp.n_params},) for this network, got {theta0.shape}")
    if not np.issubdtype(theta0.dtype, np.floating):
        raise ValueError(f"theta0 must be a float array, got dtype {theta0.dtype}")
    if not np.isfinite(theta0).all():
        raise ValueError("theta0 contains NaN or infinite values")
    return theta0.astype(np.float64)


def start_and_directions(config: RunConfig, mlp: MLP, theta0: FloatArray | None) -> tuple[FloatArray, FloatArray]:
    """The reference's start (P,) and the unit perturbation directions (M, P), from the seed.

    The initial network is drawn even when ``theta0`` is given, so the directions are the
    same for a given seed either way.
    """
    rng = np.random.default_rng(config.seed)
    drawn = mlp.init(rng, 1, config.init)[0]
    start = drawn if theta0 is None else check_theta0(theta0, mlp)
    return start, unit_perturbations(rng, config.n_perturbations, mlp.weight_mask, config.perturbation)


def batch_order(config: RunConfig, data: Dataset) -> BatchOrder | None:
    """The order of ``config``'s mini-batches over the data's training rows, or None for the
    full batch; ValueError (naming the value and the rule) for a batch larger than the data."""
    if config.batch_size is None:
        return None
    return BatchOrder(len(data.y_train), config.batch_size, config.batch_seed)


def batches_for(config: RunConfig, data: Dataset, objective: RowObjective, first_step: int = 0) -> MiniBatches | None:
    """The mini-batches of ``config`` on ``objective`` (its full training loss) for ``descend``,
    from step ``first_step`` of the order on; None for the full batch."""
    order = batch_order(config, data)
    return None if order is None else MiniBatches(objective, order, first_step)


def records(n_steps: int, n_rows: int, n_params: int, save_every: int | None) -> str:
    """What the records of one descend call hold, for the message of ``check_memory``."""
    saves = 2 if save_every is None else n_steps // save_every + 2
    return f"({n_steps + 1:,} steps x {n_rows:,} trajectories; {n_params} parameters saved {saves:,} times)"


def checked_eps(eps_values: npt.ArrayLike) -> FloatArray:
    """The eps values of a sweep as a 1-D array, each checked by ``check_float``; at least one."""
    eps = np.array([check_float("eps", e, low=0.0, high=10.0) for e in np.ravel(eps_values)])
    if eps.size == 0:
        raise ValueError("eps_values must hold at least one value")
    return eps


@dataclass(frozen=True, eq=False)
class StabilityResult:
    """Row 0 of the trajectory is the reference, rows 1..M the perturbed copies."""

    config: RunConfig
    data: Dataset
    mlp: MLP
    trajectory: Trajectory
    ftle_config: FTLEConfig = FTLEConfig()

    @property
    def distance(self) -> FloatArray:
        """(T + 1, M) d_m(t)."""
        return self.trajectory.distance[:, 1:]

    @cached_property
    def mean_distance(self) -> FloatArray:
        """(T + 1,) <d(t)>."""
        return mean_distance(self.distance)

    @property
    def normalized_distance(self) -> FloatArray:
        """(T + 1,) <d(t)> / (eps N_w)."""
        return normalized_distance(self.mean_distance, self.config.eps, self.mlp.n_weights)

    @cached_property
    def ftle(self) -> FTLEFit:
        """The FTLE of <d(t)> with the estimator settings ``ftle_config``."""
        return fit_ftle(self.mean_distance, self.ftle_config)

    @cached_property
    def test_accuracy(self) -> FloatArray:
        """(K,) test accuracy of the final networks (NaN without test rows)."""
        return self.mlp.accuracy(self.trajectory.final_theta, self.data.x_test, self.data.y_test)


def run_stability(
    config: RunConfig,
    *,
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    on_progress: Progress | None = None,
    progress_every: int = 250,
    threads: int | None = None,
    ftle_config: FTLEConfig = FTLEConfig(),
    carry: Callable[[Objective, MiniBatches | None], Loss] | None = None,
) -> StabilityResult:
    """Dynamical stability (docs/method.md §2): reference + M copies perturbed at t = 0.

    ``on_progress(done, total, partial)`` is called every ``progress_every`` steps;
    ``threads`` share the rows (default: one per core); ``ftle_config`` sets the estimator
    of ``result.ftle``. ``carry(objective, batches)`` may wrap the objective that training
    calls, to measure something along it (core.experiments.spectrum's leading exponent); the
    wrapper must return the rows' results unchanged.
    """
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    rows = 1 + config.n_perturbations
    check_memory(
        descend_bytes(config.n_steps, rows, mlp.n_params, config.save_every),
        "its records " + records(config.n_steps, rows, mlp.n_params, config.save_every),
        "use fewer steps or perturbations, or a larger save_every",
    )
    start, unit = start_and_directions(config, mlp, theta0)
    objective = mlp.objective(data.x_train, data.y_train, config.l2, threads=threads or default_workers())
    batches = batches_for(config, data, objective)
    trajectory = descend(
        objective if carry is None else carry(objective, batches),
        with_copies(start, unit, config.eps),
        config.learning_rate,
        config.n_steps,
        optimizer=config.update_rule(),
        norm=config.distance,
        save_every=config.save_every,
        on_progress=on_progress,
        progress_every=progress_every,
        batches=batches,
    )
    return StabilityResult(config, data, mlp, trajectory, ftle_config)
