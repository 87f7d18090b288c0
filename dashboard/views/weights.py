"""Weights: which weights matter (ablation), how far they travel, and the weight norm
(docs/method.md §5; the paper's Figs. 5 and 9). A network of several hidden layers has one
ablation map per weight matrix: W1 and W2 where the paper's two are, the others below them."""

from __future__ import annotations

from typing import Any

import numpy as np
from dash import Dash, Input, Output, html
from dash.development.base_component import Component

from dashboard import figures
from dashboard.jobs import compute
from dashboard.jobs.flow import keyed_record, with_record_key
from dashboard.jobs.records import RunRecord
from dashboard.jobs.runner import Jobs
from dashboard.page import ids
from dashboard.page.components import explain, graph
from dashboard.views import View

VIEW = View("weights", "Weights")
MAPS = (ids.ABLATION_W1_GRAPH, ids.ABLATION_W2_GRAPH, *ids.ABLATION_DEEPER_GRAPHS)  # W1 .. W_{MAX_DEPTH + 1}
GRAPHS = (ids.ABLATION_W1_GRAPH, ids.ABLATION_W2_GRAPH, ids.DISPLACEMENT_GRAPH, ids.NORM_GRAPH,
          *ids.ABLATION_DEEPER_GRAPHS)  # fmt: skip
SIDE_JOBS = ()


def layout() -> list[Component]:
    return [
        explain(
            "Which weights matter? Each cell sets one weight of the trained network to zero and "
            "shows the new loss divided by the old: 1 (white) means the weight barely matters, red "
            "means removing it hurts, blue that the network does better without it."
        ),
        # the colour bar and its two-line title sit under each map: taller than a plain graph
        html.Div(className="row", children=[graph(ids.ABLATION_W1_GRAPH, 440), graph(ids.ABLATION_W2_GRAPH, 440)]),
        html.Div(
            id=ids.ABLATION_DEEPER,
            hidden=True,  # shown for a network of several hidden layers
            children=[
                explain(
                    "With several hidden layers, each weight matrix has its map, input side first: W1 "
                    "feeds the first layer (h1.0, h1.1, ...), W2 the second from the first, and the "
                    "last the classes."
                ),
                html.Div(
                    className="row",
                    children=[
                        html.Div(id=slot, hidden=True, children=graph(map_id, 440))
                        for slot, map_id in zip(ids.ABLATION_DEEPER_SLOTS, ids.ABLATION_DEEPER_GRAPHS, strict=True)
                    ],
                ),
            ],
        ),
        explain(
            "How far each weight travels (its path length, the sum of its steps) against how far it "
            "ends from where it started: a weight that wanders back and forth travels much more than "
            "it moves."
        ),
        html.Div(className="row", children=[graph(ids.DISPLACEMENT_GRAPH, 400), graph(ids.NORM_GRAPH, 400)]),
        html.Div(id=ids.WEIGHTS_SUMMARY, className="summary"),
    ]


def movement_text(record: RunRecord) -> str:
    """What the weights of this run did, in numbers (the sentence follows the data)."""
    mask = record.weight_mask
    moved = np.abs(record.theta_final - record.theta_start)[mask]
    with np.errstate(all="ignore"):
        wander = record.path_length[mask] / moved
    wander = wander[np.isfinite(wander)]
    if wander.size == 0:
        return "The weights are not finite (the run diverged): nothing to compare."
    small = float(np.mean(record.displacement[mask] < 0.1))
    return (
        f"{small:.0%} of the weights end within 10% of where they started; the median weight travels "
        f"{np.median(wander):.3g} times its net displacement (1 means a straight path), the most "
        f"wandering {wander.max():.3g} times."
    )


def drawn(record: RunRecord) -> dict[str, Any]:
    """The view of a run: a figure for every graph (a map the network lacks gets a blank one),
    which of the deeper maps show, and the summary."""
    data = compute.data_for(record.config)
    maps = figures.weights.ablation_views(record, data)
    blank = figures.base.empty_figure("")
    displacement, norm = figures.weights.movement_views(record, data)
    by_graph = dict(zip(MAPS, maps + [blank] * (len(MAPS) - len(maps)), strict=True))
    by_graph |= {ids.DISPLACEMENT_GRAPH: displacement, ids.NORM_GRAPH: norm}
    return {
        "figures": [by_graph[g] for g in GRAPHS],
        "deeper_hidden": len(maps) <= 2,
        "slots_hidden": [n >= len(maps) for n in range(2, len(MAPS))],
        "summary": movement_text(record),
    }


def register(app: Dash, store: Jobs) -> None:
    @app.callback(
        output={
            "figures": [Output(g, "figure") for g in GRAPHS],
            "deeper_hidden": Output(ids.ABLATION_DEEPER, "hidden"),
            "slots_hidden": [Output(slot, "hidden") for slot in ids.ABLATION_DEEPER_SLOTS],
            "summary": Output(ids.WEIGHTS_SUMMARY, "children"),
        },
        inputs={"request": Input(ids.RESULT, "data")},
        prevent_initial_call=True,
    )
    def draw(request: Any) -> dict[str, Any]:
        if request is None:  # the last run was stopped before it finished
            blank = figures.base.empty_figure("The last run was stopped before it finished: press Run.")
            slots = [True] * len(ids.ABLATION_DEEPER_SLOTS)
            return {"figures": [blank] * len(GRAPHS), "deeper_hidden": True, "slots_hidden": slots, "summary": ""}
        record, key = keyed_record(store, "run", request)
        assert isinstance(record, RunRecord)  # the record of a plan of kind "run"
        view = drawn(record)
        return {**view, "figures": [with_record_key(figure, key) for figure in view["figures"]]}
