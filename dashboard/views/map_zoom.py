"""Zooming into a finished map and clicking on it (the Regimes view), as plain functions of
what the page sends (no Dash).

A box drawn on a map and "Zoom in" give the settings of a zoom into that box
(``zoom_request``: the map's own settings and the box, 4 significant digits, whole seeds on a
seed axis); "Zoom out" gives the map it refines (``zoom_out_request``); the title, the line
under the map's settings and the URL (``zoom=``) say what a zoom shows (``zoom_text``). While
a zoom computes, its cells not computed yet are drawn from the coarse map
(``with_coarse``); a clicked point gives the settings of its run (``clicked_run``), on the
map's own grid (``dashboard.jobs.plans.map_grids``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from dashboard.jobs import plans
from dashboard.jobs.records import MapRecord
from dashboard.state.map_kinds import MAP_VIEWS
from dashboard.state.rules import map_values, run_values, zoom_box

# ---- a zoom: the box drawn on a map, and the picture while it computes ---------------
X_AXIS = re.compile(r"x\d*")  # a box on panel k of the strip reports its span as "x<k>"


def zoom_request(selected: Any, finished: Any) -> tuple[dict, dict]:
    """The settings of a zoom into the box drawn on the finished map."""
    if not isinstance(finished, dict) or finished.get("kind") != "map":
        raise ValueError("Run a map first, then draw a box on it (drag on the map) and press Zoom in.")
    box = (selected or {}).get("range") if isinstance(selected, dict) else None
    x_key = next((k for k in box if X_AXIS.fullmatch(str(k))), None) if isinstance(box, dict) else None
    if x_key is None or not isinstance(box, dict):
        raise ValueError("Draw a box on the map first (drag across it), then press Zoom in.")
    x = sorted(_short(v) for v in box[x_key])
    y = sorted(_short(v) for v in box.get("y", [0.0, 0.0]))  # a strip's panels: only the eta span counts
    extra = dict(finished.get("extra") or {})
    view = MAP_VIEWS.get(str(extra.get("map")))
    y = view.box_y(y) if view is not None else y  # e.g. whole seeds on a seed axis
    extra["zoom"] = [x[0], x[1], y[0], y[1]]
    return run_values(finished.get("values")), extra


def zoom_out_request(finished: Any) -> tuple[dict, dict]:
    """The settings of the map a finished zoom refines (the same map without its box)."""
    if not isinstance(finished, dict) or (finished.get("extra") or {}).get("zoom") is None:
        raise ValueError("There is no zoom to leave: the map on screen is not a zoom.")
    extra = {k: v for k, v in finished["extra"].items() if k != "zoom"}
    return run_values(finished.get("values")), extra


def zoom_text(kind: str, etas: np.ndarray, ys: np.ndarray) -> str:
    """What a zoom's grid covers: 'η 0.501–2.01 (17 points)', with its ε or seed span."""
    return MAP_VIEWS[kind].zoom_text(etas, ys)


def zoom_note(finished: Any) -> str:
    """The line under the map's settings while a zoom is on screen ('' otherwise)."""
    try:
        zoom = zoom_box((finished.get("extra") or {}).get("zoom"))
        if zoom is None:
            return ""
        maps = map_values(finished.get("extra"))
        etas, ys = plans.map_grids(maps, zoom, run_values(finished.get("values"))["seed"])
    except (AttributeError, ValueError):
        return ""
    return (
        f"Zoomed in ×{plans.ZOOM_FACTOR} finer: {zoom_text(maps['map'], etas, ys)}, inside the map "
        f"of η {maps['eta_min']:g}–{maps['eta_max']:g} set above."
    )


def _short(value: Any) -> float:
    """A box edge as the page reports it, to 4 significant digits (a readable link)."""
    return float(f"{float(value):.4g}")


def with_coarse(fine: MapRecord, coarse: MapRecord) -> MapRecord:
    """A zoom's partial map with its cells not computed yet taken from the coarse map (the
    nearest coarse eta and eps, the same seed), so the picture is replaced cell by cell."""
    near = np.abs(np.log(fine.etas)[:, None] - np.log(coarse.etas)[None, :]).argmin(axis=1)  # (E_fine,)
    return MAP_VIEWS[fine.kind].with_coarse(fine, coarse, near)


# ---- clicks: a point of a map opens its run -----------------------------------------
def clicked_run(click: Any, finished: Any) -> dict[str, Any]:
    """The control values of the run behind a clicked point: the map's settings with that
    point's eta (and eps, seed or setting: its width, depth, momentum or batch size; network 0
    of a point of many). ValueError if the click or the map is not one, or if the page cannot
    set that point's setting (an L2 penalty)."""
    if not isinstance(finished, dict) or not isinstance(click, dict) or not click.get("points"):
        raise ValueError("no finished map to open a run from")
    values = run_values(finished.get("values"))
    values["steps"] = map_values(finished.get("extra"))["map_steps"]  # the cell's own run
    point = click["points"][0]
    data = _as_list(point.get("customdata"))
    maps = map_values(finished.get("extra"))
    eta = float(data[0]) if isinstance(data, list) and data else float(point.get("x"))
    etas = plans.map_grids(maps, _zoom(finished), values["seed"])[0]
    values["eta"] = float(etas[np.argmin(np.abs(np.log(etas) - np.log(eta)))])  # the grid's own float
    if isinstance(data, list) and len(data) > 1:  # the point's eps, seed or setting on a 2-D map
        values.update(MAP_VIEWS[maps["map"]].clicked(data, values))
    return {**values, "normalized": False}


def _as_list(data: Any) -> list | None:
    """customdata as the page sends it: a list, or (from a typed array) a dict {"0": .., "1": ..}."""
    if isinstance(data, dict):
        return [data[k] for k in sorted(data, key=int)] if all(str(k).isdigit() for k in data) else None
    return data if isinstance(data, list) else None


def _zoom(finished: dict) -> Any:
    return (finished.get("extra") or {}).get("zoom")
