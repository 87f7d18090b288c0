"""Typed records: what a job computes and the views draw and export from (no Dash).

A record holds NumPy arrays and plain numbers; records are pickled into the results cache,
so a change of their fields changes ``RECORD_VERSION``, which is part of every cache key
(an entry of an older shape is then never read). Shapes: T steps, M copies, K = 1 + M
trajectories, P parameters, E radii, G initial networks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from core.config import RunConfig
from core.experiments.diagnostics import Diagnostics

# 5: Diagnostics gained attractor and chance; 6: regime label 'slow', FTLE windows start by saturation;
# 7: the leading tangent exponent of a run and of an FTLE sweep's first network, the spectrum record
# (a map's value kind and column names came as fields with defaults: a map pickled before them
# showed its kind's own value, which the defaults say, so RECORD_VERSION stays)
RECORD_VERSION = 7


@dataclass(frozen=True)
class FTLEWindow:
    """The best-R^2 window fit of ln<d(t)> (docs/method.md §3); NaN where no window fits."""

    slope: float
    r2: float
    start: float
    length: float
    intercept: float
    kept: bool

    @property
    def found(self) -> bool:
        return math.isfinite(self.slope)


@dataclass(frozen=True, eq=False)
class RunRecord:
    """The main run: a reference network and M perturbed copies (their saved parameters too)."""

    config: RunConfig
    iterations: np.ndarray  # (T + 1,)
    distance: np.ndarray  # (T + 1, M) d_m(t)
    mean_distance: np.ndarray  # (T + 1,)
    normalized_distance: np.ndarray  # (T + 1,) <d> / (eps N_w)
    loss: np.ndarray  # (T + 1, K) row 0 = reference
    accuracy: np.ndarray  # (T + 1,) reference training accuracy
    theta_norm: np.ndarray  # (T + 1,) ||theta||_1 of the reference
    theta_start: np.ndarray  # (P,)
    theta_final: np.ndarray  # (P,)
    path_length: np.ndarray  # (P,)
    displacement: np.ndarray  # (P,) |w(T) - w(0)| / |w(0)|
    weight_mask: np.ndarray  # (P,) bool
    hidden: int | tuple[int, ...]  # as RunConfig.hidden: an int for one hidden layer, else the widths
    n_weights: int
    train_accuracy: float
    test_accuracy: float
    predictions: np.ndarray  # (N_train + N_test,) of the final reference
    ftle: FTLEWindow
    diverged_rows: tuple[int, ...]
    cancelled: bool
    saved_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (S,)
    theta: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))  # (S, K, P) saved parameters
    sharpness_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (S,) saved steps (some, for digits)
    sharpness: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (S,) top Hessian eigenvalue there
    # Adam's preconditioned sharpness lambda_max(P^-1 H) at sharpness_steps (docs/method.md §14);
    # None for the other optimizers, a stopped run, or a record pickled before it (the class's None)
    preconditioned_sharpness: np.ndarray | None = None
    ablation_w1: np.ndarray | None = None  # (D, H) L_w / L, None if the reference diverged
    ablation_w2: np.ndarray | None = None  # (H, C); (H1, H2) with more hidden layers
    # W3 .. W_{L+1} of a network of L > 1 hidden layers, (H2, H3) .. (HL, C); () for one. A field
    # with a default: a record pickled before it reads the class's (), so RECORD_VERSION stays
    ablation_rest: tuple[np.ndarray, ...] = ()
    # the reference's leading tangent exponent (docs/method.md §10, k = 1) over its first
    # ``leading_steps`` steps (fewer than T if it diverged); NaN and 0 where it is not
    # computed (Adam, a stopped run)
    leading_exponent: float = math.nan
    leading_steps: int = 0

    def ablations(self) -> tuple[np.ndarray, ...]:
        """L_w / L of every weight matrix, W1 .. W_{L+1} (input side first); () if the reference diverged."""
        if self.ablation_w1 is None or self.ablation_w2 is None:
            return ()
        return (self.ablation_w1, self.ablation_w2, *self.ablation_rest)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array field, by name (the NPZ export); a deeper network's ablation maps
        beyond W2 as ablation_w3, ..."""
        found = {f.name: v for f in fields(self) if isinstance(v := getattr(self, f.name), np.ndarray)}
        return found | {f"ablation_w{i}": a for i, a in enumerate(self.ablation_rest, start=3)}


@dataclass(frozen=True, eq=False)
class EpsSweepRecord:
    """One initial network at E radii (the paper's Figs. 4 and 6; docs/method.md §2)."""

    iterations: np.ndarray  # (T + 1,)
    eps: np.ndarray  # (E,)
    distance: np.ndarray  # (E, T + 1, M)
    normalized_distance: np.ndarray  # (E, T + 1)
    loss: np.ndarray  # (T + 1,) reference loss
    cancelled: bool


@dataclass(frozen=True, eq=False)
class FTLERecord:
    """FTLE statistics over G initial networks at E radii (the paper's Fig. 12; docs/method.md §3)."""

    eps: np.ndarray  # (E,)
    slopes: np.ndarray  # (G, E)
    kept: np.ndarray  # (G, E) bool
    mean: np.ndarray  # (E,)
    std: np.ndarray  # (E,)
    n_kept: np.ndarray  # (E,)
    total: int
    cancelled: bool
    ci_low: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (E,) 95% bootstrap CI of the mean
    ci_high: np.ndarray = field(default_factory=lambda: np.zeros(0))
    global_rate: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (E,) mean ln(<d(T)>/<d(0)>)/T
    # the leading tangent exponent of network 0 (the config's seed) over ``leading_steps`` of
    # the sweep's iterations (docs/method.md §10); NaN and 0 where it is not computed (Adam)
    leading_exponent: float = math.nan
    leading_steps: int = 0
    seed: int = 0  # network 0's


@dataclass(frozen=True, eq=False)
class OrbitalRecord:
    """The copies made at iteration t0 of the reference (docs/method.md §4)."""

    t0: int
    iterations: np.ndarray  # (T - t0 + 1,)
    normalized_distance: np.ndarray  # (T - t0 + 1,)
    loss: np.ndarray  # (T - t0 + 1,)
    cancelled: bool


@dataclass(frozen=True, eq=False)
class MapRecord:
    """A map over the learning rate (dashboard.views.regimes), possibly partial (a live or
    cancelled job: cells not computed are NaN and not ``done``).

    kind "eta": ``table`` holds the sweep's summary columns (E,) and ``regimes`` the majority
    label per eta; a 2-D map ("eta-eps", "eta-seed", "eta-width", ...): ``value``, ``share``,
    ``diverged``, ``done`` are (E, Y) over ``ys`` (eps, seeds or a setting's values), what they
    are named by ``value_kind``, ``value_name`` and ``share_name`` (core.experiments.maps);
    "orbit": ``losses`` (E, N).
    """

    kind: str
    config: RunConfig
    etas: np.ndarray
    ys: np.ndarray
    n_inits: int
    table: dict[str, np.ndarray]
    regimes: tuple[str | None, ...]
    value: np.ndarray
    share: np.ndarray
    diverged: np.ndarray
    done: np.ndarray
    losses: np.ndarray
    target_accuracy: float
    cancelled: bool
    value_kind: str = "default"  # what a 2-D map's points show (core.experiments.maps.VALUES)
    value_name: str = ""  # its column, e.g. "ftle_mean" ("": the kind's own, or the strip and the orbit diagram)
    share_name: str = ""


@dataclass(frozen=True, eq=False)
class SpectrumRecord:
    """The tangent-space Lyapunov spectrum of a config's reference network (docs/method.md §10):
    the first k of ``dim`` exponents (P, or 2P with momentum), largest first, and their running
    estimates (in QR-column order, which converges to that order) at up to
    ``compute.SPECTRUM_POINTS`` steps."""

    config: RunConfig
    exponents: np.ndarray  # (k,) per iteration, largest first
    running_steps: np.ndarray  # (S,)
    running: np.ndarray  # (S, k)
    dim: int  # the tangent space's dimension
    n_positive: int
    total: float  # the sum of the k exponents
    kaplan_yorke: float  # a lower bound when k < dim and every partial sum is positive
    n_steps: int  # the steps averaged over (fewer than T if the trajectory diverged or it was stopped)
    diverged_at: int | None
    cancelled: bool

    @property
    def k(self) -> int:
        return int(self.exponents.size)


Record = (
    RunRecord | EpsSweepRecord | FTLERecord | OrbitalRecord | MapRecord | SpectrumRecord | Diagnostics
)  # (core.experiments.diagnostics)
