"""Chaos: a long run at a large learning rate, diagnosed (docs/method.md §7; the paper's Figs. 13-17): what
the loss settles on (a fixed point, a cycle, or neither), the loss and the weight norm, the loss's
autocorrelation against a shuffle-null band, the histogram of local expansion rates, and the
weights that move most. The summary states only what the run's own numbers show."""

from __future__ import annotations

from typing import Any

import numpy as np
from dash import Dash, Output, html
from dash.development.base_component import Component

from core.analysis.attractor import DIVERGED, FIXED_POINT, PERIODIC, RTOL, TAIL_FRACTION
from core.experiments.diagnostics import Diagnostics
from dashboard import figures
from dashboard.jobs.flow import SideJob
from dashboard.jobs.records import SpectrumRecord
from dashboard.jobs.runner import Jobs
from dashboard.page import ids
from dashboard.page.components import explain, graph, job_bar, text_input
from dashboard.views import View

VIEW = View("chaos", "Chaos")
LONG_RUN_GRAPHS = (ids.CHAOS_LOSS_GRAPH, ids.CHAOS_ACF_GRAPH, ids.CHAOS_RATES_GRAPH, ids.CHAOS_WEIGHTS_GRAPH)
GRAPHS = (*LONG_RUN_GRAPHS, ids.SPECTRUM_GRAPH)
TOLERANCE_TEXT = f"one part in {1 / RTOL:,.0f}"  # the classifier's relative tolerance, in words


def attractor_sentence(d: Diagnostics) -> str:
    """What this run's loss settles on (core.analysis.attractor), with its period and since."""
    a, n_steps = d.attractor, d.loss.size - 1
    if a.kind == DIVERGED:
        return f"The loss became non-finite at iteration {a.since:,}: this run diverged."
    if a.kind == FIXED_POINT:
        return (
            f"This run settles on a fixed point from iteration {a.since:,} to its end ({n_steps:,}): "
            f"its loss stays at {d.loss[-1]:.4g}. Not chaos."
        )
    if a.kind == PERIODIC:
        return (
            f"This run settles on a cycle of period {a.period} from iteration {a.since:,} to its end "
            f"({n_steps:,}): its loss repeats every {a.period} iterations to {TOLERANCE_TEXT}. "
            "A periodic orbit, not chaos."
        )
    if d.loss_increase_fraction == 0:  # a loss that falls at every step converges
        return f"This run's loss falls at every step but has not settled by iteration {n_steps:,}: still converging."
    return (
        f"This run's loss does not settle: no fixed point and no cycle of period up to {a.max_period:,} "
        f"repeats over its last {a.window:,} iterations, so it stays aperiodic to its end ({n_steps:,})."
    )


def evidence_sentence(d: Diagnostics) -> str:
    """The run's numbers: loss increases, accuracy against chance, ACF against the band, rates."""
    rates, out = d.expansion, d.fraction_outside_band
    acf = (
        f"its ACF lies outside the shuffle band at {out:.0%} of lags"
        if np.isfinite(out)
        else "it is too short or too flat for an ACF"
    )
    found = f"{rates.rates.size:,} of {rates.t0.size:,} reference times found neighbours"
    rate_text = (
        f"{found}, and {rates.fraction_significant:.0%} of their expansion rates are significant "
        f"(median {rates.median_rate:.3g} per iteration)"
        if rates.rates.size
        else f"none of {rates.t0.size:,} reference times found a neighbour"
    )
    return (
        f"The loss rises on {d.loss_increase_fraction:.0%} of the steps; final training accuracy "
        f"{d.accuracy[-1]:.0%} (always answering the most common class: {d.chance:.0%}). "
        f"After iteration {d.transient:,}, {acf}; {rate_text}."
    )


def summary_text(d: Diagnostics) -> str:
    """The summary of a run, every fact from its record; the last sentence is how to read them."""
    if d.attractor.kind == DIVERGED:  # no ACF or rates to report
        return attractor_sentence(d)
    return (
        f"{attractor_sentence(d)} {evidence_sentence(d)} A cycle's ACF never decays into the band and "
        "its rates are near 0; chaos needs a loss that never settles and nearby values that separate "
        "exponentially."
    )


def spectrum_text(r: SpectrumRecord) -> str:
    """The spectrum's numbers (docs/method.md §10), each the record's, and how to read them."""
    c = r.config
    if r.n_steps == 0:
        return f"No spectrum: the reference network at η = {c.learning_rate:g} was not finite at its first step."
    over = f"over {r.n_steps:,} iterations"
    if r.diverged_at is not None:
        over += f" (the network stopped being finite at iteration {r.diverged_at:,})"
    elif r.cancelled:
        over += f" (stopped before {c.n_steps:,})"
    of = f"all {r.dim}" if r.k == r.dim else f"the first {r.k} of {r.dim} (a lower bound where all are positive)"
    sign = "grows" if r.total > 0 else "shrinks"
    return (
        f"The reference network at η = {c.learning_rate:g} (seed {c.seed}), {over}: {of} exponents, "
        f"from λ₁ = {r.exponents[0]:.4g} to λ{r.k} = {r.exponents[-1]:.4g} per iteration. "
        f"{r.n_positive} of {r.k} are positive; the sum of all {r.k} is {r.total:.4g} (a {r.k}-dimensional "
        f"volume {sign} on average at that rate); Kaplan-Yorke dimension {r.kaplan_yorke:.4g}. "
        "A positive λ₁ means nearby networks separate exponentially (chaos needs it, over a long run); "
        "a negative sum means the training contracts volumes in weight space."
    )


def draw(record: Diagnostics, _request: dict[str, Any]) -> tuple[Any, ...]:
    figs = figures.dynamics.chaos_figures(record)
    return figs["loss_norm"], figs["acf"], figs["rates"], figs["weights"], summary_text(record)


SIDE_JOBS = (
    SideJob(
        "chaos",
        ids.CHAOS_RUN,
        ids.CHAOS_CANCEL,
        ids.CHAOS_PROGRESS,
        ids.CHAOS_MESSAGE,
        ids.CHAOS_PENDING,
        (*(Output(g, "figure") for g in LONG_RUN_GRAPHS), Output(ids.CHAOS_SUMMARY, "children")),
        draw,
        "iteration",
        (("eta", ids.CHAOS_ETA), ("steps", ids.CHAOS_STEPS)),
        autorun_view="chaos",
    ),
    SideJob(
        "spectrum",
        ids.SPECTRUM_RUN,
        ids.SPECTRUM_CANCEL,
        ids.SPECTRUM_PROGRESS,
        ids.SPECTRUM_MESSAGE,
        ids.SPECTRUM_PENDING,
        (Output(ids.SPECTRUM_GRAPH, "figure"), Output(ids.SPECTRUM_SUMMARY, "children")),
        lambda record, _request: (figures.spectrum.spectrum_view(record), spectrum_text(record)),
        "tangent step",
        (("eta", ids.CHAOS_ETA), ("steps", ids.CHAOS_STEPS)),
    ),
)


def layout() -> list[Component]:
    return [
        explain(
            "A long run at a large learning rate: does its loss settle on a fixed point or a cycle, "
            "or does it never repeat? The summary says which, for this run: a period counts when the "
            f"loss repeats to {TOLERANCE_TEXT} over the run's last {TAIL_FRACTION:.0%}. The "
            "autocorrelation of the loss is compared with shuffled copies of it, and nearby loss "
            "values are followed forward to see whether they separate exponentially. The network, "
            "data set and seed are the controls on the left; which of these a run shows depends on "
            "the seed."
        ),
        job_bar(
            ids.CHAOS_RUN,
            ids.CHAOS_CANCEL,
            ids.CHAOS_PROGRESS,
            ids.CHAOS_MESSAGE,
            ids.CHAOS_PENDING,
            "Run long training",
            extra=[
                html.Label(["η = ", text_input(ids.CHAOS_ETA, 5.0, None, style={"width": "5rem"})]),
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
        html.H3("Lyapunov spectrum"),
        explain(
            "The Lyapunov spectrum: the exponents of the tangent dynamics of the long run's reference "
            "network (the η and iterations above, trained alone): how fast each independent direction "
            "of an infinitesimal nudge grows (positive) or shrinks (negative) per iteration, largest "
            "first, and on the right how the leading estimates settle as the run goes on. The number of "
            "positive exponents, their sum and the Kaplan-Yorke dimension are below the figure. Each "
            "step multiplies by the Jacobian of one training step (I − ηH for gradient descent, H the "
            "Hessian), so this costs far more than the long run itself."
        ),
        job_bar(
            ids.SPECTRUM_RUN,
            ids.SPECTRUM_CANCEL,
            ids.SPECTRUM_PROGRESS,
            ids.SPECTRUM_MESSAGE,
            ids.SPECTRUM_PENDING,
            "Compute spectrum",
        ),
        graph(ids.SPECTRUM_GRAPH, 420, "Press Compute spectrum."),
        html.Div(id=ids.SPECTRUM_SUMMARY, className="summary"),
    ]


def register(app: Dash, store: Jobs) -> None:
    """Its only job is the side job (registered with the others)."""
