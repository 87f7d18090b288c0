"""This project's own figures, beyond the paper's: the regimes of the learning rate on one
strip, the orbit diagram, the eta x eps and eta x depth maps of the FTLE, sharpness against
2/eta, and the time to reach 90% test accuracy on Iris and on digits (docs/method.md §6, §8
and §12)."""

from __future__ import annotations

import numpy as np

from core.experiments.regimes import TARGET_ACCURACY, geometric_grid
from dashboard.figures.dynamics import curvature_view
from dashboard.figures.map_kinds import map_figure
from dashboard.jobs.plans import MAP_COPIES, MAP_EPS
from dashboard.jobs.records import MapRecord
from paper.drawings import setting_heatmap
from paper.lab import Lab
from paper.sizes import Size
from paper.story import EDGE, FTLE_STEPS, Drawn, Number

STRIP_ETAS = (1e-3, 20.0)
ORBIT_ETAS = (0.5, 20.0)
MAP_ETAS = (0.1, 10.0)
DIGITS_ETAS = (1e-2, 10.0)
DEPTH_ETAS = (0.1, 10.0)
DEPTHS = (1, 2, 3, 4)  # hidden layers, each of the default 10 units
ONSET_SHARE = 0.5  # a cell is unstable where more than half its networks keep a positive FTLE fit


def _strip_numbers(record: MapRecord, label: str) -> list[Number]:
    """Where each regime starts on the strip, and the fastest eta to the target accuracy."""
    numbers = []
    for regime in ("edge", "chaotic"):
        first = [eta for eta, r in zip(record.etas, record.regimes, strict=True) if r == regime]
        numbers.append(Number(f"{label}: smallest η labelled {regime}", first[0] if first else float("nan")))
    steps = record.table.get("steps_to_accuracy", np.full(record.etas.size, np.nan))
    fastest = record.etas[int(np.nanargmin(steps))] if np.isfinite(steps).any() else float("nan")
    numbers.append(Number(f"{label}: η reaching {TARGET_ACCURACY:.0%} test accuracy soonest", float(fastest)))
    return numbers


def draw_strip(lab: Lab, size: Size) -> Drawn:
    etas = geometric_grid(*STRIP_ETAS, size.strip_etas)
    settings = {"n_steps": size.strip_steps, "n_perturbations": MAP_COPIES}
    record = lab.regime_map("eta", etas, np.zeros(0), size.strip_inits, **settings)
    return Drawn({"": map_figure(record)}, _strip_numbers(record, "Iris"))


def draw_orbit(lab: Lab, size: Size) -> Drawn:
    etas = geometric_grid(*ORBIT_ETAS, size.orbit_etas)
    record = lab.regime_map("orbit", etas, np.zeros(0), 1, n_steps=size.orbit_steps, n_perturbations=1)
    return Drawn({"": map_figure(record)}, [])


def draw_eta_eps(lab: Lab, size: Size) -> Drawn:
    etas = geometric_grid(*MAP_ETAS, size.map_etas)
    settings = {"n_steps": FTLE_STEPS, "n_perturbations": MAP_COPIES}
    record = lab.regime_map("eta-eps", etas, MAP_EPS, size.map_inits, **settings)
    top = float(np.nanmax(record.value)) if np.isfinite(record.value).any() else float("nan")
    return Drawn({"": map_figure(record)}, [Number("largest mean FTLE on the map, per iteration", top)])


def draw_sharpness(lab: Lab, size: Size) -> Drawn:
    record = lab.run(learning_rate=EDGE, n_steps=size.steps, n_perturbations=5)
    late = record.sharpness[record.sharpness.size // 2 :]  # once the edge is reached
    ratio = float(np.nanmedian(late) * EDGE / 2)
    what = "sharpness / (2/η), median over the second half of training (≈ 1 at the edge of stability)"
    number = Number(what, ratio)  # the expectation is Cohen et al.'s (2021), not a number of the paper
    return Drawn({"": curvature_view(record)}, [number])


def draw_digits(lab: Lab, size: Size) -> Drawn:
    etas = geometric_grid(*DIGITS_ETAS, size.digits_etas)
    settings = {"dataset": "digits", "n_steps": size.digits_steps, "n_perturbations": 2}
    record = lab.regime_map("eta", etas, np.zeros(0), 1, **settings)
    return Drawn({"": map_figure(record)}, _strip_numbers(record, "digits"))


def draw_eta_depth(lab: Lab, size: Size) -> Drawn:
    """The mean FTLE of the kept fits over eta x depth (docs/method.md §12): where deeper
    networks of the same width turn unstable."""
    etas = geometric_grid(*DEPTH_ETAS, size.depth_etas)
    settings = {"n_steps": FTLE_STEPS, "n_perturbations": MAP_COPIES}
    result = lab.setting_map("eta-depth", etas, DEPTHS, size.depth_inits, "ftle", **settings)
    title = (f"FTLE over η × depth: {size.depth_inits} networks per cell (hidden layers of "
             f"{result.config.widths[0]} units), {MAP_COPIES} copies, {FTLE_STEPS} iterations; "
             "in each cell the share of networks whose fit is kept (÷: a trajectory diverged)")  # fmt: skip
    fig = setting_heatmap(result.etas, np.asarray(result.ys), result.value, result.share, result.diverged,
                          y_title="hidden layers", value_title="FTLE (per iteration)", title=title)  # fmt: skip
    numbers = []
    for j, depth in enumerate(result.ys):
        unstable = result.etas[result.share[:, j] > ONSET_SHARE]
        onset = float(unstable[0]) if unstable.size else float("nan")
        numbers.append(Number(f"{depth} hidden layers: smallest η where most networks keep a positive FTLE", onset))
    return Drawn({"": fig}, numbers)
