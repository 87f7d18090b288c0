"""Chaos diagnostics of one long run (docs/method.md §7; the paper's Figs. 13-17): what the loss
settles on (:mod:`core.analysis.attractor`), its autocorrelation against the shuffle-null band, local
expansion rates (estimators in :mod:`core.analysis.chaos`), the fraction of loss-increasing steps, the
weight norm, and the series of the weights that move the most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.attractor import Attractor, classify_attractor
from core.analysis.chaos import (
    N_SHUFFLES,
    ExpansionRates,
    autocorrelation,
    expansion_rates,
    loss_increase_fraction,
    shuffle_null_band,
)
from core.analysis.labels import chance_accuracy
from core.arrays import BoolArray, FloatArray, IntArray
from core.config import RunConfig
from core.data import Dataset
from core.engine.model import MLP
from core.engine.training import Progress, Trajectory, check_memory, descend, descend_bytes
from core.experiments.stability import batches_for, dataset_for, network_for, start_and_directions
from core.validate import check_int

TRANSIENT = 1000  # steps left out (Iris, eta 5, seed 0 is on its period-10 cycle from step 350)
MAX_LAG = 200  # ACF lags: 20 periods of the period-10 cycle of that run
N_TOP = 5  # weights whose series are returned
# The shuffles' generator is default_rng(SeedSequence(seed, spawn_key=SHUFFLE_KEY)): the network
# comes from SeedSequence(seed) itself, and the bootstraps of the sweeps use two-element keys,
# so this stream is independent of all of them.
SHUFFLE_KEY = (2**31 - 2,)


def path_lengths(theta: FloatArray) -> FloatArray:
    """(S, P) saved parameters -> (P,) sum over saved steps of |w(s + 1) - w(s)|; steps with a
    non-finite value (after a divergence) add nothing."""
    step = np.abs(np.diff(np.asarray(theta, dtype=np.float64), axis=0))
    lengths: FloatArray = np.where(np.isfinite(step), step, 0.0).sum(axis=0)
    return lengths


def top_moving_weights(theta: FloatArray, n: int, *, eligible: BoolArray | None = None) -> IntArray:
    """(S, P) -> (n,) flat indices of the ``eligible`` parameters (P,) bool (default: all)
    with the longest path over the saved steps, longest first (lower index on ties).

    Path length, not net displacement |w(S) - w(0)|: at large eta a weight can jump back and
    forth on a cycle and end where it began; the path ranks it by how much it moves."""
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2:
        raise ValueError(f"theta must be (S, P) saved parameters, got shape {theta.shape}")
    mask = np.ones(theta.shape[1], dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    if mask.shape != theta.shape[1:]:
        raise ValueError(f"eligible must be a (P,) = ({theta.shape[1]},) mask, got shape {mask.shape}")
    check_int("n", n, low=1, high=int(mask.sum()))
    candidates = np.flatnonzero(mask)
    order = np.argsort(-path_lengths(theta)[candidates], kind="stable")
    return candidates[order[:n]]


def weight_series(theta: FloatArray, indices: IntArray) -> FloatArray:
    """(S, P), (n,) -> (S, n) the saved values of those parameters."""
    return np.asarray(theta)[:, np.asarray(indices, dtype=np.int64)]


def parameter_label(mlp: MLP, index: int) -> str:
    """Flat index -> "p<index>_<layer>_<position>", e.g. "p17_W1_1_7" (input 1 -> hidden 7),
    "p45_b1_5" ("W3", "b3", ... with more hidden layers); plain characters, so it serves as a CSV
    column name."""
    check_int("index", index, low=0, high=mlp.n_params - 1)
    for name, view in zip(mlp.layer_names, mlp.views(np.arange(mlp.n_params)), strict=True):
        where = np.argwhere(view == index)
        if where.size:
            return "_".join([f"p{index}", name, *map(str, where[0])])
    raise AssertionError("unreachable: the views cover every index")


# ---- the experiment ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Diagnostics:
    """Chaos diagnostics of the reference network of ``config`` (no perturbed copies).

    loss, accuracy, weight_norm: (T + 1,) training loss, accuracy and ||theta||_1 per step
    transient: the ACF and the rates use loss[transient:]
    acf, null_low, null_high: (max_lag + 1,) its ACF and shuffle-null band (NaN if too short)
    expansion: rates of loss[transient:] (``rate_steps`` gives their iterations)
    loss_increase_fraction: over all steps up to a divergence
    steps: (S,) saved iterations; top_indices (n,), top_labels; top_series: (S, n)
    diverged_at: first non-finite step or -1; cancelled: stopped by on_progress
    attractor: what the whole loss series settles on (fixed point, cycle, aperiodic, diverged)
    chance: the training accuracy of always answering the most common class
    """

    config: RunConfig
    loss: FloatArray
    accuracy: FloatArray
    weight_norm: FloatArray
    transient: int
    acf: FloatArray
    null_low: FloatArray
    null_high: FloatArray
    expansion: ExpansionRates
    loss_increase_fraction: float
    steps: IntArray
    top_indices: IntArray
    top_labels: tuple[str, ...]
    top_series: FloatArray
    diverged_at: int
    attractor: Attractor
    chance: float
    cancelled: bool = False

    @property
    def rate_steps(self) -> IntArray:
        """(R,) iterations of the reference times of ``expansion``."""
        return self.transient + self.expansion.t0

    @property
    def fraction_outside_band(self) -> float:
        """Share of lags >= 1 whose ACF lies outside [null_low, null_high] (NaN without an ACF)."""
        acf, low, high = self.acf[1:], self.null_low[1:], self.null_high[1:]
        if acf.size == 0 or not np.isfinite(acf).all():
            return np.nan
        return float(np.mean((acf < low) | (acf > high)))


def run_diagnostics(
    config: RunConfig,
    *,
    transient: int = TRANSIENT,
    max_lag: int = MAX_LAG,
    n_shuffles: int = N_SHUFFLES,
    n_top: int = N_TOP,
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    on_progress: Progress | None = None,
) -> Diagnostics:
    """Train the reference network of ``config`` (drawn from the seed as ``run_stability`` draws
    it, or ``theta0``) for ``config.n_steps``, saving theta every ``config.save_every`` steps,
    and diagnose the run (docs/method.md §7). Every setting is checked before training."""
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    check_int("transient", transient, low=0, high=config.n_steps - 1)
    check_int("max_lag", max_lag, low=1, high=config.n_steps - transient)
    check_int("n_shuffles", n_shuffles, low=1, high=1_000_000)
    check_int("n_top", n_top, low=1, high=mlp.n_weights)
    check_memory(
        descend_bytes(config.n_steps, 1, mlp.n_params, config.save_every),
        f"the records of {config.n_steps + 1:,} steps",
        "use fewer steps or a larger save_every",
    )
    start, _ = start_and_directions(config, mlp, theta0)
    objective = mlp.objective(data.x_train, data.y_train, config.l2)
    trajectory = descend(
        objective,
        start[None, :],
        config.learning_rate,
        config.n_steps,
        optimizer=config.update_rule(),
        save_every=config.save_every,
        on_progress=on_progress,
        batches=batches_for(config, data, objective),
    )
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=SHUFFLE_KEY))
    return _diagnose(config, mlp, trajectory, rng, transient, max_lag, n_shuffles, n_top, chance_accuracy(data))


def _diagnose(
    config: RunConfig,
    mlp: MLP,
    trajectory: Trajectory,
    rng: np.random.Generator,
    transient: int,
    max_lag: int,
    n_shuffles: int,
    n_top: int,
    chance: float,
) -> Diagnostics:
    """Everything computed from the trained run; a run cancelled too early for the ACF gets NaN."""
    loss = trajectory.loss[:, 0]
    series = loss[transient:]
    if series.size > max_lag:
        acf = autocorrelation(series, max_lag)
        low, high = shuffle_null_band(series, max_lag, rng, n_shuffles=n_shuffles)
    else:
        acf = low = high = np.full(max_lag + 1, np.nan)
    theta = trajectory.theta[:, 0]  # (S, P)
    top = top_moving_weights(theta, n_top, eligible=mlp.weight_mask)
    return Diagnostics(
        config=config,
        loss=loss,
        accuracy=trajectory.accuracy[:, 0],
        weight_norm=trajectory.theta_norm[:, 0],
        transient=transient,
        acf=acf,
        null_low=low,
        null_high=high,
        expansion=expansion_rates(series),
        loss_increase_fraction=float(loss_increase_fraction(loss)) if loss.size > 1 else np.nan,
        steps=trajectory.steps,
        top_indices=top,
        top_labels=tuple(parameter_label(mlp, int(i)) for i in top),
        top_series=weight_series(theta, top),
        diverged_at=int(trajectory.diverged_at[0]),
        attractor=classify_attractor(loss),
        chance=chance,
        cancelled=trajectory.cancelled,
    )
