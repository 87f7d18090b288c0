"""The data set as the trained network sees it (the paper's Fig. 2; docs/method.md §1): two features, colour = class,
a cross on every row it misclassifies.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.base import CLASS_COLORS, _base_layout


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
