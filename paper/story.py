"""The figures of the paper's story (Figs. 2-18), each as a function (lab, size) -> Drawn: what
it computes, how it is drawn, the numbers to compare. docs/method.md gives the quantities."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from core.experiments.orbit import distinct_values
from dashboard import figures
from dashboard.jobs import compute
from paper.drawings import displacement_histogram, series_figure
from paper.lab import Lab
from paper.sizes import Size

if TYPE_CHECKING:
    from core.experiments.diagnostics import Diagnostics
    from dashboard.jobs.records import RunRecord

LOW, EDGE, CHAOS = 0.01, 1.0, 5.0  # the paper's three learning rates
FTLE_STEPS = 200  # the FTLE's horizon (docs/method.md §3)


@dataclass(frozen=True)
class Number:
    """A headline number of a figure: ours, and the paper's where it reports one."""

    what: str
    value: float
    paper: str = ""


@dataclass(frozen=True)
class Drawn:
    panels: dict[str, go.Figure]  # file suffix ("" for a single panel) -> figure
    numbers: list[Number] = field(default_factory=list)


@dataclass(frozen=True)
class Figure:
    name: str  # the files' stem
    paper: str  # the paper's figure, or "this project"
    what: str
    settings: Callable[[Size], str]
    draw: Callable[[Lab, Size], Drawn]


def _low(size: Size, seed: int = 0, **changes: Any) -> dict:
    """The eta = 0.01 run of the paper's first figures."""
    return {"seed": seed, "learning_rate": LOW, "n_steps": size.steps, "n_perturbations": size.copies, **changes}


# ---- eta = 0.01: Figs. 2-10 ---------------------------------------------------------------
def draw_data(lab: Lab, size: Size) -> Drawn:
    record = lab.run(**_low(size))
    fig = figures.data.data_view(record, compute.data_for(record.config), 2, 3)
    return Drawn({"": fig}, [Number("test accuracy", record.test_accuracy)])


def draw_divergence(lab: Lab, size: Size) -> Drawn:
    records = [lab.run(**_low(size, seed)) for seed in range(size.seeds)]
    panels = {f"seed{r.config.seed}": figures.distance.distance_view(r, False) for r in records}
    top = max(float(np.nanmax(r.normalized_distance)) for r in records)
    return Drawn(panels, [Number("largest <d>/(ε N_w) over the runs (bounded, O(1))", top)])


def draw_eps_panels(lab: Lab, size: Size) -> Drawn:
    record = lab.eps_sweep(size.collapse_eps, **_low(size))
    panels, _ = figures.eps.eps_views(record, compute.PANEL_EPS)
    return Drawn({"": panels}, [])


def draw_weights(lab: Lab, size: Size) -> Drawn:
    record = lab.run(**_low(size))
    w1, _w2, displacement, _norm = figures.weights.weights_views(record, compute.data_for(record.config))
    top = float(np.nanmax(record.ablation_w1)) if record.ablation_w1 is not None else math.nan
    return Drawn({"ablation": w1, "displacement": displacement}, [Number("largest L_w / L in W1", top)])


def draw_collapse(lab: Lab, size: Size) -> Drawn:
    record = lab.eps_sweep(size.collapse_eps, **_low(size))
    _, collapse = figures.eps.eps_views(record, compute.PANEL_EPS)
    start = float(np.mean(record.normalized_distance[:, 0]))
    return Drawn({"": collapse}, [Number("<d(0)>/(ε N_w), mean over ε", start, "0.5")])


def draw_long_run(lab: Lab, size: Size) -> Drawn:
    record = lab.run(**_low(size, n_steps=size.long_steps))
    top = float(np.nanmax(record.normalized_distance))
    return Drawn({"": figures.distance.distance_view(record, True)}, [Number("largest <d>/(ε N_w) (bounded)", top)])


def draw_orbital(lab: Lab, size: Size) -> Drawn:
    record = lab.orbital(size.t0, **_low(size))
    fig = figures.distance.orbital_view(record)
    ratio = float(record.normalized_distance[-1] / record.normalized_distance[0])
    return Drawn({"": fig}, [Number("d(T) / d(t0): neither decays nor grows", ratio, "≈ 1 (marginal)")])


def draw_weight_norm(lab: Lab, size: Size) -> Drawn:
    records = [lab.run(**_low(size, seed)) for seed in range(size.norm_seeds)]
    series = {f"seed {r.config.seed}": r.theta_norm for r in records}
    fig = series_figure(records[0].iterations, series, title="Weight norm ||θ(t)||₁: a slow drift", y_title="||θ||₁")
    drift = float(np.median([r.theta_norm[-1] / r.theta_norm[0] - 1 for r in records]))
    return Drawn({"": fig}, [Number("median relative change of ||θ||₁", drift)])


def draw_displacements(lab: Lab, size: Size) -> Drawn:
    record = lab.run(**_low(size))
    moved = record.displacement[record.weight_mask]
    fig = displacement_histogram(moved)
    return Drawn({"": fig}, [Number("median per-weight displacement", float(np.median(moved)))])


# ---- eta = 1, the edge of stability: Figs. 11-12 ------------------------------------------
def draw_edge(lab: Lab, size: Size) -> Drawn:
    records = [lab.run(**_low(size, seed, learning_rate=EDGE, n_perturbations=5)) for seed in range(size.seeds)]
    panels = {}
    for r in records:
        panels[f"seed{r.config.seed}-distance"] = figures.distance.distance_view(r, False)
        panels[f"seed{r.config.seed}-fit"] = figures.lyapunov.fit_view(r).update_xaxes(
            range=[0, FTLE_STEPS]
        )  # as the paper
    numbers = [
        Number(f"FTLE of seed {r.config.seed}, per iteration ({'kept' if r.ftle.kept else 'not kept'})", r.ftle.slope)
        for r in records
    ]
    return Drawn(panels, numbers)


def draw_ftle_stats(lab: Lab, size: Size) -> Drawn:
    settings = {"learning_rate": EDGE, "n_steps": FTLE_STEPS}
    record = lab.ftle(size.ftle_eps, size.ftle_inits, **settings)
    by_eps, histogram = figures.lyapunov.ftle_views(record, -8)
    j = int(np.argmin(np.abs(np.log10(record.eps) + 8)))
    numbers = [
        Number("λ at ε = 1e-8: mean", float(record.mean[j]), "0.285"),
        Number("λ at ε = 1e-8: standard deviation", float(record.std[j]), "0.10"),
        Number("share of networks kept at ε = 1e-8", float(record.n_kept[j] / record.total), "≈ 0.9"),
    ]
    return Drawn({"by-eps": by_eps, "histogram": histogram}, numbers)


# ---- eta = 5, chaotic-intermittent: Figs. 13-17, and Fig. 18 -------------------------------
def _chaotic_runs(lab: Lab, size: Size, n: int) -> list[RunRecord]:
    return [
        lab.run(seed=s, learning_rate=CHAOS, n_steps=size.chaos_steps, n_perturbations=1, save_every=size.chaos_steps)
        for s in range(n)
    ]


def draw_chaos_dots(lab: Lab, size: Size) -> Drawn:
    records = _chaotic_runs(lab, size, size.chaos_seeds)
    x = records[0].iterations
    loss = series_figure(x, {f"seed {r.config.seed}": r.loss[:, 0] for r in records}, title="η = 5: loss",
                         y_title="training loss", dots=True)  # fmt: skip
    norm = series_figure(x, {f"seed {r.config.seed}": r.theta_norm for r in records}, title="η = 5: weight norm",
                         y_title="||θ||₁")  # fmt: skip
    accuracy = float(np.median([r.train_accuracy for r in records]))
    return Drawn({"loss": loss, "norm": norm}, [Number("median final training accuracy", accuracy, "chance (1/3)")])


def draw_chaos_selected(lab: Lab, size: Size) -> Drawn:
    records = _chaotic_runs(lab, size, min(4, size.chaos_seeds))
    panels = {
        f"seed{r.config.seed}": figures.dynamics.loss_norm_figure(r.iterations, r.loss[:, 0], r.theta_norm, 0)
        for r in records
    }
    return Drawn(panels, [])


def _diagnostics(lab: Lab, size: Size) -> Diagnostics:
    """The diagnostics of the most irregular of Fig. 13's networks (the most distinct loss
    values after the transient): many networks at eta = 5 settle on a short cycle, whose
    diagnostics show a cycle, not chaos; the paper too shows selected runs."""
    transient = min(1000, size.chaos_steps // 5)
    records = _chaotic_runs(lab, size, size.chaos_seeds)
    seed = max(records, key=lambda r: distinct_values(r.loss[transient:, 0])).config.seed
    settings = {"seed": seed, "learning_rate": CHAOS, "n_steps": size.chaos_steps, "n_perturbations": 1,
                "save_every": 1}  # every iteration: a weight on a 3-cycle sampled every 100 would alias  # fmt: skip
    return lab.diagnostics(transient, size.shuffles, **settings)


def _seed_number(d: Diagnostics) -> Number:
    return Number("seed drawn (the most irregular loss of Fig. 13's networks)", d.config.seed)


def draw_autocorrelation(lab: Lab, size: Size) -> Drawn:
    d = _diagnostics(lab, size)
    acf = figures.dynamics.chaos_figures(d)["acf"]
    outside = Number("share of lags outside the shuffle band", d.fraction_outside_band)
    return Drawn({"": acf}, [_seed_number(d), outside])


def draw_expansion(lab: Lab, size: Size) -> Drawn:
    d = _diagnostics(lab, size)
    rates = figures.dynamics.chaos_figures(d)["rates"]
    numbers = [Number("share of significant expansion rates", d.expansion.fraction_significant)]
    return Drawn({"": rates}, numbers + [Number("median expansion rate, per step", d.expansion.median_rate)])


def draw_weight_series(lab: Lab, size: Size) -> Drawn:
    top = figures.dynamics.chaos_figures(_diagnostics(lab, size))["weights"]
    return Drawn({"": top}, [])


def draw_other_rates(lab: Lab, size: Size) -> Drawn:
    panels, numbers = {}, []
    for eta in (10.0, 3.0, 2.0):
        records = [lab.run(seed=s, learning_rate=eta, n_steps=size.other_steps, n_perturbations=1) for s in range(3)]
        series = {f"seed {r.config.seed}": r.loss[:, 0] for r in records}
        panels[f"eta{eta:g}"] = series_figure(records[0].iterations, series, title=f"η = {eta:g}: loss",
                                              y_title="training loss", dots=True)  # fmt: skip
        numbers.append(Number(f"η = {eta:g}: median final loss", float(np.median([r.loss[-1, 0] for r in records]))))
    return Drawn(panels, numbers)
