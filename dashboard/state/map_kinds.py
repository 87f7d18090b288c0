"""The map kinds of the Regimes view as the page handles them, under the names of
core.experiments.map_kinds (which holds each kind's grids, cost, computation and files).

A kind here is its menu label, the parts of its record (dashboard.jobs.records.MapRecord)
taken from the core's result, what its live figure costs to draw, and its zoom rules on the
page: what a zoom covers (its title and the line under the map's settings), how a box's
second axis is read, what a clicked point sets, and how a zoom's cells not computed yet borrow
the coarse map's. Its figure is dashboard.figures.map_kinds. Pure: no Dash, no Plotly, so the
plans, the records' jobs and the figures can all read it.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from dashboard.jobs.records import MapRecord


class MapView(ABC):
    """One map kind on the page. ``live_seconds``: the seconds to draw its live figure, measured
    per update on one core at 200k trajectory-steps/s (dashboard.jobs.plans.map_cost)."""

    name: ClassVar[str]
    label: ClassVar[str]
    live_seconds: ClassVar[float]

    @abstractmethod
    def record_parts(self, result: Any) -> dict[str, Any]:
        """The kind's fields of a MapRecord from a (partial) result of its core kind."""

    def zoom_text(self, etas: np.ndarray, ys: np.ndarray) -> str:
        """What a grid covers: 'η 0.501–2.01 (17 points)', with its second axis's span."""
        return f"η {etas[0]:.3g}–{etas[-1]:.3g} ({etas.size} points)"

    def box_y(self, y: list[float]) -> list[float]:
        """The second axis (low, high) of a box drawn on the map, as a zoom asks for it."""
        return y

    def clicked(self, data: list) -> dict[str, Any]:
        """The settings besides eta that a clicked point's customdata [eta, y, ...] sets."""
        return {}

    @abstractmethod
    def with_coarse(self, fine: MapRecord, coarse: MapRecord, near: np.ndarray) -> MapRecord:
        """A zoom's partial record with its cells not computed yet taken from the coarse one;
        ``near`` (E_fine,) is the index of each fine eta's nearest coarse eta."""


class StripView(MapView):
    name, label = "eta", "1-D strip over η"
    live_seconds = 0.15  # five panels

    def record_parts(self, result: Any) -> dict[str, Any]:
        summary = result.summary()
        return {
            "table": {c: summary[c].to_numpy(dtype=np.float64) for c in summary.columns if c not in ("eta", "regime")},
            "regimes": tuple(r if isinstance(r, str) else None for r in summary["regime"]),
            "done": result.done.any(axis=1),
            "target_accuracy": result.target_accuracy,
        }

    def with_coarse(self, fine: MapRecord, coarse: MapRecord, near: np.ndarray) -> MapRecord:
        table = {k: np.where(np.isnan(v), coarse.table[k][near], v) for k, v in fine.table.items()}
        regimes = tuple(r if r is not None else coarse.regimes[c] for r, c in zip(fine.regimes, near, strict=True))
        return dataclasses.replace(fine, table=table, regimes=regimes)


class OrbitView(MapView):
    name, label = "orbit", "orbit diagram"
    live_seconds = 0.025

    def record_parts(self, result: Any) -> dict[str, Any]:
        return {"losses": result.losses, "done": result.done}

    def with_coarse(self, fine: MapRecord, coarse: MapRecord, near: np.ndarray) -> MapRecord:
        missing = ~fine.done
        losses = fine.losses.copy()
        losses[missing] = coarse.losses[near[missing]]
        return dataclasses.replace(fine, losses=losses, done=fine.done | coarse.done[near])


class HeatmapView(MapView):
    """A 2-D map over eta x ys: ``value``, ``share``, ``diverged`` and ``done`` (E, Y)."""

    def record_parts(self, result: Any) -> dict[str, Any]:
        return {"ys": result.ys, "value": result.value, "share": result.share, "diverged": result.diverged,
                "done": result.done}  # fmt: skip

    @abstractmethod
    def coarse_ys(self, fine: np.ndarray, coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The coarse index of each fine y (Y_fine,), and whether the coarse map has that y."""

    def with_coarse(self, fine: MapRecord, coarse: MapRecord, near: np.ndarray) -> MapRecord:
        y_near, y_known = self.coarse_ys(fine.ys, coarse.ys)
        grid = np.ix_(near, y_near)
        take = ~fine.done & coarse.done[grid] & y_known[None, :]
        value, share = np.where(take, coarse.value[grid], fine.value), np.where(take, coarse.share[grid], fine.share)
        return dataclasses.replace(fine, value=value, share=share, done=fine.done | take)


class EtaEpsView(HeatmapView):
    name, label = "eta-eps", "η × ε map (FTLE)"
    live_seconds = 0.03

    def zoom_text(self, etas: np.ndarray, ys: np.ndarray) -> str:
        return f"{super().zoom_text(etas, ys)} × ε {ys[0]:.2g}–{ys[-1]:.2g} ({ys.size} values)"

    def clicked(self, data: list) -> dict[str, Any]:
        return {"eps": float(data[1])}

    def coarse_ys(self, fine: np.ndarray, coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The nearest coarse eps (in log), always known."""
        return np.abs(np.log(fine)[:, None] - np.log(coarse)[None, :]).argmin(axis=1), np.ones(fine.size, dtype=bool)


class EtaSeedView(HeatmapView):
    name, label = "eta-seed", "η × seed map (final loss)"
    live_seconds = 0.025

    def zoom_text(self, etas: np.ndarray, ys: np.ndarray) -> str:
        return f"{super().zoom_text(etas, ys)} × seeds {int(ys[0])}–{int(ys[-1])}"

    def box_y(self, y: list[float]) -> list[float]:
        """Whole seeds: those inside the box, else the nearest."""
        low, high = math.ceil(y[0]), math.floor(y[1])
        return [float(low), float(high)] if low <= high else [float(round(sum(y) / 2))] * 2

    def clicked(self, data: list) -> dict[str, Any]:
        return {"seed": int(round(float(data[1])))}

    def coarse_ys(self, fine: np.ndarray, coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same seed, or none."""
        y_near = np.array([int(np.flatnonzero(coarse == y)[0]) if (coarse == y).any() else 0 for y in fine])
        return y_near, np.isin(fine, coarse)


# in the order of core.experiments.map_kinds.MAP_KINDS (the page's menu; a test checks they agree)
MAP_VIEWS: dict[str, MapView] = {view.name: view for view in (StripView(), OrbitView(), EtaEpsView(), EtaSeedView())}
