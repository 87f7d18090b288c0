"""Chaos: a long run at a large learning rate, diagnosed (docs/method.md §7; the paper's Figs. 13-17): the loss
and the weight norm, the loss's autocorrelation against a shuffle-null band, the histogram of
local expansion rates, and the weights that move most."""

from __future__ import annotations

from dash import Dash, Output, html

from core.diagnostics import Diagnostics
from dashboard import figures_dynamics, ids
from dashboard.components import explain, graph, job_bar, text_input
from dashboard.jobflow import SideJob
from dashboard.runner import Jobs
from dashboard.views import View

VIEW = View("chaos", "Chaos")
GRAPHS = (ids.CHAOS_LOSS_GRAPH, ids.CHAOS_ACF_GRAPH, ids.CHAOS_RATES_GRAPH, ids.CHAOS_WEIGHTS_GRAPH)


def summary_text(d: Diagnostics) -> str:
    rates = d.expansion
    return (
        f"The loss rises on {d.loss_increase_fraction:.0%} of the steps; final training accuracy "
        f"{d.accuracy[-1]:.0%}. {rates.rates.size} of {rates.t0.size} reference times found neighbours; "
        f"{rates.fraction_significant:.0%} of their expansion rates are significant (median "
        f"{rates.median_rate:.3g} per step). A periodic orbit leaves the shuffle band at every lag and has "
        "rates near 0; chaos decorrelates quickly and has positive rates."
    )


def draw(record: Diagnostics, _request: dict) -> tuple:
    figs = figures_dynamics.chaos_figures(record)
    return figs["loss_norm"], figs["acf"], figs["rates"], figs["weights"], summary_text(record)


SIDE_JOBS = (
    SideJob(
        "chaos",
        ids.CHAOS_RUN,
        ids.CHAOS_CANCEL,
        ids.CHAOS_PROGRESS,
        ids.CHAOS_MESSAGE,
        ids.CHAOS_PENDING,
        (*(Output(g, "figure") for g in GRAPHS), Output(ids.CHAOS_SUMMARY, "children")),
        draw,
        "iteration",
        (("eta", ids.CHAOS_ETA), ("steps", ids.CHAOS_STEPS)),
        autorun_view="chaos",
    ),
)


def layout() -> list:
    return [
        explain(
            "At a large learning rate the network never settles: its loss jumps between plateaus "
            "(such as ln 3, every class alike) and irregular bursts. Is that chaos or a long cycle? "
            "The autocorrelation of the loss is compared with shuffled copies of it, and nearby "
            "loss values are followed forward to see whether they separate exponentially. The "
            "network, data set and seed are the controls on the left."
        ),
        job_bar(
            ids.CHAOS_RUN,
            ids.CHAOS_CANCEL,
            ids.CHAOS_PROGRESS,
            ids.CHAOS_MESSAGE,
            ids.CHAOS_PENDING,
            "Run long training",
            extra=[
                html.Label(["η = ", text_input(ids.CHAOS_ETA, 5.0, "decimal", style={"width": "5rem"})]),
                html.Label([" iterations ", text_input(ids.CHAOS_STEPS, 10_000, style={"width": "6rem"})]),
            ],
        ),
        html.Div(id=ids.CHAOS_SUMMARY, className="summary"),
        graph(ids.CHAOS_LOSS_GRAPH, 480, "Press Run long training."),
        html.Div(
            className="row",
            children=[
                graph(ids.CHAOS_ACF_GRAPH, 380, "Press Run long training."),
                graph(ids.CHAOS_RATES_GRAPH, 380, "Press Run long training."),
            ],
        ),
        graph(ids.CHAOS_WEIGHTS_GRAPH, 400, "Press Run long training."),
    ]


def register(app: Dash, store: Jobs) -> None:
    """Its only job is the side job (registered with the others)."""
