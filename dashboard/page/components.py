"""Page parts every view uses: a graph with its placeholder, an explanation, the bar of a job
(Run, Cancel, progress, message, request store), a typed text input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from dash import dcc, html
from dash.development.base_component import Component

from dashboard import figures
from dashboard.page.glossary import with_terms

if TYPE_CHECKING:
    import plotly.graph_objects as go

ImageFormat = Literal["png", "svg"]  # what a graph's camera button saves


def graph_config(fmt: ImageFormat = "png") -> dcc.Graph.Config:
    """Every graph's mode bar: the camera saves ``fmt`` (PNG at twice the size, or SVG); no
    Plotly logo, and no "Share chart" button (it would send the data to an online service)."""
    return {
        "displaylogo": False,
        "showSendToCloud": False,
        "modeBarButtonsToRemove": ["sendChartToCloud"],
        "toImageButtonOptions": {"format": fmt, "scale": 2 if fmt == "png" else 1},
    }


GRAPH_CONFIG = graph_config()


def graph(
    id_: str,
    height: int | None = 460,
    message: str = "Press Run to train.",
    placeholder: Callable[[str], go.Figure] = figures.base.empty_figure,
) -> dcc.Graph:
    """A graph showing ``placeholder(message)`` until its first figure arrives; ``height`` in px,
    or None: as tall as each figure it shows (its layout.height)."""
    style = {"height": f"{height}px"} if height is not None else {}
    return dcc.Graph(id=id_, figure=placeholder(message), config=GRAPH_CONFIG, style=style)


def explain(*sentences: str) -> html.P:
    """A view's explanation, its glossary words with their meaning on hover."""
    return html.P(with_terms(" ".join(sentences)), className="explain")


def text_input(id_: str, value: object, mode: Literal["numeric"] | None = "numeric", **kwargs: Any) -> dcc.Input:
    """A typed value. As text, not type="number": the browser would send nothing for "abc" or
    an out-of-range value (the message could not quote what was typed), and Dash 4.4's number
    input, once a callback has set its value, ignores typing back its first value.
    ``mode="numeric"`` (whole numbers) asks a phone for its digit keypad; None (a number such as
    1e-8, or several) leaves the full keyboard: HTML's "decimal" is not among the values Dash
    accepts, and with its prop checks on (debug) Dash drew no box at all for it."""
    if mode is not None:
        kwargs["inputMode"] = mode
    return dcc.Input(id=id_, type="text", value=str(value), debounce=True, **kwargs)


def job_bar(
    run_id: str,
    cancel_id: str,
    progress_id: str,
    message_id: str,
    pending_id: str,
    label: str,
    extra: Sequence[Component] = (),
) -> html.Div:
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
