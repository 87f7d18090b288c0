"""The same network at several perturbation sizes eps, in one batch (docs/method.md §2; the paper's Figs. 4
and 6): one initial network and the same perturbation directions scaled by each eps, around
one shared reference trajectory. In the linear regime <d>/(eps N_w) is one curve for every eps.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.analysis.lyapunov import mean_distance
from core.arrays import FloatArray
from core.config import RunConfig
from core.data import Dataset
from core.engine.parallel import default_workers
from core.engine.perturb import shared_reference_batch
from core.engine.training import Progress, check_memory, descend, descend_bytes
from core.experiments.stability import (
    batches_for,
    checked_eps,
    dataset_for,
    network_for,
    records,
    start_and_directions,
)


@dataclass(frozen=True, eq=False)
class EpsSweepResult:
    """One initial network, its M copies at each of E radii (the paper's Figs. 4 and 6; docs/method.md §2).

    eps (E,); distance (E, T + 1, M); reference loss (T + 1,).
    """

    config: RunConfig
    eps: FloatArray
    distance: FloatArray
    loss: FloatArray
    n_weights: int
    cancelled: bool = False

    @property
    def mean_distance(self) -> FloatArray:
        """(E, T + 1)."""
        return mean_distance(self.distance)

    @property
    def normalized_distance(self) -> FloatArray:
        """(E, T + 1) <d>/(eps N_w): collapses onto one curve in the linear regime."""
        return self.mean_distance / (self.eps[:, None] * self.n_weights)


def run_eps_sweep(
    config: RunConfig,
    eps_values: list[float] | FloatArray,
    *,
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    on_progress: Progress | None = None,
    threads: int | None = None,
) -> EpsSweepResult:
    """The run of ``config`` repeated at several eps in one batch: same initial network, same
    perturbation directions scaled by each eps, one shared reference trajectory.
    ``threads`` share the rows (default: one per core)."""
    eps = checked_eps(eps_values)
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    rows = 1 + eps.size * config.n_perturbations
    check_memory(  # and the copy of the distances that the reshape by eps makes
        descend_bytes(config.n_steps, rows, mlp.n_params, None) + 8 * (config.n_steps + 1) * rows,
        "its records " + records(config.n_steps, rows, mlp.n_params, None),
        "use fewer steps, perturbations or eps values",
    )
    start, unit = start_and_directions(config, mlp, theta0)
    objective = mlp.objective(data.x_train, data.y_train, config.l2, threads=threads or default_workers())
    traj = descend(
        objective,
        shared_reference_batch(start, unit, eps),
        config.learning_rate,
        config.n_steps,
        optimizer=config.update_rule(),
        norm=config.distance,
        save_every=None,
        on_progress=on_progress,
        batches=batches_for(config, data, objective),
    )
    m = config.n_perturbations
    distance = traj.distance[:, 1:].reshape(-1, eps.size, m).transpose(1, 0, 2)
    return EpsSweepResult(config, eps, distance, traj.loss[:, 0], mlp.n_weights, traj.cancelled)
