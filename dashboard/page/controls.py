"""The controls beside every view: presets on top, then the run's settings (a typed box and a
log slider for eta and eps, a box and a slider for the seed, the optimizer and its momentum,
the batch size and the batch order's seed, the network and the distance), Run and Cancel with
the job's progress, and the exports. Their callbacks are in :mod:`dashboard.page.sync`, but for
:func:`register`'s: the momentum box is off, and says why, while the optimizer reads no momentum
(gd); the batch seed box likewise for the full batch; the batch box's hint names the largest
batch of the data set chosen."""

from __future__ import annotations

import math
from typing import Any, Literal

from dash import Dash, Input, Output, dcc, html
from dash.development.base_component import Component

from core.config import ACTIVATIONS, DATASETS, INITS, NORMS, OUTPUTS, RunConfig
from core.engine.optimizers import OPTIMIZERS
from dashboard.page import ids
from dashboard.page.components import text_input
from dashboard.page.glossary import GLOSSARY
from dashboard.state.presets import PRESETS
from dashboard.state.rules import RULES, training_rows, uses_momentum


def _error(name: str) -> html.Div:
    return html.Div(id=f"{name}-error", className="control-error", role="alert")


def _field(
    label: str, name: str, control: Component, hint: str = "", title: str | None = None, hint_id: str | None = None
) -> html.Div:
    hint_props: dict[str, Any] = {"id": hint_id} if hint_id else {}  # no id at all rather than None
    field_props: dict[str, Any] = {"title": title} if title else {}
    small = html.Small(hint, className="hint", **hint_props)
    return html.Div(
        className="field",
        children=[html.Label(label, htmlFor=name), control, small, _error(name)],
        **field_props,
    )


_ADAM = RunConfig(optimizer="adam")
OPTIMIZER_TITLE = (
    "the update rule, in PyTorch's conventions (docs/method.md §11). gd: plain gradient descent, "
    "the paper's; momentum: SGD with heavy-ball momentum β; nesterov: SGD(momentum=β, nesterov=True); "
    f"adam: Adam with β1 = β, and β2 = {_ADAM.beta2:g} and eps = {_ADAM.adam_eps:g} kept at their "
    "defaults on the page (cli.py --beta2 --adam-eps sets them)"
)


def momentum_box(optimizer: object) -> tuple[bool, str]:
    """(disabled, hint) of the Momentum β box for the optimizer chosen: off for gd, which reads
    no momentum (a link and the CLI line leave it out; docs/method.md §11)."""
    if not uses_momentum(optimizer):
        return True, "off: gd reads no momentum"
    if optimizer == "adam":
        return False, f"Adam's β1 in [0, 1) (β2 = {_ADAM.beta2:g}, eps = {_ADAM.adam_eps:g})"
    return False, "decay of the momentum buffer, in [0, 1)"


def batch_hint(dataset: object) -> str:
    """The Batch size box's hint: the largest batch is the training rows of the data set chosen."""
    rows = f"1 to {training_rows(dataset)}" if isinstance(dataset, str) and dataset in DATASETS else "1 to N"
    return f"mini-batch SGD on B training rows per step, {rows}; empty or full: the full batch (the paper's GD)"


def batch_seed_box(batch: object) -> tuple[bool, str]:
    """(disabled, hint) of the Batch seed box: off for the full batch, which has no order
    (a link and the CLI line leave it out; docs/method.md §13). A box that does not parse
    keeps it on (its message is the validation's)."""
    try:
        full = RULES["batch"].parse(batch) is None
    except ValueError:
        full = False
    if full:
        return True, "off: the full batch has no order"
    return False, "order of the mini-batches, apart from the network's seed"


def register(app: Dash) -> None:
    """The controls' own callbacks: the momentum box follows the optimizer, the batch seed box
    the batch size, the batch box's hint the data set."""
    app.callback(
        Output(ids.MOMENTUM, "disabled"),
        Output(ids.MOMENTUM_HINT, "children"),
        Input(ids.OPTIMIZER, "value"),
    )(momentum_box)
    app.callback(
        Output(ids.BATCH_SEED, "disabled"),
        Output(ids.BATCH_SEED_HINT, "children"),
        Input(ids.BATCH, "value"),
    )(batch_seed_box)
    app.callback(Output(ids.BATCH_HINT, "children"), Input(ids.DATASET, "value"))(batch_hint)


def _number(name: str, mode: Literal["numeric"] | None = None) -> dcc.Input:
    return text_input(name, RULES[name].default, mode)


def _batch_box() -> dcc.Input:
    """The Batch size box: "full" (the paper's full batch, the default) or a whole number."""
    return text_input(ids.BATCH, "full", "numeric", placeholder="full")


SLIDER_STEP = 0.01  # of the log sliders (log10 units); a release snaps to 1-2-5 (slider_values)


def _log_slider(id_: str, low: int, high: int, value: float, marks: list[int]) -> dcc.Slider:
    return dcc.Slider(
        id=id_,
        min=low,
        max=high,
        step=SLIDER_STEP,
        value=math.log10(value),
        marks={m: {"label": f"1e{m}"} for m in marks},
        updatemode="mouseup",
        # the value while dragging, as the box will show it (assets/slider_hand.js: 1-2-5 x 10^k)
        tooltip={"placement": "top", "always_visible": False, "transform": "wsdRound125"},
    )


def _dropdown(name: str, options: tuple[str, ...]) -> dcc.Dropdown:
    return dcc.Dropdown(id=name, options=list(options), value=RULES[name].default, clearable=False)


def controls() -> html.Div:
    return html.Div(
        className="controls",
        children=[
            html.Div(
                className="buttons",
                children=[
                    html.Button("Run", id=ids.RUN, n_clicks=0, className="primary"),
                    html.Button("Cancel", id=ids.CANCEL, n_clicks=0, disabled=True),
                    html.Span(
                        dcc.Checklist(
                            id=ids.AUTO_RUN_SWITCH,
                            options=[{"label": " auto-run", "value": "on"}],
                            value=["on"],
                            inline=True,
                        ),
                        title="releasing the η or ε slider, or moving the seed slider, starts the run",
                    ),
                ],
            ),
            # Dash types every HTML attribute as text; a progress bar's value is a number (as its writers send)
            html.Progress(id=ids.PROGRESS, max=100, value=0),  # type: ignore[arg-type]
            html.Div(id=ids.PROGRESS_LABEL, className="progress-label"),
            html.Div(id=ids.RUN_MESSAGE, className="run-message", role="alert"),
            html.Div(id=ids.STALE_NOTE, className="stale-note", role="status"),
            _field(
                "Learning rate η",
                ids.ETA,
                html.Div(
                    [
                        _number(ids.ETA),
                        _log_slider(ids.ETA_SLIDER, -4, 3, RULES["eta"].default, [-4, -2, 0, 2]),
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
                        _log_slider(ids.EPS_SLIDER, -15, -1, RULES["eps"].default, [-15, -11, -7, -3]),
                    ]
                ),
                "size of the initial nudge",
            ),
            _field(
                "Seed",
                ids.SEED,
                html.Div(
                    [
                        _number(ids.SEED, "numeric"),
                        dcc.Slider(
                            id=ids.SEED_SLIDER,
                            min=0,
                            max=99,
                            step=1,
                            value=RULES["seed"].default,
                            marks={m: str(m) for m in (0, 25, 50, 75, 99)},
                            updatemode="mouseup",
                        ),
                    ]
                ),
                "which initial network",
            ),
            _field(
                "Data set",
                ids.DATASET,
                _dropdown(ids.DATASET, DATASETS),
                "iris (4 features, 3 species), digits (8x8 images; the Digits preset sets 64 tanh units), wine and "
                "breast cancer (13 and 30 features, standardised) or MNIST (28x28 images, downloaded once)",
            ),
            _field("Copies", ids.PERTURBATIONS, _number(ids.PERTURBATIONS, "numeric"), "perturbed copies M, 1 to 200"),
            _field("Iterations", ids.STEPS, _number(ids.STEPS, "numeric"), "training steps T, 1 to 50,000"),
            _field(
                "Optimizer",
                ids.OPTIMIZER,
                dcc.RadioItems(
                    id=ids.OPTIMIZER, options=list(OPTIMIZERS), value=RULES["optimizer"].default, inline=True
                ),
                "update rule (hover for each)",
                title=OPTIMIZER_TITLE,
            ),
            _field(
                "Momentum β",
                ids.MOMENTUM,
                _number(ids.MOMENTUM),  # register() turns it off for gd
                "momentum, nesterov: β; adam: β1; gd: not used",
                title="momentum and nesterov: the buffer's decay β; adam: β1; gd reads none",
                hint_id=ids.MOMENTUM_HINT,
            ),
            _field(
                "Batch size",
                ids.BATCH,
                _batch_box(),
                batch_hint(RULES["dataset"].default),
                title="mini-batch SGD (docs/method.md §13): each step's gradient is that of B training rows, "
                "one seeded order shared by the reference and its copies; empty or full: full-batch GD",
                hint_id=ids.BATCH_HINT,
            ),
            _field(
                "Batch seed",
                ids.BATCH_SEED,
                _number(ids.BATCH_SEED, "numeric"),  # register() turns it off for the full batch
                "order of the mini-batches",
                title="the seed of the batch order (cli.py --batch-seed), apart from the network's seed",
                hint_id=ids.BATCH_SEED_HINT,
            ),
            _field(
                "Hidden units",
                ids.HIDDEN,
                _number(ids.HIDDEN),  # "10 10": a space or a comma between the layers' widths
                "units per hidden layer: 10, or 10 10 for two layers (up to 4)",
                title=GLOSSARY["hidden layers"],
            ),
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
                    html.Div(
                        className="cli-command",
                        children=[
                            html.Small("the same run from the command line: "),
                            dcc.Clipboard(target_id=ids.CLI_COMMAND, title="copy", style={"display": "inline-block"}),
                            html.Code(id=ids.CLI_COMMAND),
                        ],
                    ),
                ],
            ),
        ],
    )


def presets() -> html.Div:
    return html.Div(
        className="presets",
        children=[html.Span("Start with a preset:", title="each sets the controls, opens its view and runs")]
        + [
            html.Button(p.label, id={"type": ids.PRESET, "name": name}, title=p.sentence, n_clicks=0)
            for name, p in PRESETS.items()
        ]
        + [html.Div(id=ids.PRESET_NOTE, className="preset-note")],
    )
