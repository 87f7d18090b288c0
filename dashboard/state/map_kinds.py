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

from core.experiments.map_kinds import MAP_KINDS, Map2D, SettingMap
from core.experiments.setting_maps import Setting

if TYPE_CHECKING:
    import pandas as pd

    from dashboard.jobs.records import MapRecord


class MapView(ABC):
    """One map kind on the page. ``live_seconds``: the seconds to draw its live figure, measured
    per update on one core at 200k trajectory-steps/s (dashboard.jobs.plans.map_cost)."""

    name: ClassVar[str]
    label: ClassVar[str]
    live_seconds: ClassVar[float]
    click_hint: ClassVar[str] = ""  # what a click on its points cannot do, as their hover says ('' if it opens the run)

    @abstractmethod
    def record_parts(self, result: Any) -> dict[str, Any]:
        """The kind's fields of a MapRecord from a (partial) result of its core kind."""

    def zoom_text(self, etas: np.ndarray, ys: np.ndarray) -> str:
        """What a grid covers: 'η 0.501–2.01 (17 points)', with its second axis's span."""
        return f"η {etas[0]:.3g}–{etas[-1]:.3g} ({etas.size} points)"

    def note(self, config: Any) -> str:
        """What the map's title must say of how it was made from ``config`` ('' if nothing)."""
        return ""

    def box_y(self, y: list[float]) -> list[float]:
        """The second axis (low, high) of a box drawn on the map, as a zoom asks for it."""
        return y

    def clicked(self, data: list, values: dict[str, Any]) -> dict[str, Any]:
        """The settings besides eta that a clicked point's customdata [eta, y, ...] sets, over the
        map's run ``values``; ValueError if the page cannot open that point's run."""
        return {}

    @abstractmethod
    def with_coarse(self, fine: MapRecord, coarse: MapRecord, near: np.ndarray) -> MapRecord:
        """A zoom's partial record with its cells not computed yet taken from the coarse one;
        ``near`` (E_fine,) is the index of each fine eta's nearest coarse eta."""

    @abstractmethod
    def table(self, record: MapRecord) -> pd.DataFrame:
        """The record's points done as a table (the page's CSV; the CLI's map.csv for a 2-D map)."""


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

    def table(self, record: MapRecord) -> pd.DataFrame:
        import pandas as pd

        done = record.done
        columns = {"eta": record.etas, **record.table, "regime": np.array(record.regimes, dtype=object)}
        return pd.DataFrame({name: np.asarray(column)[done] for name, column in columns.items()})

    def with_coarse(self, fine: MapRecord, coarse: MapRecord, near: np.ndarray) -> MapRecord:
        table = {k: np.where(np.isnan(v), coarse.table[k][near], v) for k, v in fine.table.items()}
        regimes = tuple(r if r is not None else coarse.regimes[c] for r, c in zip(fine.regimes, near, strict=True))
        return dataclasses.replace(fine, table=table, regimes=regimes)


class OrbitView(MapView):
    name, label = "orbit", "orbit diagram"
    live_seconds = 0.025

    def record_parts(self, result: Any) -> dict[str, Any]:
        return {"losses": result.losses, "done": result.done}

    def table(self, record: MapRecord) -> pd.DataFrame:
        """eta, the index of the loss among the last ones kept, loss (as orbit.csv, by position)."""
        import pandas as pd

        e = np.flatnonzero(record.done)
        n_last = record.losses.shape[1]
        return pd.DataFrame(
            {"eta": np.repeat(record.etas[e], n_last), "last": np.tile(np.arange(n_last), e.size),
             "loss": record.losses[e].ravel()}
        )  # fmt: skip

    def with_coarse(self, fine: MapRecord, coarse: MapRecord, near: np.ndarray) -> MapRecord:
        missing = ~fine.done
        losses = fine.losses.copy()
        losses[missing] = coarse.losses[near[missing]]
        return dataclasses.replace(fine, losses=losses, done=fine.done | coarse.done[near])


class HeatmapView(MapView):
    """A 2-D map over eta x ys: ``value``, ``share``, ``diverged`` and ``done`` (E, Y)."""

    def record_parts(self, result: Any) -> dict[str, Any]:
        return {"ys": result.ys, "value": result.value, "share": result.share, "diverged": result.diverged,
                "done": result.done, "value_kind": result.value_kind, "value_name": result.value_name,
                "share_name": result.share_name, "target_accuracy": result.target_accuracy}  # fmt: skip

    def table(self, record: MapRecord) -> pd.DataFrame:
        """One row per point done: eta, its y, value, share, diverged (as map.csv of the CLI)."""
        import pandas as pd

        kind = MAP_KINDS[self.name]
        assert isinstance(kind, Map2D)  # a heatmap's kind
        value, share = record.value_name or kind.value_name, record.share_name or kind.share_name  # "": its own
        e, y = np.nonzero(record.done)
        return pd.DataFrame(
            {"eta": record.etas[e], str(kind.y_name): record.ys[y], value: record.value[e, y],
             share: record.share[e, y], "diverged": record.diverged[e, y]}
        )  # fmt: skip

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

    def clicked(self, data: list, values: dict[str, Any]) -> dict[str, Any]:
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
        return whole_box(y)

    def clicked(self, data: list, values: dict[str, Any]) -> dict[str, Any]:
        return {"seed": int(round(float(data[1])))}

    def coarse_ys(self, fine: np.ndarray, coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same seed, or none."""
        y_near = np.array([int(np.flatnonzero(coarse == y)[0]) if (coarse == y).any() else 0 for y in fine])
        return y_near, np.isin(fine, coarse)


def whole_box(y: list[float]) -> list[float]:
    """A box's span of whole numbers: those inside it, else the nearest."""
    low, high = math.ceil(y[0]), math.floor(y[1])
    return [float(low), float(high)] if low <= high else [float(round(sum(y) / 2))] * 2


def _widths(hidden: Any) -> list[int]:
    """The widths of a run's hidden-layers value (an int, or a list of 2 to 4)."""
    return [int(w) for w in hidden] if isinstance(hidden, (list, tuple)) else [int(hidden)]


def _hidden(widths: list[int]) -> int | list[int]:
    """The hidden-layers control's value of ``widths`` (an int for one layer)."""
    return widths[0] if len(widths) == 1 else widths


class SettingView(HeatmapView):
    """A map over eta and a setting of the run (core.experiments.setting_maps): ``symbol`` names
    its axis in a zoom's text. How its axis behaves is the core setting's: a whole-number axis
    takes whole values from a box; a log axis borrows the nearest coarse value in log while a
    zoom computes, a linear one in value, and a kept-not-refined axis (depth) only the same value."""

    symbol: ClassVar[str]
    live_seconds = 0.03

    @property
    def setting(self) -> Setting:
        kind = MAP_KINDS[self.name]
        assert isinstance(kind, SettingMap)
        return kind.plane.setting

    def zoom_text(self, etas: np.ndarray, ys: np.ndarray) -> str:
        return f"{super().zoom_text(etas, ys)} × {self.symbol} {ys[0]:.3g}–{ys[-1]:.3g} ({ys.size} values)"

    def note(self, config: Any) -> str:
        """The core kind's note (e.g. heavy-ball momentum on a gd config)."""
        kind = MAP_KINDS[self.name]
        return kind.note(config) if isinstance(kind, SettingMap) else ""

    def box_y(self, y: list[float]) -> list[float]:
        return whole_box(y) if self.setting.integer else y

    def coarse_ys(self, fine: np.ndarray, coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f, c = np.asarray(fine, dtype=np.float64), np.asarray(coarse, dtype=np.float64)
        if self.setting.log:
            f, c = np.log(f), np.log(c)
        near = np.abs(f[:, None] - c[None, :]).argmin(axis=1)
        return near, np.ones(fine.size, dtype=bool) if self.setting.refined else np.isin(fine, coarse)


class EtaWidthView(SettingView):
    name, label, symbol = "eta-width", "η × width map", "width"

    def clicked(self, data: list, values: dict[str, Any]) -> dict[str, Any]:
        """Every hidden layer of the map's depth that wide (as the map made it)."""
        return {"hidden": _hidden([int(round(float(data[1])))] * len(_widths(values["hidden"])))}


class EtaDepthView(SettingView):
    name, label, symbol = "eta-depth", "η × depth map", "depth"

    def clicked(self, data: list, values: dict[str, Any]) -> dict[str, Any]:
        """That many hidden layers as wide as the map's first (as the map made it)."""
        return {"hidden": _hidden([_widths(values["hidden"])[0]] * int(round(float(data[1]))))}


class EtaL2View(SettingView):
    name, label, symbol = "eta-l2", "η × L2 map", "l2"
    click_hint = "the page has no L2 control: cli.py run --l2"

    def clicked(self, data: list, values: dict[str, Any]) -> dict[str, Any]:
        raise ValueError(f"the page has no L2 control: run this point with cli.py run --l2 {float(data[1]):g}")


class EtaMomentumView(SettingView):
    name, label, symbol = "eta-momentum", "η × momentum map", "β"

    def clicked(self, data: list, values: dict[str, Any]) -> dict[str, Any]:
        """Its momentum, with the map's optimizer (heavy ball if the map's was gd)."""
        optimizer = values["optimizer"] if values["optimizer"] in ("momentum", "nesterov") else "momentum"
        return {"optimizer": optimizer, "momentum": float(data[1])}


class EtaBatchView(SettingView):
    name, label, symbol = "eta-batch", "η × batch size map", "batch"

    def clicked(self, data: list, values: dict[str, Any]) -> dict[str, Any]:
        if "batch" not in values:  # a page without a batch size control
            raise ValueError(f"the page has no batch size control: run cli.py run --batch-size {float(data[1]):g}")
        return {"batch": int(round(float(data[1])))}


# in the order of core.experiments.map_kinds.MAP_KINDS (the page's menu; a test checks they agree)
MAP_VIEWS: dict[str, MapView] = {
    view.name: view
    for view in (
        StripView(), OrbitView(), EtaEpsView(), EtaSeedView(), EtaWidthView(), EtaDepthView(), EtaL2View(),
        EtaMomentumView(), EtaBatchView(),
    )
}  # fmt: skip
