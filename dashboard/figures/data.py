"""The data set as the trained network sees it (the paper's Fig. 2; docs/method.md §1): two features, colour = class,
a cross on every row it misclassifies; digits and MNIST as a grid of test images.

A record in, a figure out (what the Data view and ``paper/`` draw): :func:`data_view`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.base import CLASS_COLORS, _base_layout
from dashboard.figures.dynamics import (
    MAX_DIGITS,
    digits_grid_figure,
)

if TYPE_CHECKING:  # the records are read by attribute: figures import no jobs
    from core.data import Dataset
    from dashboard.jobs.records import RunRecord

# the data sets drawn as images (square, side x side pixels: :func:`image_side`), by their
# names in a sentence
IMAGES = {"digits": "Digits", "mnist": "MNIST"}


def image_side(data: Dataset) -> int:
    """The pixels a side of ``data``'s images, whose features are their side x side pixels
    (digits: 64 = 8 x 8, MNIST: 784 = 28 x 28)."""
    return math.isqrt(data.n_features)


def data_figure(
    x: np.ndarray,
    y: np.ndarray,
    predicted: np.ndarray,
    is_train: np.ndarray,
    feature_names: list[str],
    class_names: list[str],
    fx: int,
    fy: int,
) -> go.Figure:
    """The paper's Fig. 2: two features, colour = class, a cross on every misclassified row."""
    fig = go.Figure()
    for c, name in enumerate(class_names):
        for train, symbol in ((True, "circle"), (False, "diamond")):
            rows = (y == c) & (is_train == train)
            fig.add_trace(
                go.Scatter(
                    x=x[rows, fx],
                    y=x[rows, fy],
                    mode="markers",
                    name=f"{name} ({'train' if train else 'test'})",
                    marker={
                        "color": CLASS_COLORS[c % len(CLASS_COLORS)],
                        "symbol": symbol,
                        "size": 8,
                        "line": {"width": 0.5, "color": "white"},
                    },
                    hovertemplate=f"{name}<br>%{{x}}, %{{y}}<extra></extra>",
                )
            )
    wrong = predicted != y
    fig.add_trace(
        go.Scatter(
            x=x[wrong, fx],
            y=x[wrong, fy],
            mode="markers",
            name=f"misclassified ({wrong.sum()})",
            marker={"symbol": "x-thin", "size": 14, "line": {"width": 2, "color": "black"}},
            hovertemplate="misclassified<extra></extra>",
        )
    )
    return _base_layout(
        fig,
        title="The data and the trained network's mistakes",
        uirevision="data",
        xaxis={"title": feature_names[fx]},
        yaxis={"title": feature_names[fy]},
    )


# ---- a record in ----------------------------------------------------------------------------
def data_view(record: RunRecord, data: Dataset, fx: int, fy: int) -> go.Figure:
    """The scatter of the run's ``data`` in features ``fx``, ``fy`` with the final reference
    network's mistakes. Digits and MNIST are drawn as images instead (:func:`digits_view`)."""
    if data.name in IMAGES:
        return digits_view(record, data)
    x = np.vstack([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    is_train = np.arange(len(y)) < len(data.y_train)
    return data_figure(x, y, record.predictions, is_train, list(data.feature_names), list(data.class_names), fx, fy)


def wrong_test_rows(record: RunRecord, data: Dataset) -> np.ndarray:
    """Indices of the test rows the trained reference network gets wrong."""
    return np.flatnonzero(record.predictions[len(data.y_train) :] != data.y_test)


def digits_view(record: RunRecord, data: Dataset) -> go.Figure:
    """A grid of test images (digits 8 x 8, MNIST 28 x 28) with the trained network's answers,
    its mistakes first."""
    predicted = record.predictions[len(data.y_train) :]
    order = np.concatenate([wrong_test_rows(record, data), np.flatnonzero(predicted == data.y_test)])[:MAX_DIGITS]
    return digits_grid_figure(data.x_test[order], data.y_test[order], predicted[order], side=image_side(data))
