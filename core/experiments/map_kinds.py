"""The kinds of map over the learning rate (docs/method.md §6), each one class, registered once.

A map kind is everything the core knows of one way to sweep eta: its grids (the second axis
and how a zoom refines them), its cost (the cells it trains, priced by
core.engine.speed.cells_estimate), how it runs (an experiment of this package) and the files
the command line writes of its result. The dashboard adds, under the same names, what a page
needs (dashboard.state.map_kinds: its label, record and zoom rules; dashboard.figures.map_kinds:
its figure); the CLI, the server's plans and the page look a kind up here by its name:

- ``eta``: the 1-D strip, ``n_inits`` networks per eta with copies (core.experiments.regimes)
- ``orbit``: the orbit diagram, one network's last losses per eta (core.experiments.orbit)
- ``eta-eps``, ``eta-seed``: the 2-D maps (core.experiments.maps)
- ``eta-width``, ``eta-depth``, ``eta-l2``, ``eta-momentum``, ``eta-batch``: 2-D maps over eta and
  a setting of the run (core.experiments.setting_maps), one config per setting value, each
  priced by the cost model with its own network (``estimate``'s ``groups``); the values'
  chunks share one set of worker processes (core.engine.parallel.shared_workers)

The order of MAP_KINDS is the order of the page's menu.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from core.arrays import FloatArray, IntArray
from core.config import RunConfig
from core.data import Dataset
from core.engine.speed import Estimate, NetworkCost, cells_estimate
from core.experiments.maps import (
    PLANES,
    ZOOM_FACTOR,
    MapResult,
    SettingPlane,
    refine,
    run_map,
    zoom_grids,
)
from core.experiments.orbit import OrbitResult, run_orbit
from core.experiments.regimes import SweepResult, run_sweep
from core.validate import check_choice

if TYPE_CHECKING:
    import pandas as pd

ResultT = TypeVar("ResultT", SweepResult, OrbitResult, MapResult)
Grids: TypeAlias = tuple[FloatArray, FloatArray | IntArray]  # etas (E,), ys (Y,): eps, seeds or none
Output: TypeAlias = "pd.DataFrame | dict[str, npt.NDArray[Any]]"  # a .csv table or a .npz's arrays


@dataclass(frozen=True)
class CellShape:
    """What a map trains, for the cost model: ``cells`` cells of ``rows`` trajectories, a
    sharpness per cell or not, and ``ftle_series`` FTLE fits per cell."""

    cells: int
    rows: int
    sharpness: bool
    ftle_series: int


class MapKind(ABC, Generic[ResultT]):
    """One kind of map. ``name`` is its control value, its ``map=`` in a link and its name on
    the command line (``command``, or ``map --kind NAME``); ``y_name`` its second axis (None
    for a map over eta alone)."""

    name: ClassVar[str]
    y_name: ClassVar[str | None] = None
    command: ClassVar[str]  # the CLI subcommand that draws it
    ftle: ClassVar[bool] = False  # fits an FTLE per cell (too few steps deserve a note)

    def y_grid(self, *, seed: int, n_networks: int, eps: FloatArray) -> FloatArray | IntArray:
        """The second axis of a map of ``n_networks`` networks from ``seed``, over ``eps``."""
        return np.zeros(0)

    def zoom_grids(
        self, etas: FloatArray, ys: FloatArray | IntArray, eta_range: Sequence[float], y_range: Sequence[float],
        factor: int = ZOOM_FACTOR,
    ) -> Grids:  # fmt: skip
        """The grids of a zoom into ``eta_range`` x ``y_range`` (core.experiments.maps.refine):
        over eta alone, the eta grid is refined and ``y_range`` is not used."""
        return refine(etas, eta_range[0], eta_range[1], factor), ys

    def n_networks(self, n_inits: int, n_ys: int) -> int:
        """The distinct initial networks at each eta."""
        return n_inits

    @abstractmethod
    def shape(self, n_etas: int, n_ys: int, n_inits: int, n_copies: int) -> CellShape:
        """The cells of a map of ``n_etas`` x ``n_ys`` with ``n_inits`` networks and ``n_copies`` copies."""

    def estimate(
        self, net: NetworkCost, n_etas: int, n_ys: int, n_inits: int, n_copies: int, n_steps: int, rate: float,
        workers: int, *, local: bool = True, value: str = "default",
        groups: Sequence[NetworkCost] | None = None,
    ) -> Estimate:  # fmt: skip
        """Its time over ``workers`` local processes (or an executor's, ``local=False``); with
        ``value="leading"`` (a 2-D map of leading exponents) each cell's two tangent rows a step
        too. ``groups`` (a setting map's): the cost of each setting value's network."""
        s = self.shape(n_etas, n_ys, n_inits, n_copies)
        rows = s.rows + (2 if value == "leading" else 0)  # theta +- h q of the reference, in the same calls
        return cells_estimate(
            net, s.cells, rows, n_steps, rate, workers, sharpness=s.sharpness, ftle_series=s.ftle_series, local=local
        )

    def group_configs(self, config: RunConfig, ys: npt.ArrayLike, n_train: int) -> list[RunConfig]:
        """The config of each group of cells trained together: one for all but a setting map."""
        return [config]

    @abstractmethod
    def run(
        self,
        config: RunConfig,
        etas: npt.ArrayLike,
        ys: npt.ArrayLike,
        n_inits: int,
        *,
        data: Dataset | None = None,
        theta0: FloatArray | None = None,
        workers: int | None = None,
        executor: Executor | None = None,
        on_progress: Callable[[int, int, ResultT], object] | None = None,
        **options: Any,
    ) -> ResultT:
        """The map over ``etas`` x ``ys``; ``options`` are the kind's own (see each)."""

    @abstractmethod
    def outputs(self, result: ResultT) -> dict[str, Output]:
        """The files the command line writes of a result, by name (besides config.json)."""


class Strip(MapKind[SweepResult]):
    """The 1-D strip: every eta x ``n_inits`` networks, each with its copies, an FTLE fit and a
    sharpness (core.experiments.regimes.run_sweep; option ``target_accuracy``)."""

    name = "eta"
    command = "sweep"
    ftle = True

    def shape(self, n_etas: int, n_ys: int, n_inits: int, n_copies: int) -> CellShape:
        return CellShape(n_etas * n_inits, 1 + n_copies, True, 1)

    def run(
        self, config: RunConfig, etas: npt.ArrayLike, ys: npt.ArrayLike, n_inits: int, **kwargs: Any
    ) -> SweepResult:
        return run_sweep(config, etas, n_inits, **kwargs)

    def outputs(self, result: SweepResult) -> dict[str, Output]:
        runs = result.runs()  # the FTLE fits and the labels: part of the job's time
        arrays = {name: np.asarray(runs[name]) for name in runs.columns if name != "regime"}
        return {
            "runs.csv": runs,
            "summary.csv": result.summary(),
            "time_to_accuracy.csv": result.time_to_accuracy(),
            "sweep.npz": {
                **arrays,
                "regime": np.asarray(runs["regime"], dtype=str),
                "loss": result.cells.loss,
                "test_accuracy_per_step": result.cells.test_accuracy,
                "mean_distance": result.cells.mean_distance[:, 0],
            },
        }


class Orbit(MapKind[OrbitResult]):
    """The orbit diagram: the network of the config's seed at every eta, its last ``n_last``
    losses (core.experiments.orbit.run_orbit; option ``n_last``, default N_LAST or all steps)."""

    name = "orbit"
    command = "orbit"
    N_LAST = 200  # losses per eta

    def n_networks(self, n_inits: int, n_ys: int) -> int:
        return 1

    def shape(self, n_etas: int, n_ys: int, n_inits: int, n_copies: int) -> CellShape:
        return CellShape(n_etas, 1, False, 0)

    def run(
        self, config: RunConfig, etas: npt.ArrayLike, ys: npt.ArrayLike, n_inits: int, **kwargs: Any
    ) -> OrbitResult:
        kwargs.setdefault("n_last", min(self.N_LAST, config.n_steps + 1))
        return run_orbit(config, etas, **kwargs)

    def outputs(self, result: OrbitResult) -> dict[str, Output]:
        return {
            "orbit.csv": result.table(),
            "orbit.npz": {
                "etas": result.etas,
                "losses": result.losses,
                "diverged": result.diverged,
                "n_distinct": result.n_distinct,
            },
        }


class Map2D(MapKind[MapResult]):
    """A 2-D map of core.experiments.maps (``run_map``), its second axis and columns from its
    core.experiments.maps.PLANES entry."""

    command = "map"

    @property
    def value_name(self) -> str:
        return PLANES[self.name].value_name

    @property
    def share_name(self) -> str:
        return PLANES[self.name].share_name

    def value_of(self, value: str) -> str:
        """The value a request asks for ("default": the kind's own); ValueError names the values it has."""
        return PLANES[self.name].value_of(value)

    def zoom_grids(
        self, etas: FloatArray, ys: FloatArray | IntArray, eta_range: Sequence[float], y_range: Sequence[float],
        factor: int = ZOOM_FACTOR,
    ) -> Grids:  # fmt: skip
        return zoom_grids(self.name, etas, ys, eta_range, y_range, factor)

    def run(self, config: RunConfig, etas: npt.ArrayLike, ys: npt.ArrayLike, n_inits: int, **kwargs: Any) -> MapResult:
        return run_map(self.name, config, etas, ys, n_inits=n_inits, **kwargs)

    def outputs(self, result: MapResult) -> dict[str, Output]:
        arrays = {result.value_name: result.value, result.share_name: result.share, "diverged": result.diverged}
        return {"map.csv": result.table(), "map.npz": {"etas": result.etas, result.y_name: result.ys, **arrays}}


class EtaEps(Map2D):
    """Per (eta, eps): the mean FTLE of ``n_inits`` networks with their copies at every eps."""

    name = "eta-eps"
    y_name = "eps"
    ftle = True

    def y_grid(self, *, seed: int, n_networks: int, eps: FloatArray) -> FloatArray:
        return eps

    def shape(self, n_etas: int, n_ys: int, n_inits: int, n_copies: int) -> CellShape:
        return CellShape(n_etas * n_inits, 1 + n_ys * n_copies, False, n_ys)


class EtaSeed(Map2D):
    """Per (eta, seed): one network's final loss, no copies (a trainability map)."""

    name = "eta-seed"
    y_name = "seed"

    def y_grid(self, *, seed: int, n_networks: int, eps: FloatArray) -> IntArray:
        return seed + np.arange(n_networks)

    def n_networks(self, n_inits: int, n_ys: int) -> int:
        return n_ys

    def shape(self, n_etas: int, n_ys: int, n_inits: int, n_copies: int) -> CellShape:
        return CellShape(n_etas * n_ys, 1, False, 0)


class SettingMap(Map2D):
    """Per (eta, setting value): ``n_inits`` networks of the config with that setting
    (core.experiments.setting_maps); copies (``n_copies``) only for the FTLE, its default value.
    Each setting value is a ``train_cells`` of its own, priced with its own network; all of
    them run on one set of local worker processes, started once."""

    ftle = True

    def y_grid(self, *, seed: int, n_networks: int, eps: FloatArray) -> FloatArray | IntArray:
        setting = self.plane.setting
        if setting.integer:
            return np.asarray(setting.default, dtype=np.int64)
        return np.asarray(setting.default, dtype=np.float64)

    @property
    def plane(self) -> SettingPlane:
        plane = PLANES[self.name]
        assert isinstance(plane, SettingPlane)
        return plane

    def shape(self, n_etas: int, n_ys: int, n_inits: int, n_copies: int) -> CellShape:
        return CellShape(n_etas * n_ys * n_inits, 1 + n_copies, False, 1 if n_copies else 0)

    def estimate(
        self, net: NetworkCost, n_etas: int, n_ys: int, n_inits: int, n_copies: int, n_steps: int, rate: float,
        workers: int, *, local: bool = True, value: str = "default",
        groups: Sequence[NetworkCost] | None = None,
    ) -> Estimate:  # fmt: skip
        """The sum of its groups' estimates (one ``train_cells`` each, one after another), each
        with its own network (``groups``; ``net`` for every group if not given); the worker
        processes start once, in the first (:meth:`run`)."""
        value = self.plane.value_of(value)
        copies = n_copies if value == "ftle" else 0
        nets = list(groups) if groups is not None else [net] * n_ys
        if len(nets) != n_ys:
            raise ValueError(f"need the cost of each of the {n_ys} setting values, got {len(nets)}")
        s = self.shape(n_etas, 1, n_inits, copies)
        rows = s.rows + (2 if value == "leading" else 0)  # as MapKind.estimate
        parts = [
            cells_estimate(g, s.cells, rows, n_steps, rate, workers, sharpness=s.sharpness, ftle_series=s.ftle_series,
                           local=local, started=j > 0)
            for j, g in enumerate(nets)
        ]  # fmt: skip
        return Estimate(
            sum(p.seconds for p in parts), sum(p.training for p in parts), sum(p.trajectory_steps for p in parts),
            max(p.n_params for p in parts), max(p.workers for p in parts),
        )  # fmt: skip

    def group_configs(self, config: RunConfig, ys: npt.ArrayLike, n_train: int) -> list[RunConfig]:
        return self.plane.configs(config, ys, n_train)[1]

    def note(self, config: RunConfig) -> str:
        """What a reader must know of how the map is made from ``config`` ('' if nothing)."""
        return self.plane.setting.note(config)


class EtaWidth(SettingMap):
    """Per (eta, width): every hidden layer of the config's depth that wide."""

    name, y_name = "eta-width", "width"


class EtaDepth(SettingMap):
    """Per (eta, depth): that many hidden layers, each as wide as the config's first."""

    name, y_name = "eta-depth", "depth"


class EtaL2(SettingMap):
    """Per (eta, l2): the config with that L2 penalty."""

    name, y_name = "eta-l2", "l2"


class EtaMomentum(SettingMap):
    """Per (eta, momentum beta): momentum or nesterov (heavy-ball momentum if the config's is gd)."""

    name, y_name = "eta-momentum", "momentum"


class EtaBatch(SettingMap):
    """Per (eta, batch size): mini-batch SGD with that many rows a step."""

    name, y_name = "eta-batch", "batch_size"


SETTING_MAPS = (EtaWidth(), EtaDepth(), EtaL2(), EtaMomentum(), EtaBatch())
MAP_KINDS: dict[str, MapKind[Any]] = {
    kind.name: kind for kind in (Strip(), Orbit(), EtaEps(), EtaSeed(), *SETTING_MAPS)
}


def map_kind(name: str) -> MapKind[Any]:
    """The kind of that name; ValueError names the kinds there are."""
    check_choice("map kind", name, tuple(MAP_KINDS))
    return MAP_KINDS[name]
