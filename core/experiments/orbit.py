"""The orbit diagram (docs/method.md §6): for one network and each eta of a grid, the last N
training losses of a long run, so that fixed points, periodic orbits and chaotic bands appear
as eta grows, as in the bifurcation diagram of the logistic map. Each eta is a cell of
:mod:`core.experiments.cells` (the network ``run_stability`` draws for the seed, no copies).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.arrays import BoolArray, FloatArray, IntArray
from core.config import RunConfig
from core.data import Dataset
from core.experiments.cells import CellResults, train_cells
from core.experiments.maps import positive_values
from core.experiments.stability import dataset_for
from core.validate import check_int

if TYPE_CHECKING:
    import pandas as pd

ORBIT_DISTINCT_RTOL = 1e-6  # losses closer than this (relative) count as one point of an orbit


@dataclass(frozen=True, eq=False)
class OrbitResult:
    """The orbit diagram of one network: etas (E,), the last N training losses of each
    (E, N; NaN after a divergence), diverged (E,), done (E,)."""

    config: RunConfig
    etas: FloatArray
    losses: FloatArray
    diverged: BoolArray
    done: BoolArray
    cancelled: bool = False

    @property
    def n_distinct(self) -> IntArray:
        """(E,) distinct loss values among the last N (relative tolerance ORBIT_DISTINCT_RTOL):
        1 for a fixed point, p for a period-p orbit, about N for a chaotic band."""
        return np.array([distinct_values(row) for row in self.losses])

    def table(self) -> pd.DataFrame:
        """pandas DataFrame in long form: eta, step, loss (the points of the diagram)."""
        import pandas as pd

        n_last = self.losses.shape[1]
        steps = self.config.n_steps - n_last + 1 + np.arange(n_last)
        e = np.flatnonzero(self.done)
        return pd.DataFrame(
            {
                "eta": np.repeat(self.etas[e], n_last),
                "step": np.tile(steps, e.size),
                "loss": self.losses[e].ravel(),
            }
        )


def distinct_values(values: FloatArray, rtol: float = ORBIT_DISTINCT_RTOL) -> int:
    """Number of clusters of the finite ``values`` whose neighbours (sorted) differ by less than
    ``rtol`` relative; 0 if none is finite."""
    v = np.sort(values[np.isfinite(values)])
    if v.size == 0:
        return 0
    gaps = np.diff(v) > rtol * np.maximum(np.abs(v[1:]), np.finfo(np.float64).tiny)
    return int(gaps.sum()) + 1


def run_orbit(
    config: RunConfig,
    etas: npt.ArrayLike,
    *,
    n_last: int = 200,
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    on_progress: Callable[[int, int, OrbitResult], object] | None = None,
) -> OrbitResult:
    """The orbit diagram: the network of ``config.seed`` trained ``config.n_steps`` steps at
    each eta (or from ``theta0`` (P,)); keeps the last ``n_last`` losses (the steps
    T - n_last + 1 .. T)."""
    etas = positive_values("eta", etas, high=1e6)
    check_int("n_last", n_last, low=1, high=config.n_steps + 1)
    data = dataset_for(config, data)

    def result(cells: CellResults) -> OrbitResult:
        losses = cells.loss[:, -n_last:].copy()
        steps = np.arange(config.n_steps + 1 - n_last, config.n_steps + 1)
        diverged_by = (cells.diverged_at[:, None] != -1) & (steps[None, :] >= cells.diverged_at[:, None])
        losses[diverged_by] = np.nan
        return OrbitResult(config, etas, losses, cells.diverged & cells.done, cells.done, cells.cancelled)

    cells = train_cells(
        config,
        data,
        etas,
        np.full(etas.size, config.seed),
        theta0=theta0,
        workers=workers,
        executor=executor,
        on_progress=None if on_progress is None else lambda d, t, c: on_progress(d, t, result(c)),
    )
    return result(cells)
