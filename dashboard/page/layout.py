"""The page: presets on top, controls on the left, one tab per view on the right
(dashboard.views)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dash import dcc, html

from dashboard import views
from dashboard.page import controls, ids, sync
from dashboard.state.query import DEFAULT_VIEW
from dashboard.state.rules import default_values

if TYPE_CHECKING:
    from dash import Dash

    from dashboard.jobs.runner import Jobs

INTRO = (
    "A small network learns to tell three Iris species apart by gradient descent: each step "
    "moves its 83 weights downhill on the loss. Copies of the network, nudged by a tiny ε "
    "before training, follow their own paths. Whether they stay close or fly apart tells "
    "whether training is stable or chaotic."
)


def build_layout() -> html.Div:
    return html.Div(
        className="page",
        children=[
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Store(id=ids.VALID, data=default_values()),
            dcc.Store(id=ids.WRITTEN_QUERY),
            dcc.Store(id=ids.AUTORUN),
            dcc.Store(id=ids.RELEASED),
            dcc.Store(id=ids.PENDING),
            dcc.Store(id=ids.RESULT),
            html.Header([html.H1("Training as a dynamical system"), html.P(INTRO, className="intro")]),
            controls.presets(),
            html.Div(id=ids.URL_MESSAGE, className="url-message", role="alert"),
            html.Div(id=ids.SERVER_NOTICE, className="server-notice", role="alert"),
            html.Div(
                className="main",
                children=[
                    controls.controls(),
                    dcc.Tabs(id=ids.TABS, value=DEFAULT_VIEW, className="views", children=views.tabs()),
                ],
            ),
        ],
    )


def register(app: Dash, store: Jobs) -> None:
    """Every callback of the page: the controls', each view's, the exports'."""
    from dashboard.page import exports

    sync.register(app, store, views.stoppable())
    controls.register(app)  # the momentum box is off where the optimizer does not use it
    views.register(app, store)
    exports.register(app, store, views.graphs())
