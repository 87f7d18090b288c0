"""The URL query: a link that reproduces a run, ``?eta=1&...&view=lyapunov``, with every control
and the view (and with view=regimes the map's settings and its zoom box,
``zoom=eta_lo,eta_hi,y_lo,y_hi``). Each parameter is checked by its control's rule
(:mod:`dashboard.state.rules`); a bad or unknown one is named and skipped.

The hidden layers are ``hidden=10`` for the paper's one hidden layer (as every link before
deeper networks wrote it) and ``hidden=10,10`` for two or more, one width per layer.

Momentum is written only for an optimizer that reads it: ``optimizer=gd`` alone means the
default momentum (``rules.settled``), and a link from before the optimizers came, which names
neither, opens as gd (the page starts from the defaults), the run it meant then.

Mini-batch SGD is ``batch=16`` (and its order's ``batch_seed=3``, written with a batch only);
a link without ``batch`` that names the optimizer (as every link the app writes does) is the
full batch (the paper's GD, and every link from before mini-batches came). A batch larger
than the named data set's training rows is named and skipped.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

from dashboard.state.rules import (
    CONTROLS,
    MAP_CONTROLS,
    MAP_RULES,
    RULES,
    batch_problem,
    parse_control,
    quoted,
    uses_momentum,
    zoom_box,
)

# the views in the order of their tabs: the one list (dashboard/views reads it; one module per id)
VIEWS = ("divergence", "lyapunov", "orbital", "weights", "data", "regimes", "chaos")
DEFAULT_VIEW = "divergence"
MAX_QUERY_LENGTH = 2000


def parse_query(search: str | None) -> tuple[dict[str, Any], str, list[str]]:
    """``?eta=1&view=lyapunov`` -> (control values present in it, view, messages).

    Bad or unknown parameters are named in a message and skipped; the rest still apply.
    """
    if not search:
        return {}, DEFAULT_VIEW, []
    if len(search) > MAX_QUERY_LENGTH:
        return {}, DEFAULT_VIEW, [f"the link's query is {len(search):,} characters; the limit is {MAX_QUERY_LENGTH:,}"]
    values, view, messages = {}, DEFAULT_VIEW, []
    for key, raw in parse_qsl(search.lstrip("?"), keep_blank_values=True):
        if key == "view":
            if raw in VIEWS:
                view = raw
            else:
                messages.append(f"link parameter view={quoted(raw)} ignored: must be one of {', '.join(VIEWS)}")
        elif key == "zoom":
            try:
                values["zoom"] = zoom_box(raw)
            except ValueError as exc:
                messages.append(f"link parameter zoom: {exc}; ignored")
        elif key in RULES or key in MAP_RULES:
            try:
                values[key] = parse_control(key, raw) if key in RULES else MAP_RULES[key].parse(raw)
            except ValueError as exc:
                messages.append(f"link parameter {f'{key}: {exc}' if key in RULES else f'{key} {exc}'}; ignored")
        else:
            messages.append(f"unknown link parameter {quoted(key)} ignored")
    if "optimizer" in values and not uses_momentum(values["optimizer"]):
        values.setdefault("momentum", RULES["momentum"].default)  # to_query leaves it out
    if "dataset" in values and batch_problem(values):
        messages.append(f"link parameter batch: {batch_problem(values)}; ignored")
        values.pop("batch")
    if "optimizer" in values and values.get("batch") is None:  # a link the app wrote (it names the optimizer)
        values["batch"] = None  # to_query leaves the full batch out, and its order's seed
        values["batch_seed"] = RULES["batch_seed"].default
    return values, view, messages


def to_query(values: dict[str, Any], view: str, maps: dict[str, Any] | None = None) -> str:
    """Control values and view -> ``?eta=...`` with every control the run reads (a link
    reproduces the run: momentum only if the optimizer uses it, the batch and its seed only for
    mini-batches); with view=regimes also the map's settings ``maps`` (and its ``zoom`` box, if any)."""
    names = [n for n in CONTROLS if _read(n, values)]
    items = [(name, _format(values[name])) for name in names] + [("view", view)]
    if view == "regimes" and maps:
        items += [(name, _format(maps[name])) for name in MAP_CONTROLS if name in maps]
        if maps.get("zoom"):
            items.append(("zoom", ",".join(_format(float(v)) for v in maps["zoom"])))
    return "?" + "&".join(_encode(name, text) for name, text in items)


def _read(name: str, values: dict[str, Any]) -> bool:
    """Whether the run of ``values`` reads the control ``name`` (a link leaves the others out)."""
    if name == "momentum":
        return uses_momentum(values["optimizer"])
    if name in ("batch", "batch_seed"):
        return values.get("batch") is not None
    return True


def _encode(name: str, text: str) -> str:
    """``name=text`` as ``urlencode`` writes it, but the commas between a deeper network's
    widths, which read better in a link as they are: ``hidden=10,10``."""
    if name == "hidden":
        return f"{quote_plus(name)}={quote_plus(text, safe=',')}"
    return urlencode([(name, text)])


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):  # a deeper network's widths: 10,10
        return ",".join(_format(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)
