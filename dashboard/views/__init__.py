"""One module per view: its tab, its graphs, its callbacks and its record-to-figure code.

Each view module defines ``VIEW`` (its id in the URL and its tab label), ``GRAPHS`` (its
graphs, which the image-format control configures), ``SIDE_JOBS`` (its own jobs beside the
main run, possibly none), ``layout()`` (the tab's content) and ``register(app, store)``.
Adding a view is adding a module and one line in ``VIEWS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dash import Dash, dcc

from dashboard.jobflow import SideJob, register_side_job
from dashboard.runner import Jobs


@dataclass(frozen=True)
class View:
    id: str  # the tab's value and the URL's view=...
    label: str


def modules() -> tuple:
    """The views, in the order of their tabs (imported here: they import this module's View)."""
    from dashboard.views import chaos, data, divergence, lyapunov, orbital, regimes, weights

    return (divergence, lyapunov, orbital, weights, data, regimes, chaos)


def tabs() -> list[dcc.Tab]:
    return [dcc.Tab(label=m.VIEW.label, value=m.VIEW.id, children=m.layout()) for m in modules()]


def side_jobs() -> tuple[SideJob, ...]:
    return tuple(job for m in modules() for job in m.SIDE_JOBS)


def stoppable() -> tuple[tuple[str, str, str], ...]:
    """(run, cancel, pending) of every job beside the main run: Cancel and a change of settings stop them."""
    jobs = tuple((job.run, job.cancel, job.pending) for job in side_jobs())
    return jobs + tuple(triple for m in modules() for triple in getattr(m, "STOPPABLE", ()))


def graphs() -> tuple[str, ...]:
    return tuple(graph for m in modules() for graph in m.GRAPHS)


def register(app: Dash, store: Jobs) -> None:
    for module in modules():
        module.register(app, store)
    for job in side_jobs():
        register_side_job(app, store, job)
