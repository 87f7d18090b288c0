"""Maps over the learning rate (docs/method.md §6): eta x eps and eta x initial network, and
zooming into a map.

- ``eta-eps``: per (eta, eps), the mean FTLE over the initial networks whose fit is kept, and
  the fraction kept. Each (eta, network) trains one reference shared by all eps, with M
  copies at each eps (the directions are the same, scaled by eps), as the Lyapunov sweep does.
- ``eta-seed``: per (eta, initial network), the final training loss: a trainability map
  (Sohl-Dickstein 2024 draws such maps as fractals at the edge of trainability).
- ``eta-width``, ``eta-depth``, ``eta-l2``, ``eta-momentum``, ``eta-batch``: per (eta, setting),
  ``n_inits`` networks of the config with that setting (core.experiments.setting_maps): each
  setting value is a config of its own, its cells trained together.
(The orbit diagram, one network's last losses over eta, is :mod:`core.experiments.orbit`.)

What a point shows is its ``value`` (VALUES; each plane has those it can show): ``"default"``
the plane's own (eta-eps the mean FTLE, eta-seed the final loss, a setting map the mean FTLE);
``"ftle"`` the mean FTLE of the kept fits; ``"leading"`` the leading tangent exponent of each
point's reference networks (docs/method.md §10), carried along the cells' own training
(``core.experiments.cells``, ``with_leading``): ``eta-seed`` that network's, the others the mean
over its ``n_inits`` networks (``eta-eps``: the same at every eps, the tangent is the limit
eps -> 0 of the copies); ``"loss"`` the final loss; ``"steps"`` the steps to the target test
accuracy (eta-seed: of its network; a setting map: the median of the networks that reach it).
The default value costs what it did.

Initial network j is the one ``run_stability`` draws for seed ``config.seed + j``; a zoom
(:func:`zoom`) recomputes a rectangle on a finer grid that contains the coarse grid's points
bit for bit, with the same networks, so the shared points keep their values exactly.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from core.analysis.lyapunov import FitMemo
from core.arrays import BoolArray, FloatArray, IntArray
from core.config import MAX_SEED, FTLEConfig, RunConfig
from core.data import Dataset
from core.engine.parallel import shared_workers
from core.experiments.cells import CellResults, train_cells
from core.experiments.regimes import TARGET_ACCURACY, steps_to_accuracy
from core.experiments.setting_maps import SETTINGS, SHARES, Setting, point_arrays
from core.experiments.stability import dataset_for
from core.validate import check_choice, check_float, check_int, check_seed_range, check_values

if TYPE_CHECKING:
    import pandas as pd

# the arrays of a map, each (E, Y): value, share, diverged, done (the fields of MapResult)
MapArrays: TypeAlias = tuple[FloatArray, FloatArray, BoolArray, BoolArray]
ZOOM_FACTOR = 4  # new points per coarse interval
MAX_ZOOM_POINTS = 100_000  # a zoom's grid, checked before it is made
# what a map's points show: the plane's own value, or one of these (each plane has its own)
VALUES = ("default", "ftle", "leading", "loss", "steps")
VALUE_NAMES = {"ftle": "ftle_mean", "leading": "leading_exponent", "loss": "final_loss", "steps": "steps_to_accuracy"}
LEADING_NAME = VALUE_NAMES["leading"]


@dataclass(frozen=True, eq=False)
class MapResult:
    """A 2-D map: learning rates (E,) x ``ys`` (Y,) (eps values, seeds or a setting's values);
    arrays are (E, Y).

    value:   ``eta-eps``: mean FTLE of the kept fits (NaN if none); ``eta-seed``: final loss
             (NaN where the network diverged); with ``value_kind`` "leading" the leading
             tangent exponent (``eta-eps``: mean over the networks, the same at every eps);
             a setting map: its ``value_kind`` (core.experiments.setting_maps.point_arrays)
    share:   ``eta-eps``: fraction of networks whose FTLE fit is kept; ``eta-seed``: final
             test accuracy; a setting map: ``share_name`` (SHARES)
    diverged: any trajectory of the point diverged
    done:    computed (False after a cancel)
    """

    kind: str
    config: RunConfig
    ftle_config: FTLEConfig
    n_inits: int
    etas: FloatArray
    ys: FloatArray | IntArray
    value: FloatArray
    share: FloatArray
    diverged: BoolArray
    done: BoolArray
    cancelled: bool = False
    value_kind: str = "default"
    target_accuracy: float = TARGET_ACCURACY  # of the value "steps"

    @property
    def value_name(self) -> str:
        return PLANES[self.kind].value_name_of(self.value_kind)

    @property
    def share_name(self) -> str:
        return PLANES[self.kind].share_name_of(self.value_kind)

    @property
    def y_name(self) -> str:
        return PLANES[self.kind].y_name

    def table(self) -> pd.DataFrame:
        """pandas DataFrame in long form, one row per point done: eta, eps or seed, value, share, diverged."""
        import pandas as pd

        e, y = np.nonzero(self.done)
        return pd.DataFrame(
            {
                "eta": self.etas[e],
                self.y_name: self.ys[y],
                self.value_name: self.value[e, y],
                self.share_name: self.share[e, y],
                "diverged": self.diverged[e, y],
            }
        )


def _eta_eps_map(
    cells: CellResults, n_etas: int, n_inits: int, ftle_config: FTLEConfig, memo: FitMemo | None = None
) -> MapArrays:
    """Cells (eta-major, then network) -> value, share, diverged, done, each (E, Y = n_eps).
    ``memo``: the fits of the cells done, kept across a job's partial results (each curve fitted
    once); without it, the cells done are fitted now."""
    done_curves = np.broadcast_to(cells.done[:, None], cells.mean_distance.shape[:-1])
    fits = (memo or FitMemo(ftle_config))(cells.mean_distance, done_curves)  # (E G, Y)
    shape = (n_etas, n_inits, -1)
    kept, slope = fits.kept.reshape(shape), fits.slope.reshape(shape)
    done = np.all(cells.done.reshape(n_etas, n_inits), axis=1)[:, None] & np.ones(kept.shape[-1], dtype=bool)
    n_kept = kept.sum(axis=1)
    with np.errstate(all="ignore"):
        value = np.where(n_kept > 0, np.where(kept, slope, 0.0).sum(axis=1) / n_kept, np.nan)
    diverged = np.broadcast_to(np.any(cells.diverged.reshape(n_etas, n_inits), axis=1)[:, None], done.shape)
    return np.where(done, value, np.nan), np.where(done, n_kept / n_inits, np.nan), diverged & done, done


def _eta_seed_map(cells: CellResults, n_etas: int, n_seeds: int, steps_target: float | None = None) -> MapArrays:
    """Cells (eta-major, then seed) -> final loss (or with ``steps_target`` the steps to that test
    accuracy), final test accuracy, diverged, done, each (E, Y)."""
    grid = (n_etas, n_seeds)
    diverged = (cells.diverged & cells.done).reshape(grid)
    if steps_target is None:
        value = np.where(diverged, np.nan, cells.loss[:, -1].reshape(grid))
    else:
        value = np.where(cells.done, steps_to_accuracy(cells.test_accuracy, steps_target), np.nan).reshape(grid)
    return value, cells.test_accuracy[:, -1].reshape(grid), diverged, cells.done.reshape(grid)


@dataclass(frozen=True)
class Options:
    """A map's settings besides its grids, as :func:`run_map` passes them to a plane's ``run``."""

    n_inits: int
    ftle_config: FTLEConfig
    value: str  # a value of the plane's ``values`` (not "default")
    target_accuracy: float
    theta0: FloatArray | None
    workers: int | None
    executor: Executor | None
    on_progress: Callable[[int, int, MapResult], object] | None


@dataclass(frozen=True)
class Plane(ABC):
    """What sets one kind of 2-D map apart: its second axis and the names of its columns, the
    values it can show (``values``, the first its default), how its cells are laid out over
    eta x ys (:meth:`cells`), what each point's value is (:meth:`arrays`) and how a zoom refines
    its second axis (:meth:`zoom_ys`)."""

    kind: str
    y_name: str
    value_name: str
    share_name: str
    values: tuple[str, ...]

    def value_of(self, value: str) -> str:
        """The value a request asks for ("default": the first of ``values``); ValueError if the plane has none such."""
        check_choice(f"the {self.kind} map's value", value, ("default", *self.values))
        return self.values[0] if value == "default" else value

    def value_name_of(self, value_kind: str) -> str:
        """The column of a value: the plane's own name for its default (as the files always had)."""
        return self.value_name if value_kind in ("default", self.values[0]) else VALUE_NAMES[value_kind]

    def share_name_of(self, value_kind: str) -> str:
        return self.share_name

    @abstractmethod
    def cells(self, config: RunConfig, etas: FloatArray, ys: npt.ArrayLike, n_inits: int) -> Cells:
        """The cells of a map over ``etas`` x ``ys`` with ``n_inits`` networks per eta, checked."""

    @abstractmethod
    def arrays(
        self, cells: CellResults, n_etas: int, layout: Cells, options: Options, fits: FitMemo | None = None
    ) -> MapArrays:
        """The (partial) cells -> value, share, diverged, done, each (E, Y); ``fits``: the FTLE fits
        of the cells done so far, kept across a job's partial results (planes that fit any)."""

    @abstractmethod
    def zoom_ys(self, ys: npt.NDArray[Any], low: float, high: float, factor: int) -> FloatArray | IntArray:
        """The second axis of a zoom into ``low`` .. ``high``."""

    def leading(self, cells: CellResults, n_etas: int, layout: Cells) -> FloatArray:
        """(E, Y) the cells' leading exponents (eta-major, then network), averaged over each
        eta's ``n_inits`` networks when they share the point (eta-eps); NaN where not done."""
        per_point = layout.n_inits if layout.eps is not None else layout.ys.size
        grid = np.where(cells.done, cells.leading, np.nan).reshape(n_etas, per_point)  # (E, G) or (E, Y)
        if layout.eps is None:
            return grid
        with np.errstate(all="ignore"):
            mean = grid.mean(axis=1)  # NaN until every network of the eta is done
        means: FloatArray = np.broadcast_to(mean[:, None], (n_etas, layout.ys.size)).copy()
        return means

    def run(self, config: RunConfig, data: Dataset, etas: FloatArray, ys: npt.ArrayLike, options: Options) -> MapResult:
        """The map: every cell of one config, trained by one ``train_cells``."""
        layout = self.cells(config, etas, ys, options.n_inits)
        on_progress = options.on_progress
        fits = FitMemo(options.ftle_config)  # shared by the partial results and the final one

        def result(cells: CellResults) -> MapResult:
            points, share, diverged, done = self.arrays(cells, etas.size, layout, options, fits)
            if options.value == "leading":
                points = self.leading(cells, etas.size, layout)
            return _result(self.kind, config, options, layout.n_inits, etas, layout.ys, (points, share, diverged, done),
                           cells.cancelled)  # fmt: skip

        cells = train_cells(
            config, data, layout.etas, layout.seeds, theta0=options.theta0, workers=options.workers,
            executor=options.executor, eps=layout.eps, n_copies=layout.n_copies,
            with_leading=options.value == "leading",
            on_progress=None if on_progress is None else lambda d, t, c: on_progress(d, t, result(c)),
        )  # fmt: skip
        return result(cells)


def _result(
    kind: str, config: RunConfig, options: Options, n_inits: int, etas: FloatArray, ys: FloatArray | IntArray,
    arrays: MapArrays, cancelled: bool,
) -> MapResult:  # fmt: skip
    return MapResult(
        kind, config, options.ftle_config, n_inits, etas, ys, *arrays, cancelled=cancelled,
        value_kind=options.value if options.value != PLANES[kind].values[0] else "default",
        target_accuracy=options.target_accuracy,
    )  # fmt: skip


@dataclass(frozen=True)
class Cells:
    """The cells of a map, eta-major: their etas and seeds (C,), the second axis (Y,), the eps
    and copies every cell trains (none: no copies) and the networks per eta."""

    etas: FloatArray
    seeds: IntArray
    ys: FloatArray | IntArray
    eps: FloatArray | None
    n_copies: int
    n_inits: int


class _EtaEps(Plane):
    """Per (eta, eps): the mean FTLE over ``n_inits`` networks, each with the config's copies at every eps."""

    def cells(self, config: RunConfig, etas: FloatArray, ys: npt.ArrayLike, n_inits: int) -> Cells:
        y_grid = positive_values("eps", ys, high=10.0)
        check_int("n_inits", n_inits, low=1, high=100_000)
        check_seed_range(config.seed, n_inits, MAX_SEED)
        seeds = config.seed + np.arange(n_inits)
        cell_etas, cell_seeds = np.repeat(etas, n_inits), np.tile(seeds, etas.size)
        return Cells(cell_etas, cell_seeds, y_grid, y_grid, config.n_perturbations, n_inits)

    def arrays(
        self, cells: CellResults, n_etas: int, layout: Cells, options: Options, fits: FitMemo | None = None
    ) -> MapArrays:
        return _eta_eps_map(cells, n_etas, layout.n_inits, options.ftle_config, fits)

    def zoom_ys(self, ys: npt.NDArray[Any], low: float, high: float, factor: int) -> FloatArray:
        return refine(np.sort(ys.astype(np.float64)), low, high, factor)


class _EtaSeed(Plane):
    """Per (eta, seed): one network each, no copies."""

    def cells(self, config: RunConfig, etas: FloatArray, ys: npt.ArrayLike, n_inits: int) -> Cells:
        y_grid = np.asarray([check_int("seed", int(s), low=0, high=2**63 - 1) for s in np.ravel(ys)], dtype=np.int64)
        if y_grid.size == 0:
            raise ValueError("the map needs at least one seed")
        cell_etas, cell_seeds = np.repeat(etas, y_grid.size), np.tile(y_grid, etas.size)
        return Cells(cell_etas, cell_seeds, y_grid, None, 0, 1)

    def arrays(
        self, cells: CellResults, n_etas: int, layout: Cells, options: Options, fits: FitMemo | None = None
    ) -> MapArrays:
        steps = options.target_accuracy if options.value == "steps" else None
        return _eta_seed_map(cells, n_etas, layout.ys.size, steps)

    def zoom_ys(self, ys: npt.NDArray[Any], low: float, high: float, factor: int) -> IntArray:
        """Seeds are whole numbers: those in range are kept, none refined."""
        inside = ys[(ys >= low) & (ys <= high)]
        if inside.size == 0:
            raise ValueError(f"no seed of the map lies in {low:g}..{high:g}")
        return inside


@dataclass(frozen=True)
class SettingPlane(Plane):
    """Per (eta, value of a setting): ``n_inits`` networks of the config with that setting
    (core.experiments.setting_maps), one config and one ``train_cells`` per setting value."""

    setting: Setting = SETTINGS["width"]

    def share_name_of(self, value_kind: str) -> str:
        return SHARES[self.value_of(value_kind)]

    def cells(self, config: RunConfig, etas: FloatArray, ys: npt.ArrayLike, n_inits: int) -> Cells:
        """The cells of one setting value (eta-major, then network)."""
        check_int("n_inits", n_inits, low=1, high=100_000)
        check_seed_range(config.seed, n_inits, MAX_SEED)
        seeds = config.seed + np.arange(n_inits)
        y_grid = np.asarray(ys)
        return Cells(np.repeat(etas, n_inits), np.tile(seeds, etas.size), y_grid, None, 0, n_inits)

    def arrays(
        self, cells: CellResults, n_etas: int, layout: Cells, options: Options, fits: FitMemo | None = None
    ) -> MapArrays:
        """One setting value's cells -> its column's arrays, each (E, 1): the FTLE's as the eta x
        eps map's at its one eps, the others per core.experiments.setting_maps.point_arrays."""
        if options.value == "ftle":
            return _eta_eps_map(cells, n_etas, layout.n_inits, options.ftle_config, fits)
        value, share, diverged, done = point_arrays(
            cells, n_etas, layout.n_inits, options.value, options.target_accuracy
        )
        return value[:, None], share[:, None], diverged[:, None], done[:, None]

    def zoom_ys(self, ys: npt.NDArray[Any], low: float, high: float, factor: int) -> FloatArray | IntArray:
        grid = np.sort(np.asarray(ys))
        if not self.setting.refined:  # few whole numbers: those in range are kept
            inside = grid[(grid >= low) & (grid <= high)]
            if inside.size == 0:
                raise ValueError(f"no {self.y_name} of the map lies in {low:g}..{high:g}")
            return inside
        fine = refine(grid.astype(np.float64), low, high, factor, log=self.setting.log)
        return np.unique(np.round(fine).astype(np.int64)) if self.setting.integer else fine

    def configs(
        self, config: RunConfig, ys: npt.ArrayLike, n_train: int, theta0: FloatArray | None = None
    ) -> tuple[FloatArray | IntArray, list[RunConfig]]:
        """The checked axis (sorted, distinct) and the config of each of its values."""
        self.setting.check_start(config, theta0)
        grid = self.setting.grid(ys, n_train)
        return grid, [self.setting.config_for(config, y) for y in grid.tolist()]

    def run(self, config: RunConfig, data: Dataset, etas: FloatArray, ys: npt.ArrayLike, options: Options) -> MapResult:
        """The setting values one after another, each its cells in one ``train_cells``."""
        grid, configs = self.configs(config, ys, len(data.y_train), options.theta0)
        layout = self.cells(config, etas, grid, options.n_inits)
        n_etas, n_ys, per_group = etas.size, grid.size, layout.etas.size
        value, share = np.full((n_etas, n_ys), np.nan), np.full((n_etas, n_ys), np.nan)
        diverged, done = np.zeros((n_etas, n_ys), dtype=bool), np.zeros((n_etas, n_ys), dtype=bool)
        ftle = options.value == "ftle"

        fits = [FitMemo(options.ftle_config) for _ in configs]  # each value's cells, as they come

        def fill(j: int, cells: CellResults) -> MapResult:
            arrays = self.arrays(cells, n_etas, layout, options, fits[j])
            for whole, column in zip((value, share, diverged, done), arrays, strict=True):
                whole[:, j] = column[:, 0]
            return _result(self.kind, config, options, options.n_inits, etas, grid,
                           (value.copy(), share.copy(), diverged.copy(), done.copy()), cells.cancelled)  # fmt: skip

        cancelled, report = False, options.on_progress
        with shared_workers():  # the values' chunks on one set of worker processes, warm after the first
            for j, group in enumerate(configs):

                def progress(d: int, _t: int, partial: CellResults, j: int = j) -> object:
                    assert report is not None
                    return report(j * per_group + d, n_ys * per_group, fill(j, partial))

                cells = train_cells(
                    group, data, layout.etas, layout.seeds, eps=np.array([config.eps]) if ftle else None,
                    n_copies=config.n_perturbations if ftle else 0, with_leading=options.value == "leading",
                    theta0=options.theta0, workers=options.workers, executor=options.executor,
                    on_progress=None if report is None else progress,
                )  # fmt: skip
                final = fill(j, cells)
                if cells.cancelled:
                    cancelled = True
                    break
        return dataclasses.replace(final, cancelled=cancelled)


# the kinds of 2-D map, each a map kind of core.experiments.map_kinds
SETTING_KINDS = {"width": "eta-width", "depth": "eta-depth", "l2": "eta-l2", "momentum": "eta-momentum",
                 "batch_size": "eta-batch"}  # fmt: skip
_SETTING_VALUES = ("ftle", "leading", "loss", "steps")
PLANES: dict[str, Plane] = {
    p.kind: p
    for p in (
        _EtaEps("eta-eps", "eps", "ftle_mean", "ftle_kept_fraction", ("ftle", "leading")),
        _EtaSeed("eta-seed", "seed", "final_loss", "test_accuracy", ("loss", "leading", "steps")),
        *(
            SettingPlane(kind, name, "ftle_mean", "ftle_kept_fraction", _SETTING_VALUES, SETTINGS[name])
            for name, kind in SETTING_KINDS.items()
        ),
    )
}


def run_map(
    kind: str,
    config: RunConfig,
    etas: npt.ArrayLike,
    ys: npt.ArrayLike,
    *,
    n_inits: int = 1,
    ftle_config: FTLEConfig = FTLEConfig(),
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    on_progress: Callable[[int, int, MapResult], object] | None = None,
    value: str = "default",
    target_accuracy: float = TARGET_ACCURACY,
) -> MapResult:
    """A map of ``kind`` over ``etas`` x ``ys``: eps values (``eta-eps``, with ``n_inits``
    networks and ``config.n_perturbations`` copies per eps), seeds (``eta-seed``: each seed
    one network, no copies) or a setting's values (``eta-width`` ...: ``n_inits`` networks, with
    ``config.n_perturbations`` copies at ``config.eps`` for the FTLE). ``theta0`` (P,) replaces
    every network's initial parameters. ``value``: "default" (the plane's own) or one of its
    ``values`` (VALUES); ``target_accuracy`` that of "steps".
    ``on_progress(done, total, partial MapResult)`` may return False."""
    check_choice("map kind", kind, tuple(PLANES))
    check_choice("map value", value, VALUES)
    plane = PLANES[kind]
    target = check_float("target accuracy", target_accuracy, low=0.0, high=1.0)
    options = Options(n_inits, ftle_config, plane.value_of(value), target, theta0, workers, executor, on_progress)
    eta_grid = positive_values("eta", etas, high=1e6)
    return plane.run(config, dataset_for(config, data), eta_grid, ys, options)


def positive_values(name: str, values: npt.ArrayLike, *, high: float) -> FloatArray:
    """A non-empty 1-D grid of positive finite numbers up to ``high``."""
    return np.asarray(check_values(name, values, low=0.0, high=high, what="the map"))


def refine(grid: FloatArray, low: float, high: float, factor: int = ZOOM_FACTOR, *, log: bool = True) -> FloatArray:
    """The points of ``grid`` (sorted ascending) in [low, high], widened to the neighbouring
    grid points if fewer than two lie inside, with ``factor - 1`` new points in every
    interval between them (log- or linearly spaced). The coarse points are kept as they are,
    bit for bit, so values there can be compared exactly."""
    grid = np.asarray(grid, dtype=np.float64)
    check_int("zoom factor", factor, low=1, high=1000)
    if not low < high:
        raise ValueError(f"a zoom needs low < high, got {low:g} to {high:g}")
    if grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise ValueError("a zoom needs an ascending grid of at least two points")
    if high < grid[0] or low > grid[-1]:
        raise ValueError(f"the zoom box {low:g}..{high:g} lies outside the map's grid {grid[0]:g}..{grid[-1]:g}")
    a, b = int(np.searchsorted(grid, low, side="left")), int(np.searchsorted(grid, high, side="right")) - 1
    if b - a < 1:  # fewer than two points inside: add the neighbours outside the box
        a, b = (b, a) if b < a else (a - 1, b + 1)
        a, b = max(a, 0), min(b, grid.size - 1)
        a, b = (b - 1, b) if a == b == grid.size - 1 else (a, max(b, a + 1))
    if (b - a) * factor + 1 > MAX_ZOOM_POINTS:
        raise ValueError(
            f"the zoom would make {(b - a) * factor + 1:,} grid points; the limit is {MAX_ZOOM_POINTS:,}: "
            "use a smaller box or factor"
        )
    space = np.geomspace if log else np.linspace
    pieces = [space(grid[k], grid[k + 1], factor + 1)[:-1] for k in range(a, b)]
    fine = np.concatenate([*pieces, grid[b : b + 1]])
    fine[::factor] = grid[a : b + 1]  # exactly the coarse floats
    return fine


def zoom_grids(
    kind: str,
    etas: npt.ArrayLike,
    ys: npt.ArrayLike,
    eta_range: Sequence[float],
    y_range: Sequence[float],
    factor: int = ZOOM_FACTOR,
) -> tuple[FloatArray, FloatArray | IntArray]:
    """The grids of a zoom into the rectangle ``eta_range`` x ``y_range`` of a map over
    ``etas`` x ``ys`` (see :func:`refine`). Seeds are whole numbers: for ``eta-seed`` the seeds
    in range are kept and only eta is refined."""
    check_choice("map kind", kind, tuple(PLANES))
    for name, span in (("eta range", eta_range), ("y range", y_range)):
        if len(span) != 2:
            raise ValueError(f"the zoom's {name} must be two values (low, high), got {len(span)}")
    etas = refine(np.sort(np.asarray(etas, dtype=np.float64)), eta_range[0], eta_range[1], factor)
    return etas, PLANES[kind].zoom_ys(np.asarray(ys), y_range[0], y_range[1], factor)


def zoom(
    result: MapResult,
    eta_range: tuple[float, float],
    y_range: tuple[float, float],
    *,
    factor: int = ZOOM_FACTOR,
    data: Dataset | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    on_progress: Callable[[int, int, MapResult], object] | None = None,
) -> MapResult:
    """The rectangle ``eta_range`` x ``y_range`` of a map, recomputed at ``factor`` times its
    resolution (log grids, :func:`zoom_grids`) with the same networks."""
    etas, ys = zoom_grids(result.kind, result.etas, result.ys, eta_range, y_range, factor)
    return run_map(
        result.kind,
        result.config,
        etas,
        ys,
        n_inits=result.n_inits,
        ftle_config=result.ftle_config,
        data=data,
        workers=workers,
        executor=executor,
        on_progress=on_progress,
        value=result.value_kind,
        target_accuracy=result.target_accuracy,
    )
