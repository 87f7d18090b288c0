"""The figure of each map kind of the Regimes view (core.experiments.map_kinds), and
``map_figure``, which draws any map record: the strip's panels, the orbit diagram, or a 2-D
map's heatmap, under a title naming the kind (dashboard.state.map_kinds) and what a zoom covers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from core.data import dataset_shape
from dashboard.figures.maps import map_heatmap, orbit_figure
from dashboard.figures.regimes import regime_strip_figure
from dashboard.state.map_kinds import MAP_VIEWS

if TYPE_CHECKING:
    from dashboard.jobs.records import MapRecord


def strip(record: MapRecord, title: str) -> go.Figure:
    return regime_strip_figure(
        record.etas, record.table, list(record.regimes), target_accuracy=record.target_accuracy, title=title
    )


def orbit(record: MapRecord, title: str) -> go.Figure:
    n_classes = dataset_shape(record.config.dataset)[2]
    return orbit_figure(record.etas, record.losses, n_classes=n_classes, title=title).update_layout(height=600)


def heatmap(record: MapRecord, title: str) -> go.Figure:
    fig = map_heatmap(
        record.kind, record.etas, record.ys, record.value, record.share, record.done,
        diverged=record.diverged, title=title, value_name=record.value_name, share_name=record.share_name,
        target_accuracy=record.target_accuracy,
    )  # fmt: skip
    return fig.update_layout(height=650)


# each map kind's figure (a test checks every kind has one)
FIGURES: dict[str, Callable[[MapRecord, str], go.Figure]] = {
    "eta": strip,
    "orbit": orbit,
    "eta-eps": heatmap,
    "eta-seed": heatmap,
    "eta-width": heatmap,
    "eta-depth": heatmap,
    "eta-l2": heatmap,
    "eta-momentum": heatmap,
    "eta-batch": heatmap,
}


def map_figure(record: MapRecord, *, live: bool = False, zoomed: bool = False) -> go.Figure:
    """The figure of a (partial) map record; a zoom's title says what its grid covers."""
    view = MAP_VIEWS[record.kind]
    head = f"{view.label} · {record.config.dataset}, {record.config.n_steps:,} iterations"
    if zoomed:
        head = f"{head} · zoomed into {view.zoom_text(record.etas, record.ys)}"
    note = view.note(record.config)  # e.g. heavy-ball momentum on a gd config
    head = f"{head} · {note}" if note else head
    return FIGURES[record.kind](record, f"{head}: computing…" if live else head)
