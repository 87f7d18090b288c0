"""This project's comparison of the update rules (docs/method.md §11): the FTLE against eta for
gd, momentum, Nesterov and Adam at matched settings (the same networks, copies, radius,
iterations and learning rates; beta = 0.9, Adam's beta2 = 0.999 and eps = 1e-8).

The FTLE is the quantity compared because it is measured the same way for every rule (copies
trained beside the reference), where the tangent spectrum has no Adam counterpart here; beside
it, the share of networks whose fit is kept says where instability sets in, and the final loss
what it costs the training."""

from __future__ import annotations

import numpy as np

from core.experiments.regimes import geometric_grid
from dashboard.jobs.plans import MAP_COPIES
from dashboard.jobs.records import MapRecord
from paper.drawings import optimizers_figure, short_eps
from paper.lab import Lab
from paper.regimes import ONSET_SHARE
from paper.sizes import Size
from paper.story import Drawn, Number

OPTIMIZERS = ("gd", "momentum", "nesterov", "adam")
OPTIMIZER_ETAS = (1e-3, 10.0)


def sweeps(lab: Lab, size: Size) -> dict[str, MapRecord]:
    """The regime sweep over eta of each optimizer, on the same networks and settings."""
    etas = geometric_grid(*OPTIMIZER_ETAS, size.optimizer_etas)
    settings = {"n_steps": size.optimizer_steps, "n_perturbations": MAP_COPIES}
    return {
        name: lab.regime_map("eta", etas, np.zeros(0), size.optimizer_inits, optimizer=name, **settings)
        for name in OPTIMIZERS
    }


def _numbers(name: str, record: MapRecord) -> list[Number]:
    kept, loss = record.table["ftle_kept_fraction"], record.table["final_loss"]
    unstable = record.etas[kept > ONSET_SHARE]
    best = record.etas[int(np.nanargmin(loss))] if np.isfinite(loss).any() else float("nan")
    return [
        Number(f"{name}: smallest η where most networks keep a positive FTLE", float(unstable[0]) if unstable.size
               else float("nan")),
        Number(f"{name}: η of the lowest median final loss", float(best)),
    ]  # fmt: skip


def draw_optimizers(lab: Lab, size: Size) -> Drawn:
    records = sweeps(lab, size)
    first = next(iter(records.values()))
    rows = {
        name: {"ftle": r.table["ftle_mean"], "low": r.table["ftle_ci_low"], "high": r.table["ftle_ci_high"],
               "kept": r.table["ftle_kept_fraction"], "loss": r.table["final_loss"]}
        for name, r in records.items()
    }  # fmt: skip
    c = first.config
    title = (f"Update rules side by side: {size.optimizer_inits} networks per η, {MAP_COPIES} copies at "
             f"ε = {short_eps(c.eps)}, {c.n_steps:,} iterations, β = {c.momentum:g} (also Adam's β₁)")  # fmt: skip
    fig = optimizers_figure(first.etas, rows, title=title)
    return Drawn({"": fig}, [n for name, r in records.items() for n in _numbers(name, r)])
