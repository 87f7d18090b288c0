"""Data: the training data in two chosen features, with the trained network's mistakes (Fig. 2)."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html, no_update

from core.data import IRIS_FEATURES, Dataset
from dashboard import figures
from dashboard.jobs import compute
from dashboard.jobs.flow import keyed_record, with_record_key
from dashboard.jobs.records import RunRecord
from dashboard.jobs.runner import Jobs
from dashboard.page import ids
from dashboard.page.components import graph
from dashboard.state.rules import FEATURE_AXIS
from dashboard.views import View

VIEW = View("data", "Data")
GRAPHS = (ids.DATA_GRAPH,)
SIDE_JOBS = ()


def _feature_dropdown(id_: str, value: int) -> dcc.Dropdown:
    options = [{"label": name, "value": str(i)} for i, name in enumerate(IRIS_FEATURES)]
    return dcc.Dropdown(id=id_, options=options, value=str(value), clearable=False, style={"width": "14rem"})


IRIS_INTRO = (
    "Iris: 150 flowers, 4 measurements, 3 species; 120 train the network, 30 test it. A cross "
    "marks each flower the trained network gets wrong."
)


def layout() -> list:
    return [
        html.P(IRIS_INTRO, id=ids.DATA_INTRO, className="explain"),
        html.Div(
            id=ids.DATA_AXES,
            className="row-controls",
            children=[
                html.Label(["x: ", _feature_dropdown(ids.DATA_X, 2)]),
                html.Label(["y: ", _feature_dropdown(ids.DATA_Y, 3)]),
            ],
        ),
        graph(ids.DATA_GRAPH, 480),
        html.Div(id=ids.DATA_SUMMARY, className="summary"),
    ]


def intro(data: Dataset) -> tuple[str, dict]:
    """The view's explanation and the feature row's style, from the run's data set (the feature
    dropdowns are Iris's: hidden for images)."""
    n_train, n_test = len(data.y_train), len(data.y_test)
    sizes = f"{n_train:,} train the network, {n_test:,} test it"
    if data.name == "digits":
        side = math.isqrt(data.n_features)
        text = (
            f"Digits: {n_train + n_test:,} handwritten digits of {side}x{side} pixels ({data.n_features} inputs, "
            f"{data.n_classes} classes); {sizes}. Below, test images with the network's answers, its mistakes first."
        )
        return text, {"display": "none"}
    if data.name == "iris":
        return IRIS_INTRO, {}
    return f"{data.name}: {data.n_features} features, {data.n_classes} classes; {sizes}.", {}


def data_view(record: RunRecord, data: Dataset, fx: Any, fy: Any) -> tuple[go.Figure, str]:
    """The run's ``data`` with the final reference network's mistakes (dashboard.figures.data),
    and its caption. ``fx``, ``fy``: the features on the axes, as the dropdowns send them ("0"
    to "3"); digits are drawn as images instead, mistakes first.
    """
    if data.name == "digits":
        return figures.data.digits_view(record, data), digits_caption(record, data)
    try:
        fx, fy = FEATURE_AXIS(fx), FEATURE_AXIS(fy)
    except ValueError as exc:
        message = f"The feature on an axis {exc}."
        return figures.base.empty_figure(message), message
    text = (
        f"Trained network: {record.train_accuracy:.1%} of the {len(data.y_train)} training flowers and "
        f"{record.test_accuracy:.1%} of the {len(data.y_test)} test flowers right."
    )
    return figures.data.data_view(record, data, fx, fy), text


def digits_caption(record: RunRecord, data: Dataset) -> str:
    """The accuracies on digits, and how many test images are wrong (drawn first)."""
    wrong = figures.data.wrong_test_rows(record, data)
    return (
        f"Trained network: {record.train_accuracy:.1%} of the {len(data.y_train)} training images and "
        f"{record.test_accuracy:.1%} of the {len(data.y_test)} test images right; "
        f"{wrong.size} test images wrong, shown first (framed in red)."
    )


def register(app: Dash, store: Jobs) -> None:
    @app.callback(
        Output(ids.DATA_GRAPH, "figure"),
        Output(ids.DATA_SUMMARY, "children"),
        Output(ids.DATA_INTRO, "children"),
        Output(ids.DATA_AXES, "style"),
        Input(ids.RESULT, "data"),
        Input(ids.DATA_X, "value"),
        Input(ids.DATA_Y, "value"),
        prevent_initial_call=True,
    )
    def draw(request: Any, fx: Any, fy: Any) -> tuple[Any, ...]:
        if request is None:  # the last run was stopped before it finished
            stopped = "The last run was stopped before it finished: press Run."
            return figures.base.empty_figure(stopped), "", no_update, no_update
        record, key = keyed_record(store, "run", request)
        assert isinstance(record, RunRecord)  # the record of a plan of kind "run"
        data = compute.data_for(record.config)
        figure, caption = data_view(record, data, fx, fy)
        return with_record_key(figure, key), caption, *intro(data)
