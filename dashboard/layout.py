"""The page: presets on top, controls on the left, one tab per view on the right.

A new view is one more ``dcc.Tab`` built by a function here plus its callbacks.
"""

from __future__ import annotations

import math

from dash import dcc, html

from core.config import ACTIVATIONS, INITS, NORMS, OUTPUTS
from core.data import IRIS_FEATURES
from dashboard import figures, ids
from dashboard.state import DEFAULT_VIEW, PRESETS, RULES, default_values

GRAPH_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
INTRO = (
    "A small network learns to tell three Iris species apart by gradient descent: each step "
    "moves its 83 weights downhill on the loss. Copies of the network, nudged by a tiny eps "
    "before training, follow their own paths. Whether they stay close or fly apart tells "
    "whether training is stable or chaotic."
)


def _error(name: str) -> html.Div:
    return html.Div(id=f"{name}-error", className="control-error", role="alert")


def _field(label: str, name: str, control, hint: str = "") -> html.Div:
    return html.Div(
        className="field",
        children=[html.Label(label, htmlFor=name), control, html.Small(hint, className="hint"), _error(name)],
    )


def _number(name: str, mode: str = "decimal") -> dcc.Input:
    """A typed number. As text, not type="number": the browser would send nothing for "abc"
    or an out-of-range value (the message could not quote what was typed), and Dash 4.4's
    number input, once a callback has set its value, ignores typing back its first value."""
    return _text_input(name, RULES[name].default, mode)


def _text_input(id_: str, value, mode: str = "numeric", **kwargs) -> dcc.Input:
    return dcc.Input(id=id_, type="text", inputMode=mode, value=str(value), debounce=True, **kwargs)


def _log_slider(id_: str, low: float, high: float, value: float, marks: list[int]) -> dcc.Slider:
    return dcc.Slider(
        id=id_,
        min=low,
        max=high,
        step=0.01,
        value=math.log10(value),
        marks={m: {"label": f"1e{m}"} for m in marks},
        updatemode="mouseup",
        tooltip=None,
    )


def _dropdown(name: str, options: tuple[str, ...]) -> dcc.Dropdown:
    return dcc.Dropdown(id=name, options=list(options), value=RULES[name].default, clearable=False)


def controls() -> html.Div:
    return html.Div(
        className="controls",
        children=[
            _field(
                "Learning rate η",
                ids.ETA,
                html.Div(
                    [
                        _number(ids.ETA),
                        _log_slider(ids.ETA_SLIDER, -3, math.log10(20), RULES["eta"].default, [-3, -2, -1, 0, 1]),
                    ]
                ),
                "step size of gradient descent",
            ),
            _field(
                "Perturbation ε",
                ids.EPS,
                html.Div(
                    [
                        _number(ids.EPS),
                        _log_slider(ids.EPS_SLIDER, -15, -1, RULES["eps"].default, [-15, -12, -9, -6, -3, -1]),
                    ]
                ),
                "size of the initial nudge",
            ),
            _field("Seed", ids.SEED, _number(ids.SEED, "numeric"), "which initial network"),
            _field("Copies", ids.PERTURBATIONS, _number(ids.PERTURBATIONS, "numeric"), "perturbed copies M, 1 to 200"),
            _field("Iterations", ids.STEPS, _number(ids.STEPS, "numeric"), "training steps T, 1 to 50,000"),
            _field("Hidden units", ids.HIDDEN, _number(ids.HIDDEN, "numeric"), "1 to 64"),
            _field("Activation", ids.ACTIVATION, _dropdown(ids.ACTIVATION, ACTIVATIONS)),
            _field("Output / loss", ids.OUTPUT, _dropdown(ids.OUTPUT, OUTPUTS)),
            _field("Initialisation", ids.INIT, _dropdown(ids.INIT, INITS)),
            _field(
                "Distance",
                ids.DISTANCE,
                dcc.RadioItems(
                    id=ids.DISTANCE,
                    options=[{"label": n.upper(), "value": n} for n in NORMS],
                    value=RULES["distance"].default,
                    inline=True,
                ),
            ),
            _field(
                "Normalised view",
                ids.NORMALIZED,
                dcc.Checklist(
                    id=ids.NORMALIZED,
                    options=[{"label": " show d / (ε N_w)", "value": "on"}],
                    value=[],
                ),
            ),
            html.Div(
                className="buttons",
                children=[
                    html.Button("Run", id=ids.RUN, n_clicks=0, className="primary"),
                    html.Button("Cancel", id=ids.CANCEL, n_clicks=0, disabled=True),
                ],
            ),
            html.Progress(id=ids.PROGRESS, max=100, value=0),
            html.Div(id=ids.PROGRESS_LABEL, className="progress-label"),
            html.Div(id=ids.RUN_MESSAGE, className="run-message", role="alert"),
            html.Div(
                className="exports",
                children=[
                    html.Span("Export: "),
                    html.Button("CSV", id=ids.EXPORT_CSV, n_clicks=0),
                    html.Button("NPZ", id=ids.EXPORT_NPZ, n_clicks=0),
                    html.Button("config JSON", id=ids.EXPORT_JSON, n_clicks=0),
                    dcc.Download(id=ids.DOWNLOAD),
                    html.Div(
                        [
                            html.Small("figure image (camera button): "),
                            dcc.RadioItems(id=ids.IMAGE_FORMAT, options=["png", "svg"], value="png", inline=True),
                        ]
                    ),
                ],
            ),
        ],
    )


def presets() -> html.Div:
    return html.Div(
        className="presets",
        children=[html.Span("Presets:")]
        + [
            html.Button(p.label, id={"type": ids.PRESET, "name": name}, title=p.sentence, n_clicks=0)
            for name, p in PRESETS.items()
        ]
        + [html.Div(id=ids.PRESET_NOTE, className="preset-note")],
    )


def _graph(
    id_: str, height: int = 460, message: str = "Press Run to train.", placeholder=figures.empty_figure
) -> dcc.Graph:
    """A graph showing ``placeholder(message)`` until its first figure arrives."""
    return dcc.Graph(id=id_, figure=placeholder(message), config=GRAPH_CONFIG, style={"height": f"{height}px"})


def _explain(*sentences: str) -> html.P:
    return html.P(" ".join(sentences), className="explain")


def _job_bar(run_id: str, cancel_id: str, progress_id: str, message_id: str, pending_id: str, label: str, extra=()):
    """Run and Cancel of a side job, its progress, its (red) message and its request store."""
    return html.Div(
        className="job",
        children=[
            *extra,
            html.Button(label, id=run_id, n_clicks=0, className="primary"),
            html.Button("Cancel", id=cancel_id, n_clicks=0, disabled=True),
            html.Span(id=progress_id, className="progress-label"),
            html.Span(id=message_id, className="run-message", role="alert"),
            dcc.Store(id=pending_id),
        ],
    )


def divergence_tab() -> dcc.Tab:
    return dcc.Tab(
        label="Divergence",
        value="divergence",
        children=[
            _explain(
                "Each grey line is the distance between the original network and one nudged copy as both "
                "train; the black line is their average. On a log scale, a straight rising line means "
                "exponential separation (chaos); a flat band means training is stable. The dashed red line "
                "is the loss (right axis)."
            ),
            dcc.Loading(
                _graph(ids.DISTANCE_GRAPH, 500, placeholder=figures.distance_placeholder),
                delay_show=1500,
                overlay_style={"visibility": "visible"},
            ),
            html.Div(id=ids.SUMMARY, className="summary"),
            html.H3("Does the size of the nudge matter?"),
            _explain(
                "The same network, nudged by ε from 1e-15 to 1e-2 (5 copies each). If the curves differ "
                "only by the factor ε, training responds linearly to small perturbations: divided by "
                "ε N_w they collapse onto one curve."
            ),
            _job_bar(
                ids.SWEEP_RUN, ids.SWEEP_CANCEL, ids.SWEEP_PROGRESS, ids.SWEEP_MESSAGE, ids.SWEEP_PENDING, "Compare ε"
            ),
            _graph(ids.EPS_PANELS_GRAPH, 360, "Press Compare ε."),
            _graph(ids.COLLAPSE_GRAPH, 420, "Press Compare ε."),
        ],
    )


def lyapunov_tab() -> dcc.Tab:
    return dcc.Tab(
        label="Lyapunov",
        value="lyapunov",
        children=[
            _explain(
                "The finite-time Lyapunov exponent is the slope of ln<d(t)> where it rises in a straight "
                "line: the rate at which nearby networks separate, per iteration. The highlighted window "
                "is the best straight-line fit (largest R²) of the current run."
            ),
            _graph(ids.FIT_GRAPH, 420),
            html.H3("Over many initial networks"),
            _explain(
                "Many initial networks, 5 copies each, for ε from 1e-14 to 1e-1, using the learning rate on "
                "the left. A fit counts when R² > 0.9 and the slope > 0.05. At η = 1 the paper finds "
                "λ ≈ 0.285 per iteration at ε = 1e-8."
            ),
            _job_bar(
                ids.FTLE_RUN,
                ids.FTLE_CANCEL,
                ids.FTLE_PROGRESS,
                ids.FTLE_MESSAGE,
                ids.FTLE_PENDING,
                "Run FTLE sweep",
                extra=[
                    html.Label(
                        [
                            "initial networks ",
                            _text_input(ids.FTLE_INITS, 40),
                        ]
                    ),
                    html.Label(
                        [
                            "iterations ",
                            _text_input(ids.FTLE_STEPS, 200),
                        ]
                    ),
                ],
            ),
            dcc.Store(id=ids.FTLE_STORE),
            _graph(ids.FTLE_EPS_GRAPH, 420, "Press Run FTLE sweep."),
            html.Label(
                [
                    "histogram at ε = ",
                    dcc.Dropdown(
                        id=ids.FTLE_HIST_EPS,
                        options=[{"label": f"{10.0**k:.0e}", "value": k} for k in range(-14, 0)],
                        value=-8,
                        clearable=False,
                        style={"width": "8rem", "display": "inline-block"},
                    ),
                ]
            ),
            _graph(ids.FTLE_HIST_GRAPH, 360, "Press Run FTLE sweep."),
        ],
    )


def orbital_tab() -> dcc.Tab:
    return dcc.Tab(
        label="Orbital stability",
        value="orbital",
        children=[
            _explain(
                "Instead of nudging the network before training, nudge it late, at iteration t0, when it "
                "has nearly learned, and train on. If the distance neither grows nor shrinks, the network "
                "sits in a flat valley of the loss: directions along which it can drift freely."
            ),
            _job_bar(
                ids.ORBITAL_RUN,
                ids.ORBITAL_CANCEL,
                ids.ORBITAL_PROGRESS,
                ids.ORBITAL_MESSAGE,
                ids.ORBITAL_PENDING,
                "Run orbital",
                extra=[
                    html.Label(
                        [
                            "perturb at t0 = ",
                            _text_input(ids.ORBITAL_T0, 4000),
                        ]
                    ),
                ],
            ),
            _graph(ids.ORBITAL_GRAPH, 440, "Press Run orbital."),
        ],
    )


def weights_tab() -> dcc.Tab:
    return dcc.Tab(
        label="Weights",
        value="weights",
        children=[
            _explain(
                "Which weights matter? Each cell sets one weight of the trained network to zero and "
                "shows the new loss divided by the old: 1 (white) means the weight barely matters, red "
                "means removing it hurts."
            ),
            html.Div(
                className="row", children=[_graph(ids.ABLATION_W1_GRAPH, 380), _graph(ids.ABLATION_W2_GRAPH, 380)]
            ),
            _explain(
                "Most weights barely move from where they started, yet all of them wander: the path "
                "length (total distance travelled) is far larger than the net displacement."
            ),
            html.Div(className="row", children=[_graph(ids.DISPLACEMENT_GRAPH, 400), _graph(ids.NORM_GRAPH, 400)]),
        ],
    )


def _feature_dropdown(id_: str, value: int) -> dcc.Dropdown:
    options = [{"label": name, "value": str(i)} for i, name in enumerate(IRIS_FEATURES)]
    return dcc.Dropdown(id=id_, options=options, value=str(value), clearable=False, style={"width": "14rem"})


def data_tab() -> dcc.Tab:
    return dcc.Tab(
        label="Data",
        value="data",
        children=[
            _explain(
                "Iris: 150 flowers, 4 measurements, 3 species; 120 train the network, 30 test it. A cross "
                "marks each flower the trained network gets wrong."
            ),
            html.Div(
                className="row-controls",
                children=[
                    html.Label(["x: ", _feature_dropdown(ids.DATA_X, 2)]),
                    html.Label(["y: ", _feature_dropdown(ids.DATA_Y, 3)]),
                ],
            ),
            _graph(ids.DATA_GRAPH, 480),
            html.Div(id=ids.DATA_SUMMARY, className="summary"),
        ],
    )


def build_layout() -> html.Div:
    return html.Div(
        className="page",
        children=[
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Store(id=ids.VALID, data=default_values()),
            dcc.Store(id=ids.WRITTEN_QUERY),
            dcc.Store(id=ids.AUTORUN),
            dcc.Store(id=ids.PENDING),
            dcc.Store(id=ids.RESULT),
            html.Header([html.H1("Training as a dynamical system"), html.P(INTRO, className="intro")]),
            presets(),
            html.Div(id=ids.URL_MESSAGE, className="url-message", role="alert"),
            html.Div(
                className="main",
                children=[
                    controls(),
                    dcc.Tabs(
                        id=ids.TABS,
                        value=DEFAULT_VIEW,
                        className="views",
                        children=[
                            divergence_tab(),
                            lyapunov_tab(),
                            orbital_tab(),
                            weights_tab(),
                            data_tab(),
                        ],
                    ),
                ],
            ),
        ],
    )
