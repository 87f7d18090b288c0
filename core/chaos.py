"""Chaos diagnostics of one long run (SPEC section 7; the paper's Figs. 13-17).

- Autocorrelation of the loss series after a transient, against a shuffle-null band: the
  ACF of randomly permuted copies of the same values, percentiles per lag.
- Local expansion rates of the loss series (a scalar version of Rosenstein et al. 1993 /
  Kantz 1994): for a reference time t0, its neighbours t1 are the times whose loss is
  within ``tolerance`` of L(t0); d_n = mean over neighbours |L(t0 + n) - L(t1 + n)|; the
  rate is the slope of ln d_n against n on the prefix n < m with the best R^2. On the
  logistic map x -> 4x(1 - x) the rates centre on its Lyapunov exponent ln 2.
- The fraction of steps that increase the loss, and the weights that move the most.

Reference: Danovski, Soriano, Lacasa (2024), arXiv 2404.05782, section 3.4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.config import RunConfig
from core.data import Dataset
from core.experiments import _start_and_directions, dataset_for, network_for
from core.lyapunov import _line_fits
from core.model import MLP
from core.training import Progress, Trajectory, check_memory, descend, descend_bytes
from core.validate import check_float, check_int

N_SHUFFLES = 1000  # SPEC 7: shuffled copies behind the null band
PERCENTILES = (3.0, 97.0)  # SPEC 7: the band, per lag
SHUFFLE_BATCH_VALUES = 2**21  # FFT points per batch of shuffles: work arrays of ~16 MB each
TOLERANCE = 5e-5  # SPEC 7: |L(t1) - L(t0)| below this makes t1 a neighbour of t0
# Steps a pair is followed: from 5e-5 apart, growth at ln 2 per step (logistic map) saturates
# at O(1) in ~14 steps; past saturation ln d_n is flat and the best-R^2 prefix leaves it out.
HORIZON = 20
# Shortest prefix fitted: for m points of pure noise R^2 ~ Beta(1/2, (m - 2)/2), so
# P(R^2 > 0.9) is 20% for m = 3, 1.4% for 5 and 0.4% for 6.
MIN_POINTS = 6
N_REFERENCES = 1000  # reference times, evenly spread: enough for a histogram in ~0.05 s
MAX_NEIGHBOURS = 50  # nearest in value kept: a periodic series has ~T/period of them
SIGNIFICANT_R2 = 0.9  # as the FTLE acceptance of SPEC 3
# ... and the fitted stretch grows d tenfold: the rounding jitter of a periodic series (a few
# ulps) may fit a rising line, but cannot grow by a factor of 10
SIGNIFICANT_GROWTH = np.log(10.0)
TRANSIENT = 1000  # steps left out (Iris, eta 5, seed 0 is on its final cycle by step 500)
MAX_LAG = 200  # ACF lags: 20 periods of the period-10 cycle of that run
N_TOP = 5  # weights whose series are returned
# The shuffles' generator is default_rng(SeedSequence(seed, spawn_key=SHUFFLE_KEY)): the network
# comes from SeedSequence(seed) itself, run_lyapunov spawns keys (i,) with i <= 1e6 and regimes
# uses two-element keys, so this stream is independent of all of them.
SHUFFLE_KEY = (2**31 - 2,)


# ---- autocorrelation ---------------------------------------------------------------------
def _checked_series(series: np.ndarray, max_lag: int) -> np.ndarray:
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"series must be a 1-D array of 2 or more values, got shape {x.shape}")
    check_int("max_lag", max_lag, low=0, high=x.size - 1)
    return x


def _acf_rows(x: np.ndarray, max_lag: int) -> np.ndarray:
    """(B, T) -> (B, max_lag + 1) normalised ACF by FFT (zero-padded: no wrap-around); NaN on
    a constant row (zero variance) or one with a non-finite value."""
    n_fft = 1 << (2 * x.shape[-1] - 1).bit_length()
    centred = x - x.mean(axis=-1, keepdims=True)
    power = np.abs(np.fft.rfft(centred, n=n_fft, axis=-1)) ** 2
    cov = np.fft.irfft(power, n=n_fft, axis=-1)[:, : max_lag + 1]
    flat = ~(np.ptp(x, axis=-1) > 0)  # also True where x holds NaN
    with np.errstate(all="ignore"):
        acf = cov / cov[:, :1]
    acf[flat] = np.nan
    return acf


def autocorrelation(series: np.ndarray, max_lag: int) -> np.ndarray:
    """(T,) -> (max_lag + 1,) sum_t (x_t - m)(x_{t+k} - m) / sum_t (x_t - m)^2, lag 0 = 1
    (the biased estimator, as statsmodels' ``acf``). NaN if the series is constant or holds
    a non-finite value."""
    x = _checked_series(series, max_lag)
    return _acf_rows(x[None, :], max_lag)[0]


def shuffle_null_band(
    series: np.ndarray,
    max_lag: int,
    rng: np.random.Generator,
    *,
    n_shuffles: int = N_SHUFFLES,
    percentiles: tuple[float, float] = PERCENTILES,
) -> tuple[np.ndarray, np.ndarray]:
    """(T,) -> low, high (max_lag + 1,): percentiles per lag of the ACF of ``n_shuffles``
    random permutations of the series (same values, no temporal order). NaN where the ACF is."""
    x = _checked_series(series, max_lag)
    check_int("n_shuffles", n_shuffles, low=1, high=1_000_000)
    low, high = (check_float("percentiles", p, low=0.0, high=100.0, low_inclusive=True) for p in percentiles)
    if not low < high:
        raise ValueError(f"percentiles must be (low, high) with low < high, got {percentiles!r}")
    batch = max(1, SHUFFLE_BATCH_VALUES // (1 << (2 * x.size - 1).bit_length()))
    acfs = np.empty((n_shuffles, max_lag + 1))
    for start in range(0, n_shuffles, batch):
        rows = min(batch, n_shuffles - start)
        acfs[start : start + rows] = _acf_rows(rng.permuted(np.tile(x, (rows, 1)), axis=1), max_lag)
    band = np.percentile(acfs, [low, high], axis=0)
    return band[0], band[1]


# ---- local expansion rates ---------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ExpansionRates:
    """Per reference time (R of them); indices count from the start of the series given.

    t0: (R,) reference times; level: (R,) the series there, L(t0)
    n_neighbours: (R,) neighbours used (0: no rate, NaN fields)
    curves: (R, horizon + 1) d_n, n = 0..horizon
    rate, r2: (R,) slope of ln d_n vs n and R^2 on the best prefix, n < n_points (R,)
    significant: (R,) r2 > SIGNIFICANT_R2, rate > 0, and d grew tenfold over the fit:
                 rate (n_points - 1) >= SIGNIFICANT_GROWTH
    """

    t0: np.ndarray
    level: np.ndarray
    n_neighbours: np.ndarray
    curves: np.ndarray
    rate: np.ndarray
    r2: np.ndarray
    n_points: np.ndarray
    significant: np.ndarray

    @property
    def rates(self) -> np.ndarray:
        """(R',) the finite rates: the values of the histogram."""
        return self.rate[np.isfinite(self.rate)]

    @property
    def median_rate(self) -> float:
        return float(np.median(self.rates)) if self.rates.size else np.nan

    @property
    def fraction_significant(self) -> float:
        """Significant fits among the reference times with a rate (NaN if none has one)."""
        n = self.rates.size
        return float(self.significant.sum() / n) if n else np.nan

    def histogram(self, bins: int = 30) -> tuple[np.ndarray, np.ndarray]:
        """counts (bins,), edges (bins + 1,) of the finite rates."""
        return np.histogram(self.rates, bins=check_int("bins", bins, low=1, high=10_000))


def expansion_rates(
    series: np.ndarray,
    *,
    tolerance: float = TOLERANCE,
    horizon: int = HORIZON,
    min_points: int = MIN_POINTS,
    min_separation: int | None = None,
    n_references: int = N_REFERENCES,
    max_neighbours: int = MAX_NEIGHBOURS,
) -> ExpansionRates:
    """Local expansion rates of a scalar series (T,) -> :class:`ExpansionRates`.

    Reference times: up to ``n_references`` evenly spread over the times t whose stretch
    [t, t + horizon] is finite (deterministic). Neighbours of t0: such times t1 with
    |x(t1) - x(t0)| < tolerance and |t1 - t0| > ``min_separation`` (default ``horizon``: the
    two stretches followed do not overlap, so a neighbour is another visit to the same
    value, not the same visit a step later, whose "separation" is the local slope of the
    series); at most ``max_neighbours``, the nearest in value. Prefixes n < m for m from
    ``min_points`` to horizon + 1; ties go to the longest. A series too short for one
    stretch gives R = 0.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"series must be a 1-D array, got shape {x.shape}")
    check_float("tolerance", tolerance, low=0.0, high=np.inf)
    check_int("horizon", horizon, low=2, high=100_000)
    check_int("min_points", min_points, low=3, high=horizon + 1)
    separation = horizon if min_separation is None else check_int("min_separation", min_separation, low=0, high=x.size)
    check_int("n_references", n_references, low=1, high=10_000_000)
    check_int("max_neighbours", max_neighbours, low=1, high=10_000_000)
    times = _stretch_starts(x, horizon)
    t0 = times[np.unique(np.linspace(0, times.size - 1, min(n_references, times.size)).round().astype(int))]
    curves, counts = _separations(x, t0, times, tolerance, horizon, separation, max_neighbours)
    rate, r2, n_points = _best_prefix_fits(_log_separation(curves, x), min_points)
    with np.errstate(invalid="ignore"):
        significant = (r2 > SIGNIFICANT_R2) & (rate > 0) & (rate * (n_points - 1) >= SIGNIFICANT_GROWTH)
    return ExpansionRates(t0, x[t0], counts, curves, rate, r2, n_points, significant)


def _stretch_starts(x: np.ndarray, horizon: int) -> np.ndarray:
    """Times t whose values x[t .. t + horizon] are all finite."""
    if x.size <= horizon:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(sliding_window_view(np.isfinite(x), horizon + 1).all(axis=-1))


def _separations(x, t0, times, tolerance, horizon, separation, max_neighbours):
    """-> d_n (R, horizon + 1) (NaN rows where t0 has no neighbour), neighbour counts (R,)."""
    order = np.argsort(x[times], kind="stable")
    values, by_value = x[times][order], times[order]
    first = np.searchsorted(values, x[t0] - tolerance, side="left")
    last = np.searchsorted(values, x[t0] + tolerance, side="right")
    n = np.arange(horizon + 1)
    curves, counts = np.full((t0.size, horizon + 1), np.nan), np.zeros(t0.size, dtype=np.int64)
    for r, t in enumerate(t0):
        near = by_value[first[r] : last[r]]
        gap = np.abs(x[near] - x[t])
        keep = (gap < tolerance) & (np.abs(near - t) > separation)
        near, gap = near[keep], gap[keep]
        if near.size > max_neighbours:
            near = near[np.argsort(gap, kind="stable")[:max_neighbours]]
        if near.size:
            curves[r] = np.abs(x[near[:, None] + n] - x[t + n]).mean(axis=0)
            counts[r] = near.size
    return curves, counts


def _log_separation(curves: np.ndarray, x: np.ndarray) -> np.ndarray:
    """ln d_n, with d_n floored at the rounding of the series (machine epsilon times its
    largest magnitude): exact recurrences (d = 0) give a flat curve, not -inf."""
    finite = x[np.isfinite(x)]
    scale = np.abs(finite).max() if finite.size else 1.0
    floor = np.finfo(np.float64).eps * scale if scale > 0 else np.finfo(np.float64).tiny
    return np.log(np.maximum(curves, floor))  # NaN rows stay NaN


def _best_prefix_fits(y: np.ndarray, min_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, L) -> slope, R^2 and length of the best-R^2 prefix of each row (longest on ties)."""
    rows, length = y.shape
    slope, r2 = np.full(rows, np.nan), np.full(rows, np.nan)
    n_points, best = np.full(rows, length), np.full(rows, -np.inf)
    for m in range(length, min_points - 1, -1):
        s, _, q = _line_fits(y[:, :m])
        # the full horizon stands unless a shorter prefix fits better (a flat curve has no R^2)
        better = np.isfinite(s) if m == length else np.where(np.isfinite(q), q, -np.inf) > best
        slope[better], r2[better], n_points[better] = s[better], q[better], m
        best[better] = np.where(np.isfinite(q[better]), q[better], -np.inf)
    return slope, r2, n_points


# ---- loss increases and moving weights ---------------------------------------------------
def loss_increase_fraction(loss: np.ndarray) -> np.ndarray:
    """(T + 1, ...) -> (...) fraction of steps t with L(t + 1) > L(t). A step counts only while
    the loss has been finite from t = 0 through t + 1 (steps after a divergence do not count);
    NaN where no step counts."""
    loss = np.asarray(loss, dtype=np.float64)
    if loss.ndim < 1 or loss.shape[0] < 2:
        raise ValueError(f"loss must have 2 or more steps along its first axis, got shape {loss.shape}")
    alive = np.logical_and.accumulate(np.isfinite(loss), axis=0)[1:]  # (T, ...)
    with np.errstate(invalid="ignore"):
        up = (loss[1:] > loss[:-1]) & alive
    counted = alive.sum(axis=0)
    return np.where(counted > 0, up.sum(axis=0) / np.maximum(counted, 1), np.nan)


def path_lengths(theta: np.ndarray) -> np.ndarray:
    """(S, P) saved parameters -> (P,) sum over saved steps of |w(s + 1) - w(s)|; steps with a
    non-finite value (after a divergence) add nothing."""
    step = np.abs(np.diff(np.asarray(theta, dtype=np.float64), axis=0))
    return np.where(np.isfinite(step), step, 0.0).sum(axis=0)


def top_moving_weights(theta: np.ndarray, n: int, *, eligible: np.ndarray | None = None) -> np.ndarray:
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


def weight_series(theta: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """(S, P), (n,) -> (S, n) the saved values of those parameters."""
    return np.asarray(theta)[:, np.asarray(indices, dtype=np.int64)]


def parameter_label(mlp: MLP, index: int) -> str:
    """Flat index -> "p<index>_<layer>_<position>", e.g. "p17_W1_1_7" (input 1 -> hidden 7),
    "p45_b1_5"; plain characters, so it serves as a CSV column name."""
    check_int("index", index, low=0, high=mlp.n_params - 1)
    for name, view in zip(("W1", "b1", "W2", "b2"), mlp.views(np.arange(mlp.n_params)), strict=True):
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
    """

    config: RunConfig
    loss: np.ndarray
    accuracy: np.ndarray
    weight_norm: np.ndarray
    transient: int
    acf: np.ndarray
    null_low: np.ndarray
    null_high: np.ndarray
    expansion: ExpansionRates
    loss_increase_fraction: float
    steps: np.ndarray
    top_indices: np.ndarray
    top_labels: tuple[str, ...]
    top_series: np.ndarray
    diverged_at: int
    cancelled: bool = False

    @property
    def rate_steps(self) -> np.ndarray:
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
    theta0: np.ndarray | None = None,
    on_progress: Progress | None = None,
) -> Diagnostics:
    """Train the reference network of ``config`` (drawn from the seed as ``run_stability`` draws
    it, or ``theta0``) for ``config.n_steps``, saving theta every ``config.save_every`` steps,
    and diagnose the run (SPEC section 7). Every setting is checked before training."""
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
    start, _ = _start_and_directions(config, mlp, theta0)
    objective = mlp.objective(data.x_train, data.y_train, config.l2)
    trajectory = descend(
        objective,
        start[None, :],
        config.learning_rate,
        config.n_steps,
        save_every=config.save_every,
        on_progress=on_progress,
    )
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=SHUFFLE_KEY))
    return _diagnose(config, mlp, trajectory, rng, transient, max_lag, n_shuffles, n_top)


def _diagnose(config, mlp, trajectory: Trajectory, rng, transient, max_lag, n_shuffles, n_top) -> Diagnostics:
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
        cancelled=trajectory.cancelled,
    )
