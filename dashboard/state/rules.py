"""The rules of the dashboard's settings, and the server's limits on a job.

Every control has one rule here; the same rule checks a typed value, a URL parameter
(:mod:`dashboard.state.query`) and a preset (:mod:`dashboard.state.presets`), and its message names the
value and the rule. The controls map onto one :class:`core.config.RunConfig` (plus the view
setting ``normalized``). A job's settings are checked again on the server, each by its rule,
then its estimated time and memory against :class:`Limits`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.analysis.hessian import EXACT_MAX_PARAMS
from core.config import (
    ACTIVATIONS,
    DATASETS,
    INITS,
    MAX_BATCH_SIZE,
    MAX_DEPTH,
    MAX_EPS,
    MAX_LEARNING_RATE,
    NORMS,
    OUTPUTS,
    RunConfig,
    check_hidden,
)
from core.data import IRIS_FEATURES, dataset_shape, dataset_sizes
from core.engine.model import MLP
from core.engine.optimizers import OPTIMIZERS, WITH_MOMENTUM
from core.engine.speed import ADAM_TANGENT_STEP, TANGENT_STEP, Estimate, NetworkCost, network_cost, run_estimate
from core.engine.training import descend_bytes
from core.experiments.map_kinds import MAP_KINDS, Map2D, SettingMap
from core.experiments.maps import VALUES as MAP_VALUES
from dashboard.jobs.compute import SHARPNESS_POINTS, TANGENT_ROWS


@dataclass(frozen=True)
class Rule:
    """How one control's raw value (typed, from the URL, or a preset) becomes a setting."""

    field: str  # RunConfig field, or a view setting
    parse: Callable[[Any], Any]
    default: Any
    text: str = ""  # the rule in words, for hints and messages ("a whole number from 1 to 200")


def _number(low: float, high: float) -> tuple[Callable[[Any], float], str]:
    text = f"a number in ({low:g}, {high:g}]"

    def parse(raw: Any) -> float:
        try:
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            value = math.nan
        if isinstance(raw, bool) or not (math.isfinite(value) and low < value <= high):
            raise ValueError(f"must be {text}, got {quoted(raw)}")
        return value

    return parse, text


def _integer(low: int, high: int) -> tuple[Callable[[Any], int], str]:
    text = f"a whole number from {low} to {high}"

    def parse(raw: Any) -> int:
        try:
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            value = math.nan
        if isinstance(raw, bool) or not (math.isfinite(value) and value == int(value) and low <= value <= high):
            raise ValueError(f"must be {text}, got {quoted(raw)}")
        return int(value)

    return parse, text


def _choice(options: tuple[str, ...]) -> tuple[Callable[[Any], str], str]:
    text = f"one of {', '.join(options)}"

    def parse(raw: Any) -> str:
        if not isinstance(raw, str) or raw not in options:
            raise ValueError(f"must be {text}, got {quoted(raw)}")
        return raw

    return parse, text


def _core_rule(check: Callable[[Any], Any], bad: Any) -> str:
    """The rule in the words of a core check's message (``"hidden must be <rule>, got ..."``)."""
    try:
        check(bad)
    except ValueError as exc:
        return str(exc).split(" must be ", 1)[1].rsplit(", got ", 1)[0]
    raise AssertionError(f"{bad!r} passes the check it should fail")  # pragma: no cover


HIDDEN_TEXT = _core_rule(check_hidden, 0)  # core.config.check_hidden's: 1 to 4 layers of 1 to 1024 units


def _hidden(raw: Any) -> int | list[int]:
    """The hidden layers' widths, typed ("10", "10 10", "10,10"), from a link ("10,10") or a
    page's store ([10, 10]): an int for one hidden layer, a list for 2 to 4, so a one-layer
    page's values, links and requests are those it always had and a deeper one's survive a
    JSON store unchanged (a tuple would come back a list); checked by core.config.check_hidden."""
    parts = raw.replace(",", " ").split() if isinstance(raw, str) else raw
    parts = list(parts) if isinstance(parts, (list, tuple)) else [parts]
    try:
        if len(parts) > MAX_DEPTH:  # refused before reading a forged request's long list
            raise ValueError(f"{len(parts)} layers")
        widths = [_whole(p) for p in parts]
        hidden = check_hidden(widths)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"must be {HIDDEN_TEXT}, got {quoted(raw)}") from None
    return hidden if isinstance(hidden, int) else list(hidden)


def _whole(raw: Any) -> int:
    """A whole number written as one ("10", 10, 10.0), else ValueError."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"not a whole number: {raw!r}")
    value = float(raw)
    if not (math.isfinite(value) and value == int(value)):
        raise ValueError(f"not a whole number: {raw!r}")
    return int(value)


def shown_text(name: str, value: Any) -> Any:
    """What a control's box shows of a checked value: the hidden layers as ``hidden_text``,
    the full batch as "full", anything else as it is."""
    if name == "hidden":
        return hidden_text(value)
    if name == "batch" and value is None:
        return "full"
    return value


def hidden_text(hidden: Any) -> Any:
    """What the hidden-layers box shows of a checked value: a one-layer width as it always was
    (the int), the widths of a deeper network as typed, "10 10" (as ``cli.py --hidden`` takes them)."""
    return " ".join(str(w) for w in hidden) if isinstance(hidden, (list, tuple)) else hidden


DECAY_TEXT = "a number in [0, 1)"


def _decay(raw: Any) -> float:
    """A decay rate beta in [0, 1) (momentum's, Adam's beta1): 1 would never forget a gradient."""
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    if isinstance(raw, bool) or not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"must be {DECAY_TEXT}, got {quoted(raw)}")
    return value


FULL_BATCH_WORDS = ("", "full")  # what the Batch size box may hold for the full batch (None also)
BATCH_TEXT = "a whole number from 1 to the training rows of the data set, or empty (or full) for the full batch"


def _batch(raw: Any) -> int | None:
    """The mini-batch size (docs/method.md §13), or None for the full batch (the paper's
    GD): empty, "full" or None. Its upper bound is the data set's training rows
    (:func:`batch_problem`, which needs the data set)."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in FULL_BATCH_WORDS):
        return None
    try:
        return _whole_in(raw, 1, MAX_BATCH_SIZE)
    except ValueError:
        raise ValueError(f"must be {BATCH_TEXT}, got {quoted(raw)}") from None


def _whole_in(raw: Any, low: int, high: int) -> int:
    """A whole number in [low, high] written as one, else ValueError."""
    value = _whole(raw.strip() if isinstance(raw, str) else raw)
    if not low <= value <= high:
        raise ValueError(f"not in [{low}, {high}]: {raw!r}")
    return value


def training_rows(dataset: str) -> int:
    """The training rows N of a named data set (iris: 120): the largest batch."""
    return dataset_shape(dataset)[0]


def batch_problem(values: dict[str, Any]) -> str:
    """What is wrong with checked values' batch size for their data set ("" if nothing):
    a batch larger than the training rows, named with the value and the rule."""
    size, dataset = values.get("batch"), values.get("dataset")
    if size is None or dataset not in DATASETS:
        return ""
    rows = training_rows(dataset)
    if size <= rows:
        return ""
    return (
        f"{LABELS['batch']} must be a whole number from 1 to {rows} (the training rows of {dataset}), "
        f"or empty for the full batch, got {quoted(size)}"
    )


def _flag(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("1", "true", "yes", "on"):
        return True
    if str(raw).lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {quoted(raw)}")


def quoted(raw: Any) -> str:
    """A value as a message quotes it: its repr, shortened."""
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


DEFAULTS = RunConfig()


def _rule(field: str, check: tuple[Callable[[Any], Any], str], default: Any) -> Rule:
    return Rule(field, check[0], default, check[1])


# control name (= id = URL parameter) -> rule
RULES: dict[str, Rule] = {
    "eta": _rule("learning_rate", _number(0.0, MAX_LEARNING_RATE), DEFAULTS.learning_rate),
    "eps": _rule("eps", _number(0.0, MAX_EPS), DEFAULTS.eps),
    "seed": _rule("seed", _integer(0, 2**31 - 1), DEFAULTS.seed),
    "dataset": _rule("dataset", _choice(DATASETS), DEFAULTS.dataset),
    "perturbations": _rule("n_perturbations", _integer(1, 200), DEFAULTS.n_perturbations),
    "steps": _rule("n_steps", _integer(1, 50_000), DEFAULTS.n_steps),
    # the widths of 1 to 4 hidden layers (docs/method.md §12): 10, or 10 10
    "hidden": Rule("hidden", _hidden, DEFAULTS.hidden, HIDDEN_TEXT),
    "activation": _rule("activation", _choice(ACTIVATIONS), DEFAULTS.activation),
    "output": _rule("output", _choice(OUTPUTS), DEFAULTS.output),
    "init": _rule("init", _choice(INITS), DEFAULTS.init),
    "distance": _rule("distance", _choice(NORMS), DEFAULTS.distance),
    # the update rule (docs/method.md §11); Adam's beta2 and eps keep RunConfig's defaults on the page
    "optimizer": _rule("optimizer", _choice(OPTIMIZERS), DEFAULTS.optimizer),
    "momentum": Rule("momentum", _decay, DEFAULTS.momentum, DECAY_TEXT),
    # mini-batch SGD (docs/method.md §13): None is the full batch, the paper's GD; the batch
    # order's seed is apart from the network's (a full-batch run reads none)
    "batch": Rule("batch_size", _batch, DEFAULTS.batch_size, BATCH_TEXT),
    "batch_seed": _rule("batch_seed", _integer(0, 2**31 - 1), DEFAULTS.batch_seed),
    "normalized": Rule("normalized", _flag, False, "true or false"),
}
CONTROLS = tuple(RULES)
RUN_CONTROLS = tuple(name for name in CONTROLS if name != "normalized")  # the ones a run depends on
QUERY = CONTROLS + ("view",)
FEATURE_AXIS = _integer(0, len(IRIS_FEATURES) - 1)[0]  # the Data view's axes

# The Regimes view's own settings (URL parameters with view=regimes); its network, data set,
# seed, eps and iterations are the controls' (so a point of a map opens as that run).
MAX_AXIS_VALUES = 12  # values of a setting map's second axis typed on the page
AXIS_TEXT = f"up to {MAX_AXIS_VALUES} numbers separated by spaces, or empty for the map's own"
MAP_RULES: dict[str, Rule] = {
    "map": _rule("map", _choice(tuple(MAP_KINDS)), "eta"),  # the kinds, in the order of the page's menu
    "eta_min": _rule("eta_min", _number(0.0, 1000.0), 0.001),
    "eta_max": _rule("eta_max", _number(0.0, 1000.0), 20.0),
    "eta_points": _rule("eta_points", _integer(2, 60), 25),
    "inits": _rule("inits", _integer(1, 50), 20),
    # a map's own iterations (not the sidebar's 5,000 of one run): the default strip is then
    # 25 x 20 networks x 6 trajectories x 500 = 1.5 M trajectory-steps, well inside the limit
    "map_steps": _rule("map_steps", _integer(50, 20_000), 500),
    # what a 2-D map's points show (core.experiments.maps.VALUES; each kind has its own), and the
    # values of a setting map's second axis ("" = the kind's own grid); the strip and the orbit
    # diagram read neither
    "map_value": _rule("map_value", _choice(MAP_VALUES), "default"),
    "map_axis": Rule("map_axis", lambda raw: _axis(raw), "", AXIS_TEXT),
}
MAP_CONTROLS = tuple(MAP_RULES)
LATER_MAP_RULES = ("map_value", "map_axis")  # a request or a page from before them has their defaults
FTLE_HIST_EXPONENT = _integer(-14, -1)[0]  # the FTLE histogram's eps = 10^exponent


def _axis(raw: Any) -> str:
    """A setting map's axis as typed ("2 5 10", "2,5,10", or empty for the kind's own), written
    back as numbers separated by spaces; each value's rule is its setting's (``map_axis_values``)."""
    if raw is None:
        return ""
    parts = raw.replace(",", " ").split() if isinstance(raw, str) else None
    try:
        if parts is None or len(parts) > MAX_AXIS_VALUES:
            raise ValueError("not a list")
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"must be {AXIS_TEXT}, got {quoted(raw)}") from None
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"must be {AXIS_TEXT}, got {quoted(raw)}")
    return " ".join(f"{v:g}" for v in numbers)


def map_axis_values(maps: dict[str, Any]) -> list[float] | None:
    """The second axis a setting map's settings ask for (None: the kind's own grid)."""
    text = maps.get("map_axis") or ""
    return [float(v) for v in text.split()] or None


def whole_number(name: str, raw: Any, low: int, high: int) -> int:
    """A whole number setting outside the run config (e.g. the number of initial networks)."""
    try:
        return _integer(low, high)[0](raw)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


def number(name: str, raw: Any, low: float, high: float) -> float:
    """A number in (low, high] outside the run config (e.g. a server setting)."""
    try:
        return _number(low, high)[0](raw)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


def default_values() -> dict[str, Any]:
    return {name: rule.default for name, rule in RULES.items()}


def default_map_values() -> dict[str, Any]:
    return {name: rule.default for name, rule in MAP_RULES.items()}


def map_values(raw: Any) -> dict[str, Any]:
    """The Regimes view's settings from its page, each checked by its rule (a bad or missing
    one is refused, naming it)."""
    if not isinstance(raw, dict):
        raise ValueError(f"the map settings must be a mapping, got {quoted(raw)}")
    values = {}
    for name, rule in MAP_RULES.items():
        try:
            values[name] = rule.parse(raw.get(name, rule.default if name in LATER_MAP_RULES else None))
        except ValueError as exc:
            raise ValueError(f"{name} {exc}") from None
    if not values["eta_min"] < values["eta_max"]:
        raise ValueError(f"eta_min must be below eta_max, got {values['eta_min']:g} and {values['eta_max']:g}")
    kind = MAP_KINDS[values["map"]]
    if isinstance(kind, Map2D):  # e.g. eta x eps has no final loss: refused, naming what it has
        kind.value_of(values["map_value"])
    else:  # the strip and the orbit diagram show what they show
        values["map_value"] = "default"
    if not isinstance(kind, SettingMap):
        values["map_axis"] = ""  # eps and seeds come from the map's own settings
    return values


def zoom_box(raw: Any) -> list[float] | None:
    """A map's zoom box [eta_lo, eta_hi, y_lo, y_hi] (from a request, or a link's
    ``zoom=lo,hi,y_lo,y_hi``), or None; ValueError names what is wrong. The y span is the
    eps span of an eta x eps map, the seeds of an eta x seed map and 0, 0 otherwise."""
    if raw is None:
        return None
    parts = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(parts, (list, tuple)) or len(parts) != 4:
        raise ValueError(f"a zoom box must be [eta_lo, eta_hi, y_lo, y_hi], got {quoted(raw)}")
    box = [
        number(f"zoom box {name}", v, -1e300, 1e300)
        for name, v in zip(("eta_lo", "eta_hi", "y_lo", "y_hi"), parts, strict=True)
    ]
    if not (0 < box[0] < box[1]):
        raise ValueError(f"the zoom box must span learning rates from low to high, got {box[0]:g} to {box[1]:g}")
    return box


# what the page calls each control: messages name a control as its label does
LABELS = {
    "eta": "Learning rate η",
    "eps": "Perturbation ε",
    "seed": "Seed",
    "dataset": "Data set",
    "perturbations": "Copies",
    "steps": "Iterations",
    "hidden": "Hidden units",
    "activation": "Activation",
    "output": "Output / loss",
    "init": "Initialisation",
    "distance": "Distance",
    "optimizer": "Optimizer",
    "momentum": "Momentum β",
    "batch": "Batch size",
    "batch_seed": "Batch seed",
    "normalized": "Normalised view",
}


def parse_control(name: str, raw: Any) -> Any:
    """One control's value, or ValueError('<its label> must ...')."""
    try:
        return RULES[name].parse(raw)
    except ValueError as exc:
        raise ValueError(f"{LABELS[name]} {exc}") from None


def check_values(raw: dict[str, Any], last_valid: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Raw control values -> (values, errors): a bad value keeps its last valid one.

    ``last_valid`` comes from the page, so each of its values is checked too (its default
    stands in for one that fails its rule).
    """
    last_valid = last_valid if isinstance(last_valid, dict) else {}
    values, errors = {}, {}
    for name in CONTROLS:
        try:
            values[name] = parse_control(name, raw.get(name))
        except ValueError as exc:
            values[name] = _valid_or_default(name, last_valid.get(name))
            kept = shown_text(name, values[name])  # as the box shows it
            errors[name] = f"{exc}; keeping {quoted(kept)}"
    if not uses_momentum(values["optimizer"]):
        errors.pop("momentum", None)  # the box is off: what it holds is not part of the run
    problem = batch_problem(values)
    if problem:  # too large for the data set chosen: the last valid size if it fits, else the full batch
        kept = _valid_or_default("batch", last_valid.get("batch"))
        values["batch"] = kept if not batch_problem({**values, "batch": kept}) else None
        errors["batch"] = f"{problem}; keeping {quoted(shown_text('batch', values['batch']))}"
    if values["batch"] is None:
        errors.pop("batch_seed", None)  # the full batch has no order: the box is off
    return settled(values), errors


def _valid_or_default(name: str, value: Any) -> Any:
    try:
        return parse_control(name, value)
    except ValueError:
        return RULES[name].default


def uses_momentum(optimizer: Any) -> bool:
    """Whether the optimizer reads the Momentum β control (Adam as its beta1)."""
    return optimizer in WITH_MOMENTUM


def settled(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the default momentum if the optimizer reads none (gd), and the default
    batch seed for the full batch (which has no order): one run, one set of values, so that
    its link (which leaves them out), its request and its CLI line agree, and a link from
    before the optimizers or mini-batches came means the run it meant then."""
    if not uses_momentum(values.get("optimizer")):
        values = {**values, "momentum": RULES["momentum"].default}
    if "batch_seed" in values and values.get("batch") is None:
        values = {**values, "batch_seed": RULES["batch_seed"].default}
    return values


def to_config(values: dict[str, Any]) -> RunConfig:
    """Checked control values -> RunConfig (view settings are not part of it)."""
    fields = {RULES[name].field: values[name] for name in RUN_CONTROLS}
    return dataclasses.replace(DEFAULTS, **fields)


# Run settings that came after the first release: a page loaded before them (open across a
# deploy) sends none of them, and its run is the one it showed, with their defaults (plain GD)
ADDED_LATER = ("optimizer", "momentum")
BATCH_ADDED_LATER = ("batch", "batch_seed")  # likewise, mini-batches: the full batch


def run_values(raw: Any) -> dict[str, Any]:
    """The run settings a page sent with a job, each checked by its rule on the server.

    The page's stores are not trusted: a hand-made request can put anything in them. The
    settings of ``ADDED_LATER`` (and of ``BATCH_ADDED_LATER``) may be absent together (a page
    older than they are): they take their defaults. A batch larger than the data set's
    training rows is refused.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"the run request must be a mapping of settings, got {quoted(raw)}")
    for later in (ADDED_LATER, BATCH_ADDED_LATER):
        if not any(name in raw for name in later):
            raw = {**raw, **{name: RULES[name].default for name in later}}
    unknown = sorted(set(raw) - set(CONTROLS), key=str)
    missing = [name for name in RUN_CONTROLS if name not in raw]
    wrong = [f"unknown settings {quoted(unknown)}"] if unknown else []
    wrong += [f"no {quoted(missing)}"] if missing else []
    if wrong:
        raise ValueError(f"the run request has {' and '.join(wrong)}; it must give {', '.join(RUN_CONTROLS)}")
    values = {name: parse_control(name, raw[name]) for name in RUN_CONTROLS}
    problem = batch_problem(values)
    if problem:
        raise ValueError(problem)
    return settled(values)


@dataclass(frozen=True)
class Limits:
    """What this server accepts: jobs whose estimated time (core.engine.speed's cost model, in units of
    the engine's speed measured here) and record memory are within bounds."""

    rate: float  # trajectory-steps per second of the default network (21 rows, one thread), measured
    max_seconds: float = 60.0
    max_record_bytes: float = 400e6

    def check(
        self, config: RunConfig, n_rows: int | None = None, advice: str = "use fewer iterations or copies"
    ) -> float:
        """The estimated seconds of one batch of ``n_rows`` trajectories of ``config`` trained
        together in the job's process (default: the Divergence view's run, reference + copies,
        with its sharpness points and ablation), or ValueError with the estimate, the limit and
        ``advice``; then the memory of its records."""
        net = network_of(config)
        if n_rows is None:
            saved = config.n_steps // config.save_every + 1 + int(config.n_steps % config.save_every > 0)
            points = saved if net.n_params <= EXACT_MAX_PARAMS else min(saved, SHARPNESS_POINTS)
            points *= 2 if config.optimizer == "adam" else 1  # its preconditioned sharpness beside
            rows = 1 + config.n_perturbations
            estimate = run_estimate(net, rows, config.n_steps, self.rate, sharpness_points=points, ablation=True)
            estimate = with_tangent(estimate, net, config, self.rate)  # carried along (compute.stability)
        else:
            rows = n_rows
            estimate = run_estimate(net, rows, config.n_steps, self.rate)
        seconds = self.allow(estimate, advice, "this run")
        size = descend_bytes(config.n_steps, rows, net.n_params, config.save_every)
        if size > self.max_record_bytes:
            raise ValueError(
                f"this run needs ~{size / 1e6:,.0f} MB of memory for its records; "
                f"the limit is {self.max_record_bytes / 1e6:,.0f} MB"
            )
        return seconds

    def allow(self, estimate: Estimate, advice: str, what: str = "this job") -> float:
        """``estimate.seconds``, or ValueError if over the limit, with the numbers the estimate
        is made of (they add up: steps / (rate x processes) + the rest)."""
        if estimate.seconds <= self.max_seconds:
            return estimate.seconds
        w = estimate.workers
        speed = f"~{estimate.rate:,.0f} trajectory-steps/s" + (f" on each of {w} processes" if w > 1 else "")
        raise ValueError(
            f"{what} is ~{estimate.trajectory_steps:,} trajectory-steps of a {estimate.n_params}-parameter network, "
            f"~{_seconds(estimate.seconds)} s on this server ({speed}: ~{_seconds(estimate.training)} s, and "
            f"~{_seconds(estimate.besides)} s besides: starting processes, per-step calls, sharpness, fits, "
            "processes sharing the cores); "
            f"the limit is {self.max_seconds:g} s: {advice}"
        )


def with_tangent(estimate: Estimate, net: NetworkCost, config: RunConfig, rate: float) -> Estimate:
    """A run's estimate and its leading tangent exponent's, carried along the run's training:
    TANGENT_ROWS rows more in each step's call, and the carrier's own TANGENT_STEP (Adam's:
    ADAM_TANGENT_STEP, its Jacobian on (theta, m, v))."""
    n_steps = config.n_steps
    carrier = ADAM_TANGENT_STEP if config.optimizer == "adam" else TANGENT_STEP
    training = (n_steps + 1) * TANGENT_ROWS * net.row / rate
    return dataclasses.replace(
        estimate,
        seconds=estimate.seconds + training + (n_steps + 1) * carrier / rate,
        training=estimate.training + training,
        trajectory_steps=estimate.trajectory_steps + TANGENT_ROWS * n_steps,
    )


def mlp_of(config: RunConfig) -> MLP:
    """``config``'s network, sized to its named data set's features and classes."""
    _, n_inputs, n_classes = dataset_shape(config.dataset)
    return MLP(n_inputs, config.hidden, n_classes, config.activation, config.output)


def network_of(config: RunConfig) -> NetworkCost:
    """The cost of ``config``'s network on its data set (core.engine.speed.network_cost)."""
    return network_cost(mlp_of(config), dataset_shape(config.dataset)[0], _test_rows(config.dataset))


@functools.cache
def _test_rows(dataset: str) -> int:
    return dataset_sizes(dataset)[1]  # MNIST's are known: it is not loaded to price a job


def _seconds(value: float) -> str:
    """60.4 -> "60.4", 539.2 -> "539": enough digits that an estimate over a limit reads so."""
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def admit(raw: Any, limits: Limits) -> RunConfig:
    """The config of a job from the settings its page sent, checked on the server: every
    value by its rule, then the estimated cost."""
    config = to_config(run_values(raw))
    limits.check(config)
    return config
