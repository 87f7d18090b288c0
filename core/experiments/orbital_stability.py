"""Orbital stability (docs/method.md §4): the reference trains alone to iteration t0, then it and
M copies perturbed there train on to T; the distance after t0 tells whether the trajectory
the network follows is stable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.lyapunov import mean_distance, normalized_distance
from core.arrays import FloatArray, IntArray
from core.config import RunConfig
from core.data import Dataset
from core.engine.parallel import default_workers
from core.engine.perturb import with_copies
from core.engine.training import Progress, Trajectory, check_memory, descend, descend_bytes
from core.experiments.stability import batches_for, dataset_for, network_for, records, start_and_directions
from core.validate import check_int


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
    def iterations(self) -> IntArray:
        """(T - t0 + 1,) iteration numbers of ``after``."""
        return self.t0 + np.arange(self.after.n_steps + 1)

    @property
    def normalized_distance(self) -> FloatArray:
        """(T - t0 + 1,) <d>/(eps N_w) after the perturbation."""
        return normalized_distance(mean_distance(self.after.distance[:, 1:]), self.config.eps, self.n_weights)


def run_orbital(
    config: RunConfig,
    t0: int,
    *,
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    on_progress: Progress | None = None,
    threads: int | None = None,
) -> OrbitalResult:
    """Orbital stability (docs/method.md §4): perturb the reference at iteration t0 < T.
    ``threads`` share the rows (default: one per core)."""
    check_int("t0", t0, low=0, high=config.n_steps - 1)
    if config.optimizer != "gd":
        # the copies start at t0 from the reference's parameters; an optimizer's buffers at t0
        # would have to be copied too, which this experiment does not do yet
        raise ValueError(f"orbital stability is measured for optimizer gd only, got {config.optimizer!r}")
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    _check_orbital_memory(config, t0, mlp.n_params)
    objective = mlp.objective(data.x_train, data.y_train, config.l2, threads=threads or default_workers())
    start, unit = start_and_directions(config, mlp, theta0)
    before = descend(
        objective,
        start[None, :],
        config.learning_rate,
        t0,
        save_every=config.save_every,
        batches=batches_for(config, data, objective),
    )
    after = descend(  # the copies continue the reference's batch order from step t0
        objective,
        with_copies(before.final_theta[0], unit, config.eps),
        config.learning_rate,
        config.n_steps - t0,
        norm=config.distance,
        save_every=config.save_every,
        on_progress=on_progress,
        batches=batches_for(config, data, objective, first_step=t0),
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
        + records(after, rows, n_params, config.save_every),
        "use fewer steps or perturbations, a later t0 or a larger save_every",
    )
