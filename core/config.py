"""The one configuration object of a run, and the settings of the FTLE estimator.

Defaults are those of the paper (Danovski, Soriano, Lacasa 2024) and of its authors' code.
Variants are made with ``dataclasses.replace``; a config round-trips through ``to_dict``/``from_dict`` (JSON,
the URL, the CLI and cache keys all use that form).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any

from core.engine.optimizers import GD, Optimizer
from core.validate import check_choice, check_float, check_grid, check_int

ACTIVATIONS = ("sigmoid", "tanh", "relu")
OUTPUTS = ("softmax", "legacy_sigmoid")
INITS = ("normal", "glorot")
PERTURBATIONS = ("cube", "sphere")
NORMS = ("l1", "l2")
DATASETS = (
    "iris",
    "digits",
    "wine",
    "breast_cancer",
    "mnist",
)  # by name (core.data.load_dataset); a user's file is passed as data
# always standardised (core.data: their features' scales differ by orders of magnitude), so a
# config on them reads standardize=True whatever it was given
STANDARDIZED_DATASETS = ("wine", "breast_cancer")
# network settings a data set brings unless the user sets them (RunConfig.for_dataset)
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "iris": {"hidden": 10, "activation": "sigmoid"},
    "digits": {"hidden": 64, "activation": "tanh"},
    "wine": {"hidden": 10, "activation": "sigmoid"},  # the paper's network, on other tabular data
    "breast_cancer": {"hidden": 10, "activation": "sigmoid"},
    "mnist": {"hidden": 64, "activation": "tanh"},  # the follow-up work's 784-64-10 tanh (arXiv 2506.08523)
}

MAX_SEED = 2**63 - 1
MAX_DEPTH = 4  # hidden layers
MAX_WIDTH = 1024  # units in a hidden layer
OPTIMIZER_FIELDS = ("optimizer", "momentum", "beta2", "adam_eps")
# mini-batches (docs/method.md §13); a full-batch config's dict and key leave them out, so they
# are those of configs made before mini-batches came, and old dicts without them still load
BATCH_FIELDS = ("batch_size", "batch_seed")
MAX_BATCH_SIZE = 10_000_000


# The largest learning rate and perturbation anywhere (page, CLI, API): beyond eta = 1000 every
# network diverges at once; a nudge of eps = 1 is already as large as the weights (N(0, 1)).
MAX_LEARNING_RATE = 1000.0
MAX_EPS = 1.0


def check_hidden(value: object) -> int | tuple[int, ...]:
    """The hidden layers' widths in their stored form: an int for one hidden layer (a 1-tuple
    becomes its int, so a one-layer config's dict, key and URL are those it always had), a
    tuple of 2 to ``MAX_DEPTH`` ints for a deeper network; each width in 1..``MAX_WIDTH``."""
    widths = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    ints = [int(w) for w in widths if isinstance(w, numbers.Integral) and not isinstance(w, bool)]
    if not (len(ints) == len(widths) and 1 <= len(ints) <= MAX_DEPTH and all(1 <= w <= MAX_WIDTH for w in ints)):
        raise ValueError(
            f"hidden must be 1 to {MAX_DEPTH} hidden layers of 1 to {MAX_WIDTH} units each "
            f"(an integer, or one per layer), got {value!r}"
        )
    return ints[0] if len(ints) == 1 else tuple(ints)


def hidden_widths(hidden: int | tuple[int, ...]) -> tuple[int, ...]:
    """The widths of the hidden layers, first to last, of a stored ``hidden`` (``check_hidden``)."""
    return (hidden,) if isinstance(hidden, int) else tuple(hidden)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One reference network plus ``n_perturbations`` perturbed copies, trained by GD.

    Network D -> hidden -> C on the data set ``dataset`` (or the user's data, passed
    separately); see docs/method.md §1 and §2. ``hidden`` is the width of the one hidden layer,
    or the widths of 2 to 4 hidden layers (``(10, 10)``: D -> 10 -> 10 -> C, docs/method.md
    §12); ``widths`` is always the tuple. ``for_dataset`` applies a data set's network defaults
    (digits: 64 tanh units).
    """

    seed: int = 0
    dataset: str = "iris"
    # network
    hidden: int | tuple[int, ...] = 10  # an int for one hidden layer; (H1, ..., HL) for L = 2..4
    activation: str = "sigmoid"
    output: str = "softmax"
    init: str = "normal"
    # data
    standardize: bool = False
    split_seed: int = 0
    # training
    learning_rate: float = 0.01
    n_steps: int = 5000
    l2: float = 0.0
    save_every: int = 100
    # the update rule (core.engine.optimizers, PyTorch's conventions); beta is momentum's, Adam's beta1
    optimizer: str = "gd"
    momentum: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-8
    # mini-batch SGD (None: the full batch); the batch order is drawn from batch_seed alone, so
    # a reference, its copies and every network of a map see the same batches
    batch_size: int | None = None
    batch_seed: int = 0
    # perturbation
    eps: float = 1e-8
    n_perturbations: int = 20
    perturbation: str = "cube"
    distance: str = "l1"

    def __post_init__(self) -> None:
        check_int("seed", self.seed, low=0, high=MAX_SEED)
        check_choice("dataset", self.dataset, DATASETS)
        object.__setattr__(self, "hidden", check_hidden(self.hidden))
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("output", self.output, OUTPUTS)
        check_choice("init", self.init, INITS)
        if not isinstance(self.standardize, bool):
            raise ValueError(f"standardize must be true or false, got {self.standardize!r}")
        if self.dataset in STANDARDIZED_DATASETS:
            object.__setattr__(self, "standardize", True)
        check_int("split_seed", self.split_seed, low=0, high=MAX_SEED)
        if self.dataset == "mnist" and self.split_seed != 0:
            raise ValueError(
                f"split_seed must be 0 for mnist (its published training and test images), got {self.split_seed!r}"
            )
        # float() so that an int typed by a user (eta=1) is stored as float64
        rate = check_float("learning_rate", self.learning_rate, low=0.0, high=MAX_LEARNING_RATE)
        object.__setattr__(self, "learning_rate", rate)
        check_int("n_steps", self.n_steps, low=1, high=10_000_000)
        object.__setattr__(self, "l2", check_float("l2", self.l2, low=0.0, high=1e3, low_inclusive=True))
        check_int("save_every", self.save_every, low=1, high=10_000_000)
        object.__setattr__(self, "eps", check_float("eps", self.eps, low=0.0, high=MAX_EPS))
        check_int("n_perturbations", self.n_perturbations, low=1, high=10_000)
        check_choice("perturbation", self.perturbation, PERTURBATIONS)
        check_choice("distance", self.distance, NORMS)
        if self.batch_size is not None:  # the upper bound, the training rows, is the data's (BatchOrder)
            size = self.batch_size
            if isinstance(size, bool) or not isinstance(size, numbers.Integral) or not 1 <= size <= MAX_BATCH_SIZE:
                raise ValueError(f"batch_size must be a whole number from 1 to the training rows, got {size!r}")
            object.__setattr__(self, "batch_size", int(size))
        object.__setattr__(self, "batch_seed", check_int("batch_seed", self.batch_seed, low=0, high=MAX_SEED))
        rule = self.update_rule()  # checks the optimizer's settings
        for name in ("momentum", "beta2", "adam_eps"):  # as floats (a user's 0 is stored as 0.0)
            object.__setattr__(self, name, getattr(rule, name))

    @property
    def widths(self) -> tuple[int, ...]:
        """The widths of the hidden layers, first to last: ``(10,)`` by default."""
        return hidden_widths(self.hidden)

    def update_rule(self) -> Optimizer:
        """The optimizer of this run (GD unless ``optimizer`` says otherwise)."""
        return Optimizer(self.optimizer, self.momentum, self.beta2, self.adam_eps)

    def to_dict(self) -> dict[str, Any]:
        """Every setting; a full-batch config leaves out the batch settings at their defaults
        (its dict is the one it had before mini-batches came)."""
        values = dataclasses.asdict(self)
        if self.batch_size is None and self.batch_seed == 0:
            for name in BATCH_FIELDS:
                del values[name]
        return values

    @classmethod
    def for_dataset(cls, dataset: str, **settings: Any) -> RunConfig:
        """A config on ``dataset`` with that data set's network defaults, then ``settings``."""
        check_choice("dataset", dataset, DATASETS)
        return cls(**{**DATASET_DEFAULTS[dataset], **settings, "dataset": dataset})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """Build from a mapping; unknown keys are an error (a typo must not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def key(self) -> str:
        """A stable hash of every setting that changes the run, for caches (plain GD ignores
        the optimizer's constants and the full batch the batch seed, so their keys are those of
        configs before optimizers and mini-batches came)."""
        values = self.to_dict()
        if self.optimizer == GD.name:
            for name in OPTIMIZER_FIELDS:
                del values[name]
        if self.batch_size is None:
            for name in BATCH_FIELDS:
                values.pop(name, None)
        text = json.dumps(values, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class FTLEConfig:
    """The finite-time Lyapunov exponent estimator of docs/method.md §3.

    Windows ``[a, a + w)`` with ``a`` on the ``starts`` grid and ``w`` on the ``lengths``
    grid (both inclusive ``(start, stop, step)``); the best R^2 window wins, and the fit
    is kept if ``r2 > min_r2`` and ``slope > min_slope``. Only windows that start at or before
    the saturation time compete: the first t at which ln<d(t)> is within
    ``saturation_margin`` of its maximum (a curve that never rises that much above ln<d(0)>
    has no saturation time; a margin above any curve's rise turns the rule off).
    """

    starts: tuple[int, int, int] = (0, 100, 5)
    lengths: tuple[int, int, int] = (30, 100, 5)
    min_r2: float = 0.9
    min_slope: float = 0.05
    # ln 10: <d> within a factor 10 of its largest value. Measured on Iris at eta = 1, T = 200,
    # 5 copies, 500 networks (`cli.py lyapunov --eta 1 --eps 1e-14 1e-8 1e-3 --inits 500
    # --perturbations 5 --steps 200`): lambda 0.318 / 0.287 / 0.118, kept 94% / 91% / 40%
    # (rule off: 0.318 / 0.287 / 0.114, kept 94% / 91% / 39%; the paper: 0.335 / 0.285 /
    # 0.118, ~90% / 90% / 38%); margins 1 and ln 100 agree within 0.004 (ln 100 keeps 30% at
    # 1e-3). It moves eta = 2.848, seed 0 (300 steps, 20 copies) from the plateau window
    # [70, 100) (slope 0.008, not kept) to [0, 60) on the rise (slope 0.33, kept). Why a
    # window's start, not its end, is held to the saturation time: docs/method.md §3.
    saturation_margin: float = math.log(10)

    def __post_init__(self) -> None:
        object.__setattr__(self, "starts", check_grid("starts", self.starts, low=0, high=10_000_000))
        object.__setattr__(self, "lengths", check_grid("lengths", self.lengths, low=0, high=10_000_000))
        if self.lengths[0] < 3:
            raise ValueError(f"lengths must start at 3 or more points for a fit, got {self.lengths!r}")
        object.__setattr__(self, "min_r2", check_float("min_r2", self.min_r2, low=0.0, high=1.0, low_inclusive=True))
        object.__setattr__(self, "min_slope", check_float("min_slope", self.min_slope, low=-1e6, high=1e6))
        margin = check_float("saturation_margin", self.saturation_margin, low=0.0, high=1e6, low_inclusive=True)
        object.__setattr__(self, "saturation_margin", margin)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
