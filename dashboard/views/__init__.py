"""One module per view: its tab, its graphs, its callbacks (the figures it draws are
built in dashboard.figures, from each record and the view's settings).

Each view module defines ``VIEW`` (its id in the URL and its tab label), ``GRAPHS`` (its
graphs, which the image-format control configures), ``SIDE_JOBS`` (its own jobs beside the
main run, possibly none), ``layout()`` (the tab's content) and ``register(app, store)``.
The views and their order are ``dashboard.state.query.VIEWS``, the one list the URL, the
tabs and this registry read: adding a view is adding a module of that name and its id there.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from dash import Dash, dcc

from dashboard.jobs.flow import SideJob, register_side_job
from dashboard.jobs.runner import Jobs
from dashboard.state.query import VIEWS


@dataclass(frozen=True)
class View:
    id: str  # the tab's value and the URL's view=...
    label: str


def modules() -> tuple[ModuleType, ...]:
    """The view modules in the order of VIEWS (imported here: they import this module's View)."""
    found = tuple(importlib.import_module(f"dashboard.views.{view}") for view in VIEWS)
    for view, module in zip(VIEWS, found, strict=True):
        if module.VIEW.id != view:
            raise RuntimeError(f"dashboard.views.{view} declares the view id {module.VIEW.id!r}, not {view!r}")
    return found


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
