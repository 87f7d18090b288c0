"""The dashboard's state: control values, their rules, the URL query and the presets.

Every control has one rule here; the same rule checks a typed value, a URL parameter and a
preset, and its message names the value and the rule. The controls map onto one
:class:`core.config.RunConfig` (plus the view settings ``view`` and ``normalized``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from core.config import ACTIVATIONS, INITS, NORMS, OUTPUTS, RunConfig
from core.model import MLP
from core.training import record_bytes

VIEWS = ("divergence", "lyapunov", "orbital", "weights", "data")
DEFAULT_VIEW = "divergence"

# Runs beyond this are refused with an estimate (measured engine speed ~30,000/s per core).
TRAJ_STEPS_PER_S = 30_000
MAX_TRAJECTORY_STEPS = 3_000_000
MAX_RECORD_BYTES = 400e6
MAX_QUERY_LENGTH = 2000


@dataclass(frozen=True)
class Rule:
    """How one control's raw value (typed, from the URL, or a preset) becomes a setting."""

    field: str  # RunConfig field, or a view setting
    parse: Callable[[Any], Any]
    default: Any


def _number(low: float, high: float) -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number in ({low:g}, {high:g}], got {_short(raw)}") from None
        if not (math.isfinite(value) and low < value <= high):
            raise ValueError(f"must be a number in ({low:g}, {high:g}], got {_short(raw)}")
        return value

    return parse


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value == int(value) and low <= value <= high):
            raise ValueError(f"must be a whole number from {low} to {high}, got {_short(raw)}")
        return int(value)

    return parse


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        if raw not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {_short(raw)}")
        return str(raw)

    return parse


def _flag(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("1", "true", "yes", "on"):
        return True
    if str(raw).lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {_short(raw)}")


def _short(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "...'"


DEFAULTS = RunConfig()

# control name (= id = URL parameter) -> rule
RULES: dict[str, Rule] = {
    "eta": Rule("learning_rate", _number(0.0, 1000.0), DEFAULTS.learning_rate),
    "eps": Rule("eps", _number(0.0, 1.0), DEFAULTS.eps),
    "seed": Rule("seed", _integer(0, 2**31 - 1), DEFAULTS.seed),
    "perturbations": Rule("n_perturbations", _integer(1, 200), DEFAULTS.n_perturbations),
    "steps": Rule("n_steps", _integer(1, 50_000), DEFAULTS.n_steps),
    "hidden": Rule("hidden", _integer(1, 64), DEFAULTS.hidden),
    "activation": Rule("activation", _choice(ACTIVATIONS), DEFAULTS.activation),
    "output": Rule("output", _choice(OUTPUTS), DEFAULTS.output),
    "init": Rule("init", _choice(INITS), DEFAULTS.init),
    "distance": Rule("distance", _choice(NORMS), DEFAULTS.distance),
    "normalized": Rule("normalized", _flag, False),
}
CONTROLS = tuple(RULES)
QUERY = CONTROLS + ("view",)


def whole_number(name: str, raw: Any, low: int, high: int) -> int:
    """A whole number setting outside the run config (e.g. the number of initial networks)."""
    try:
        return _integer(low, high)(raw)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


def default_values() -> dict[str, Any]:
    return {name: rule.default for name, rule in RULES.items()}


def parse_control(name: str, raw: Any) -> Any:
    """One control's value, or ValueError('<name> must ...')."""
    try:
        return RULES[name].parse(raw)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


def check_values(raw: dict[str, Any], last_valid: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Raw control values -> (values, errors): a bad value keeps its last valid one."""
    values, errors = {}, {}
    for name in CONTROLS:
        try:
            values[name] = parse_control(name, raw.get(name))
        except ValueError as exc:
            errors[name] = f"{exc}; keeping {last_valid.get(name, RULES[name].default)!r}"
            values[name] = last_valid.get(name, RULES[name].default)
    return values, errors


def to_config(values: dict[str, Any]) -> RunConfig:
    """Checked control values -> RunConfig (view settings are not part of it)."""
    fields = {rule.field: values[name] for name, rule in RULES.items() if rule.field != "normalized"}
    return dataclasses.replace(DEFAULTS, **fields)


def check_cost(config: RunConfig, n_rows: int | None = None) -> None:
    """Refuse runs that would take too long or not fit in memory, with an estimate."""
    rows = 1 + config.n_perturbations if n_rows is None else n_rows
    steps = rows * config.n_steps
    if steps > MAX_TRAJECTORY_STEPS:
        raise ValueError(
            f"this run is ~{steps:,} trajectory-steps, ~{steps / TRAJ_STEPS_PER_S:,.0f} s; "
            f"the limit is {MAX_TRAJECTORY_STEPS:,} (fewer iterations or copies)"
        )
    size = record_bytes(config.n_steps, rows, MLP(hidden=config.hidden).n_params, config.save_every)
    if size > MAX_RECORD_BYTES:
        raise ValueError(
            f"this run needs ~{size / 1e6:,.0f} MB of records; the limit is {MAX_RECORD_BYTES / 1e6:,.0f} MB"
        )


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
                messages.append(f"link parameter view={_short(raw)} ignored: must be one of {', '.join(VIEWS)}")
        elif key in RULES:
            try:
                values[key] = parse_control(key, raw)
            except ValueError as exc:
                messages.append(f"link parameter {exc}; ignored")
        else:
            messages.append(f"unknown link parameter {_short(key)} ignored")
    return values, view, messages


def to_query(values: dict[str, Any], view: str) -> str:
    """Control values and view -> ``?eta=...`` with every control (a link reproduces the run)."""
    items = [(name, _format(values[name])) for name in CONTROLS] + [("view", view)]
    return "?" + urlencode(items)


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Preset:
    label: str
    sentence: str
    values: dict[str, Any]
    view: str


PRESETS: dict[str, Preset] = {
    "low": Preset(
        "Low learning rate (eta = 0.01)",
        "The loss falls smoothly; the copies drift apart and back but stay within a few times eps: "
        "stable, no exponential growth.",
        {"eta": 0.01, "eps": 1e-8, "perturbations": 20, "steps": 5000},
        "divergence",
    ),
    "edge": Preset(
        "Edge of stability (eta = 1)",
        "The loss spikes yet converges; nearby networks separate exponentially at first "
        "(a positive finite-time Lyapunov exponent) until the distance saturates. (Seed 1: a network "
        "whose exponential phase is clean; some, like seed 0, jump abruptly instead.)",
        {"eta": 1.0, "eps": 1e-8, "perturbations": 5, "steps": 1000, "seed": 1},
        "lyapunov",
    ),
    "chaotic": Preset(
        "Chaotic-intermittent (eta = 5)",
        "The network never learns: the loss jumps between plateaus such as ln 3 and irregular "
        "bursts, and copies separate quickly.",
        {"eta": 5.0, "eps": 1e-8, "perturbations": 10, "steps": 3000},
        "divergence",
    ),
    "orbital": Preset(
        "Orbital stability",
        "Perturb the trained network at iteration 4000 instead of at the start: the distance "
        "neither grows nor shrinks, the sign of flat directions in the loss basin.",
        {"eta": 0.01, "eps": 1e-8, "perturbations": 20, "steps": 5000},
        "orbital",
    ),
}
