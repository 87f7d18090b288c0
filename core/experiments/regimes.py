"""Regimes of the learning rate (docs/method.md §6): the 1-D sweep over eta and its labels.

Each (eta, network) cell trains initial network j (the network ``run_stability`` draws for
seed ``config.seed + j``) at learning rate eta with M perturbed copies (see :mod:`core.experiments.cells`),
and reports the final loss and accuracies, the iterations to reach a test-accuracy target
(docs/method.md §8), the fraction of loss-increasing steps, the FTLE of its copies
(docs/method.md §3), how far its copies moved apart, the sharpness of its final network over
2/eta, and a regime label (core.analysis.labels). Per eta: the medians, the FTLE mean with a bootstrap
CI and the fraction kept, the fraction diverged and the majority label.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.analysis.chaos import loss_increase_fraction
from core.analysis.labels import chance_accuracy, majority, regime_labels
from core.analysis.lyapunov import EnsembleStats, FitMemo, FTLEFit, ensemble_stats
from core.arrays import BoolArray, FloatArray, IntArray, ScalarT
from core.config import MAX_SEED, FTLEConfig, RunConfig
from core.data import Dataset
from core.experiments.cells import CellResults, train_cells
from core.experiments.stability import dataset_for
from core.validate import check_float, check_int, check_seed_range, check_values

if TYPE_CHECKING:
    import pandas as pd

TARGET_ACCURACY = 0.9  # docs/method.md §8: iterations to reach 90% test accuracy
BOOTSTRAP_KEY = 2**31 - 1  # spawn key of the bootstrap generators: apart from any network's


def steps_to_accuracy(test_accuracy: FloatArray, target: float) -> FloatArray:
    """(..., T + 1) test accuracy per step -> (...) first step at which it reaches ``target``; NaN if never."""
    reached = test_accuracy >= target  # NaN compares False
    first: FloatArray = reached.argmax(axis=-1).astype(np.float64)
    first[~reached.any(axis=-1)] = np.nan
    return first


def geometric_grid(low: float, high: float, n: int, name: str = "eta") -> FloatArray:
    """(n,) log-spaced values from ``low`` to ``high`` inclusive; n >= 2 and low < high."""
    check_float(f"{name} low", low, low=0.0, high=1e6)
    check_float(f"{name} high", high, low=0.0, high=1e6)
    check_int(f"{name} points", n, low=2, high=100_000)
    if not low < high:
        raise ValueError(f"{name} range must go from low to high with low < high, got {low:g} to {high:g}")
    return np.geomspace(low, high, n)


@dataclass(frozen=True, eq=False)
class SweepResult:
    """E learning rates x G initial networks (seeds ``config.seed + j``). Per-network arrays
    are (E, G); cells not computed (cancelled) are NaN and not ``done``."""

    config: RunConfig
    ftle_config: FTLEConfig
    etas: FloatArray
    seeds: IntArray
    target_accuracy: float
    chance: float
    cells: CellResults
    # the fits of the cells done so far, shared by a job's partial results (each cell fitted once;
    # None: fitted afresh)
    fits: FitMemo | None = field(default=None, repr=False)

    def _grid(self, values: npt.NDArray[ScalarT]) -> npt.NDArray[ScalarT]:
        return values.reshape(self.etas.size, self.seeds.size, *values.shape[1:])

    @property
    def done(self) -> BoolArray:
        return self._grid(self.cells.done)

    @property
    def cancelled(self) -> bool:
        return self.cells.cancelled

    @property
    def diverged(self) -> BoolArray:
        return self._grid(self.cells.diverged) & self.done

    @property
    def final_loss(self) -> FloatArray:
        """(E, G); NaN for a diverged network."""
        return np.where(self.diverged, np.nan, self._grid(self.cells.loss[:, -1]))

    @property
    def train_accuracy(self) -> FloatArray:
        return np.where(self.diverged, np.nan, self._grid(self.cells.train_accuracy))

    @property
    def test_accuracy(self) -> FloatArray:
        return self._grid(self.cells.test_accuracy[:, -1])

    @cached_property
    def steps_to_accuracy(self) -> FloatArray:
        return self._grid(steps_to_accuracy(self.cells.test_accuracy, self.target_accuracy))

    @property
    def reached_target(self) -> FloatArray:
        """(E,) share of the networks done that reach the target test accuracy; NaN without
        test rows (a user's file with training rows only has no test accuracy)."""
        if not np.isfinite(self.cells.test_accuracy[:, 0]).any():
            return np.full(self.etas.size, np.nan)
        return _share(np.isfinite(self.steps_to_accuracy), self.done)

    @cached_property
    def loss_increase_fraction(self) -> FloatArray:
        return np.where(self.done, self._grid(loss_increase_fraction(self.cells.loss.T)), np.nan)

    @cached_property
    def ftle(self) -> FTLEFit:
        """FTLEFit of shape (E, G): the best-window fit of ln<d(t)> of each network's copies."""
        curves = self._grid(self.cells.mean_distance[:, 0])
        return (self.fits or FitMemo(self.ftle_config))(curves, self.done)

    @cached_property
    def separation(self) -> FloatArray:
        """(E, G) max_t ln(<d(t)> / <d(0)>): how far each network's copies moved apart (NaN
        where not computed or not finite)."""
        mean_d = self._grid(self.cells.mean_distance[:, 0])  # (E, G, T + 1)
        with np.errstate(all="ignore"):
            separation: FloatArray = np.log(mean_d.max(axis=-1) / mean_d[..., 0])
        return separation

    @property
    def sharpness_over_2_eta(self) -> FloatArray:
        """(E, G) sharpness of the final network / (2 / eta): 1 at the edge of stability."""
        return self._grid(self.cells.sharpness) * self.etas[:, None] / 2.0

    @cached_property
    def regime(self) -> npt.NDArray[np.object_]:
        """(E, G) labels; None where not computed."""
        labels = regime_labels(
            self.diverged,
            np.nan_to_num(self.train_accuracy, nan=0.0),
            self.chance,
            np.nan_to_num(self.loss_increase_fraction, nan=0.0),
            self.ftle.kept,
            self.separation,
        )
        labels[~self.done] = None
        return labels

    @cached_property
    def ftle_stats(self) -> tuple[EnsembleStats, ...]:
        """Per eta: mean, std and bootstrap CI of the kept FTLEs of the networks done."""
        stats = []
        for i in range(self.etas.size):
            rng = np.random.default_rng(np.random.SeedSequence(self.config.seed, spawn_key=(BOOTSTRAP_KEY, i)))
            done = self.done[i]
            stats.append(ensemble_stats(self.ftle.slope[i, done], self.ftle.kept[i, done], rng))
        return tuple(stats)

    def runs(self) -> pd.DataFrame:
        """pandas DataFrame, one row per (eta, network) done: the columns of ``runs.csv``."""
        import pandas as pd

        e, g = np.nonzero(self.done)
        return pd.DataFrame(
            {
                "eta": self.etas[e],
                "seed": self.seeds[g],
                "final_loss": self.final_loss[e, g],
                "train_accuracy": self.train_accuracy[e, g],
                "test_accuracy": self.test_accuracy[e, g],
                "steps_to_accuracy": self.steps_to_accuracy[e, g],
                "ftle": self.ftle.slope[e, g],
                "ftle_r2": self.ftle.r2[e, g],
                "ftle_kept": self.ftle.kept[e, g],
                "loss_increase_fraction": self.loss_increase_fraction[e, g],
                "sharpness_over_2_eta": self.sharpness_over_2_eta[e, g],
                "diverged": self.diverged[e, g],
                "regime": self.regime[e, g],
            }
        )

    def summary(self) -> pd.DataFrame:
        """pandas DataFrame, one row per eta: medians over the networks done, FTLE statistics,
        fractions diverged and reaching the target, the majority label."""
        import pandas as pd

        with np.errstate(all="ignore"), _quiet_nan_medians():
            rows = {
                "eta": self.etas,
                "networks": self.done.sum(axis=1),
                "final_loss": np.nanmedian(self.final_loss, axis=1),
                "train_accuracy": np.nanmedian(self.train_accuracy, axis=1),
                "test_accuracy": np.nanmedian(self.test_accuracy, axis=1),
                "steps_to_accuracy": np.nanmedian(self.steps_to_accuracy, axis=1),
                "reached_target": self.reached_target,
                "loss_increase_fraction": np.nanmedian(self.loss_increase_fraction, axis=1),
                "sharpness_over_2_eta": np.nanmedian(self.sharpness_over_2_eta, axis=1),
                "ftle_mean": [s.mean for s in self.ftle_stats],
                "ftle_ci_low": [s.ci_low for s in self.ftle_stats],
                "ftle_ci_high": [s.ci_high for s in self.ftle_stats],
                "ftle_kept_fraction": _share(self.ftle.kept, self.done),
                "diverged_fraction": _share(self.diverged, self.done),
                "regime": [majority(self.regime[i, self.done[i]]) for i in range(self.etas.size)],
            }
        return pd.DataFrame(rows)

    def time_to_accuracy(self) -> pd.DataFrame:
        """pandas DataFrame, one row per eta: the iterations to reach the target test accuracy
        (median and quartiles over the networks that reach it, and the share that does) beside
        the FTLE mean and the share of kept fits (docs/method.md §8: fastest near the onset of a
        positive FTLE)."""
        import pandas as pd

        steps = np.where(self.done, self.steps_to_accuracy, np.nan)
        with np.errstate(all="ignore"), _quiet_nan_medians():
            q25, median, q75 = np.nanpercentile(steps, [25, 50, 75], axis=1)
        return pd.DataFrame(
            {
                "eta": self.etas,
                "target_accuracy": self.target_accuracy,
                "steps_median": median,
                "steps_q25": q25,
                "steps_q75": q75,
                "reached_target": self.reached_target,
                "ftle_mean": [s.mean for s in self.ftle_stats],
                "ftle_kept_fraction": _share(self.ftle.kept, self.done),
            }
        )


def _share(flags: BoolArray, done: BoolArray) -> FloatArray:
    """(E, G) flags -> (E,) share among the networks done (NaN for none)."""
    n = done.sum(axis=1)
    return np.where(n > 0, (flags & done).sum(axis=1) / np.maximum(n, 1), np.nan)


@contextmanager
def _quiet_nan_medians() -> Iterator[None]:
    """np.nanmedian warns on an all-NaN row (an eta where every network diverged): a NaN
    median is the honest answer there."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        yield


def run_sweep(
    config: RunConfig,
    etas: npt.ArrayLike,
    n_inits: int,
    *,
    target_accuracy: float = TARGET_ACCURACY,
    ftle_config: FTLEConfig = FTLEConfig(),
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    on_progress: Callable[[int, int, SweepResult], object] | None = None,
) -> SweepResult:
    """The 1-D regime sweep: every eta of ``etas`` x ``n_inits`` initial networks, each with
    ``config.n_perturbations`` copies at ``config.eps``, ``config.n_steps`` steps.
    ``theta0`` (P,) replaces every network's initial parameters (use it with ``n_inits=1``).
    ``on_progress(done_cells, total_cells, partial SweepResult)`` may return False to stop."""
    etas = np.asarray(check_values("eta", etas, low=0.0, high=1e6, what="the sweep"))
    check_int("n_inits", n_inits, low=1, high=100_000)
    check_seed_range(config.seed, n_inits, MAX_SEED)
    target_accuracy = check_float("target accuracy", target_accuracy, low=0.0, high=1.0)
    seeds = config.seed + np.arange(n_inits)
    data = dataset_for(config, data)
    partial = functools.partial(  # the SweepResult of (partial) cell results
        SweepResult,
        config=config,
        ftle_config=ftle_config,
        etas=etas,
        seeds=seeds,
        target_accuracy=target_accuracy,
        chance=chance_accuracy(data),
        fits=FitMemo(ftle_config),
    )
    cells = train_cells(
        config,
        data,
        np.repeat(etas, n_inits),
        np.tile(seeds, etas.size),
        eps=np.array([config.eps]),
        n_copies=config.n_perturbations,
        with_sharpness=True,
        theta0=theta0,
        workers=workers,
        executor=executor,
        on_progress=None if on_progress is None else lambda d, t, c: on_progress(d, t, partial(cells=c)),
    )
    return partial(cells=cells)
