"""Data: the training data in two features, with the trained network's mistakes (Fig. 2).

Iris in the two features its dropdowns choose; wine and breast cancer (13 and 30 features) in
the two that separate their classes best (core.data.separating_pair); digits and MNIST as
test images, the mistakes first.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html, no_update

from core.data import IRIS_FEATURES, Dataset, separating_pair
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


# what a row of a named table is, in the captions (a user's file: "rows")
ROW_NOUN = {"iris": "flowers", "wine": "wines", "breast_cancer": "tumours"}
TABLE_INTRO = {
    "wine": "Wine: {n:,} wines of 3 cultivars, 13 chemical measurements",
    "breast_cancer": "Breast cancer: {n:,} tumours, malignant or benign, 30 measurements of their cell nuclei",
}
HIDDEN = {"display": "none"}


def intro(data: Dataset) -> tuple[str, dict]:
    """The view's explanation and the feature row's style, from the run's data set (the feature
    dropdowns are Iris's: hidden for the other data sets)."""
    n_train, n_test = len(data.y_train), len(data.y_test)
    n, sizes = n_train + n_test, f"{n_train:,} train the network, {n_test:,} test it"
    if data.name in figures.data.IMAGES:
        name, side = figures.data.IMAGES[data.name], figures.data.image_side(data)
        text = (
            f"{name}: {n:,} handwritten digits of {side}x{side} pixels ({data.n_features} inputs, "
            f"{data.n_classes} classes); {sizes}. Below, test images with the network's answers, its mistakes first."
        )
        return text, HIDDEN
    if data.name == "iris":
        return IRIS_INTRO, {}
    if data.name in TABLE_INTRO:
        text = (
            f"{TABLE_INTRO[data.name].format(n=n)}, each standardised by the training rows' mean and std "
            f"(their scales differ by orders of magnitude); {sizes}. Drawn in the two measurements that "
            f"separate the classes best; a cross marks each {ROW_NOUN[data.name][:-1]} the trained network gets wrong."
        )
        return text, HIDDEN
    return f"{data.name}: {data.n_features} features, {data.n_classes} classes; {sizes}.", {}


def data_view(record: RunRecord, data: Dataset, fx: Any, fy: Any) -> tuple[go.Figure, str]:
    """The run's ``data`` with the final reference network's mistakes (dashboard.figures.data),
    and its caption. ``fx``, ``fy``: the features on the axes, as the dropdowns send them ("0"
    to "3"); digits and MNIST are drawn as images instead, mistakes first; wine and breast
    cancer in their two most separating features (:func:`table_axes`).
    """
    if data.name in figures.data.IMAGES:
        return figures.data.digits_view(record, data), digits_caption(record, data)
    if data.name in TABLE_INTRO:
        fx, fy, note = table_axes(data)
    else:
        try:
            fx, fy = FEATURE_AXIS(fx), FEATURE_AXIS(fy)
        except ValueError as exc:
            message = f"The feature on an axis {exc}."
            return figures.base.empty_figure(message), message
        note = ""
    rows = ROW_NOUN.get(data.name, "rows")
    text = (
        f"Trained network: {record.train_accuracy:.1%} of the {len(data.y_train)} training {rows} and "
        f"{record.test_accuracy:.1%} of the {len(data.y_test)} test {rows} right.{note}"
    )
    return figures.data.data_view(record, data, fx, fy), text


def table_axes(data: Dataset) -> tuple[int, int, str]:
    """The two features of ``data`` that separate its classes best (Fisher's criterion on the
    training rows, core.data.separating_pair), and a sentence that says so."""
    fx, fy = separating_pair(data.x_train, data.y_train)
    names = data.feature_names
    note = (
        f" Axes: {names[fx]} and {names[fy]} (standardised), the pair of its {data.n_features} features in "
        "which the classes lie most apart (Fisher's criterion on the training rows)."
    )
    return fx, fy, note


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
