"""Thin callbacks: parse the controls into a RunConfig, call the core, call a builder."""

from __future__ import annotations

import dataclasses

import numpy as np
from dash import Dash, Input, Output, State, no_update

from core.config import RunConfig
from core.experiments import run_stability
from dashboard import figures, ids

MAX_TRAJECTORY_STEPS = 2_000_000  # ~1 minute at the measured engine speed


def config_from_controls(eta, eps, seed, steps, perturbations) -> RunConfig:
    """Controls -> RunConfig; raises ValueError naming the first bad value."""
    values = {"learning_rate": eta, "eps": eps, "seed": seed, "n_steps": steps, "n_perturbations": perturbations}
    for name, value in values.items():
        if value is None:
            raise ValueError(f"{name} is empty or not a number")
    config = dataclasses.replace(RunConfig(), **values)
    cost = (1 + config.n_perturbations) * config.n_steps
    if cost > MAX_TRAJECTORY_STEPS:
        raise ValueError(f"this run is {cost:,} trajectory-steps; the limit is {MAX_TRAJECTORY_STEPS:,}")
    return config


def run_and_draw(config: RunConfig):
    """-> (distance figure, summary text) of one stability run."""
    result = run_stability(config)
    traj = result.trajectory
    fig = figures.distance_figure(
        np.arange(traj.n_steps + 1),
        result.distance,
        result.mean_distance,
        traj.loss[:, 0],
        title=f"eta = {config.learning_rate:g}, eps = {config.eps:g}, seed {config.seed}",
    )
    fit = result.ftle
    summary = (
        f"final loss {traj.loss[-1, 0]:.4g}, train accuracy {traj.accuracy[-1, 0]:.3f}; "
        f"FTLE {float(fit.slope):.3g} per iteration (R² {float(fit.r2):.3f}, "
        f"{'kept' if fit.kept else 'not kept'})"
    )
    if traj.diverged.any():
        summary += f"; diverged rows: {np.flatnonzero(traj.diverged).tolist()}"
    return fig, summary


def register(app: Dash) -> None:
    @app.callback(
        Output(ids.DISTANCE_GRAPH, "figure"),
        Output(ids.SUMMARY, "children"),
        Output(ids.MESSAGE, "children"),
        Input(ids.RUN, "n_clicks"),
        State(ids.ETA, "value"),
        State(ids.EPS, "value"),
        State(ids.SEED, "value"),
        State(ids.STEPS, "value"),
        State(ids.PERTURBATIONS, "value"),
    )
    def on_run(_, eta, eps, seed, steps, perturbations):
        try:
            config = config_from_controls(eta, eps, seed, steps, perturbations)
        except ValueError as exc:
            return no_update, no_update, str(exc)
        fig, summary = run_and_draw(config)
        return fig, summary, ""
