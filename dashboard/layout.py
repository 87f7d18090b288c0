"""The page. Every control has an id from :mod:`dashboard.ids`."""

from __future__ import annotations

from dash import dcc, html

from core.config import RunConfig
from dashboard import ids

DEFAULT = RunConfig()


def _number(label: str, id_: str, value: float, **kwargs) -> html.Label:
    return html.Label([label, dcc.Input(id=id_, type="number", value=value, debounce=True, **kwargs)])


def build_layout() -> html.Div:
    return html.Div(
        className="page",
        children=[
            html.H1("Training as a dynamical system"),
            html.P(
                "A 4-10-3 network learns Iris by full-batch gradient descent. Copies of it, nudged by a "
                "tiny eps at the start, train alongside; the grey lines show how far each copy drifts "
                "from the original, the black line their mean, the dashed red line the loss."
            ),
            html.Div(
                className="controls",
                children=[
                    _number("learning rate eta", ids.ETA, DEFAULT.learning_rate, min=1e-3, max=20, step="any"),
                    _number("perturbation eps", ids.EPS, DEFAULT.eps, min=1e-15, max=1e-1, step="any"),
                    _number("seed", ids.SEED, DEFAULT.seed, min=0, step=1),
                    _number("iterations", ids.STEPS, DEFAULT.n_steps, min=1, max=50_000, step=1),
                    _number("copies", ids.PERTURBATIONS, DEFAULT.n_perturbations, min=1, max=200, step=1),
                    html.Button("Run", id=ids.RUN, n_clicks=0),
                ],
            ),
            html.Div(id=ids.MESSAGE, className="message", role="alert"),
            dcc.Loading(dcc.Graph(id=ids.DISTANCE_GRAPH, config={"displaylogo": False})),
            html.Div(id=ids.SUMMARY, className="summary"),
        ],
    )
