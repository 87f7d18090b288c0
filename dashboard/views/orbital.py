"""Orbital stability: copies made late, at iteration t0, on the learned orbit (docs/method.md §4, Fig. 8)."""

from __future__ import annotations

from typing import Any

from dash import Dash, Output, html
from dash.development.base_component import Component

from dashboard import figures
from dashboard.jobs.flow import SideJob
from dashboard.jobs.records import OrbitalRecord
from dashboard.jobs.runner import Jobs
from dashboard.page import ids
from dashboard.page.components import explain, graph, job_bar, text_input
from dashboard.views import View

VIEW = View("orbital", "Orbital stability")
T0_HELP = "the iteration at which the copies are made; empty: 4/5 of the iterations (4000 of 5000)"
GRAPHS = (ids.ORBITAL_GRAPH,)


def draw(record: OrbitalRecord, _request: dict[str, Any]) -> tuple[Any, ...]:
    return (figures.distance.orbital_view(record),)


SIDE_JOBS = (
    SideJob(
        "orbital",
        ids.ORBITAL_RUN,
        ids.ORBITAL_CANCEL,
        ids.ORBITAL_PROGRESS,
        ids.ORBITAL_MESSAGE,
        ids.ORBITAL_PENDING,
        (Output(ids.ORBITAL_GRAPH, "figure"),),
        draw,
        "iteration",
        (("t0", ids.ORBITAL_T0),),
        autorun_view="orbital",
    ),
)


def layout() -> list[Component]:
    return [
        explain(
            "Instead of nudging the network before training, nudge it late, at iteration t0, when it "
            "has nearly learned, and train on. If the distance neither grows nor shrinks, the network "
            "sits in a flat valley of the loss: directions along which it can drift freely."
        ),
        job_bar(
            ids.ORBITAL_RUN,
            ids.ORBITAL_CANCEL,
            ids.ORBITAL_PROGRESS,
            ids.ORBITAL_MESSAGE,
            ids.ORBITAL_PENDING,
            "Run orbital",
            extra=[
                html.Label(
                    ["perturb at t0 = ", text_input(ids.ORBITAL_T0, "", placeholder="⅘ of the iterations")],
                    title=T0_HELP,
                )
            ],
        ),
        graph(ids.ORBITAL_GRAPH, 440, "Press Run orbital."),
    ]


def register(app: Dash, store: Jobs) -> None:
    """Its only job is the side job (registered with the others)."""
