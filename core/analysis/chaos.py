"""Chaos diagnostics of one long run (docs/method.md §7; the paper's Figs. 13-17).

- Autocorrelation of the loss series after a transient, against a shuffle-null band: the
  ACF of randomly permuted copies of the same values, percentiles per lag.
- Local expansion rates of the loss series (a scalar version of Rosenstein et al. 1993 /
  Kantz 1994): for a reference time t0, its neighbours t1 are the times whose loss is
  within ``tolerance`` of L(t0); d_n = mean over neighbours |L(t0 + n) - L(t1 + n)|; the
  rate is the slope of ln d_n against n on the prefix n < m with the best R^2. On the
  logistic map x -> 4x(1 - x) the rates centre on its Lyapunov exponent ln 2.
- The fraction of steps that increase the loss.

The experiment that applies them to a long run, with the weights that move most, is
:mod:`core.experiments.diagnostics`.

Reference: Danovski, Soriano, Lacasa (2024), arXiv 2404.05782, section 3.4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.analysis.lyapunov import _line_fits
from core.arrays import BoolArray, FloatArray, IntArray
from core.validate import check_float, check_int

N_SHUFFLES = 1000  # docs/method.md §7: shuffled copies behind the null band
PERCENTILES = (3.0, 97.0)  # docs/method.md §7: the band, per lag
SHUFFLE_BATCH_VALUES = 2**21  # FFT points per batch of shuffles: work arrays of ~16 MB each
TOLERANCE = 5e-5  # docs/method.md §7: |L(t1) - L(t0)| below this makes t1 a neighbour of t0
# Steps a pair is followed: from 5e-5 apart, growth at ln 2 per step (logistic map) saturates
# at O(1) in ~14 steps; past saturation ln d_n is flat and the best-R^2 prefix leaves it out.
HORIZON = 20
# Shortest prefix fitted: for m points of pure noise R^2 ~ Beta(1/2, (m - 2)/2), so
# P(R^2 > 0.9) is 20% for m = 3, 1.4% for 5 and 0.4% for 6.
MIN_POINTS = 6
N_REFERENCES = 1000  # reference times, evenly spread: enough for a histogram in ~0.05 s
MAX_NEIGHBOURS = 50  # nearest in value kept: a periodic series has ~T/period of them
SIGNIFICANT_R2 = 0.9  # as the FTLE acceptance of docs/method.md §3
# ... and the fitted stretch grows d tenfold: the rounding jitter of a periodic series (a few
# ulps) may fit a rising line, but cannot grow by a factor of 10
SIGNIFICANT_GROWTH = np.log(10.0)


# ---- autocorrelation ---------------------------------------------------------------------
def _checked_series(series: FloatArray, max_lag: int) -> FloatArray:
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"series must be a 1-D array of 2 or more values, got shape {x.shape}")
    check_int("max_lag", max_lag, low=0, high=x.size - 1)
    return x


def _acf_rows(x: FloatArray, max_lag: int) -> FloatArray:
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


def autocorrelation(series: FloatArray, max_lag: int) -> FloatArray:
    """(T,) -> (max_lag + 1,) sum_t (x_t - m)(x_{t+k} - m) / sum_t (x_t - m)^2, lag 0 = 1
    (the biased estimator, as statsmodels' ``acf``). NaN if the series is constant or holds
    a non-finite value."""
    x = _checked_series(series, max_lag)
    acf: FloatArray = _acf_rows(x[None, :], max_lag)[0]
    return acf


def shuffle_null_band(
    series: FloatArray,
    max_lag: int,
    rng: np.random.Generator,
    *,
    n_shuffles: int = N_SHUFFLES,
    percentiles: tuple[float, float] = PERCENTILES,
) -> tuple[FloatArray, FloatArray]:
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

    t0: IntArray
    level: FloatArray
    n_neighbours: IntArray
    curves: FloatArray
    rate: FloatArray
    r2: FloatArray
    n_points: IntArray
    significant: BoolArray

    @property
    def rates(self) -> FloatArray:
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

    def histogram(self, bins: int = 30) -> tuple[IntArray, FloatArray]:
        """counts (bins,), edges (bins + 1,) of the finite rates."""
        return np.histogram(self.rates, bins=check_int("bins", bins, low=1, high=10_000))


def expansion_rates(
    series: FloatArray,
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


def _stretch_starts(x: FloatArray, horizon: int) -> IntArray:
    """Times t whose values x[t .. t + horizon] are all finite."""
    if x.size <= horizon:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(sliding_window_view(np.isfinite(x), horizon + 1).all(axis=-1))


def _separations(
    x: FloatArray,
    t0: IntArray,
    times: IntArray,
    tolerance: float,
    horizon: int,
    separation: int,
    max_neighbours: int,
) -> tuple[FloatArray, IntArray]:
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


def _log_separation(curves: FloatArray, x: FloatArray) -> FloatArray:
    """ln d_n, with d_n floored at the rounding of the series (machine epsilon times its
    largest magnitude): exact recurrences (d = 0) give a flat curve, not -inf."""
    finite = x[np.isfinite(x)]
    scale = np.abs(finite).max() if finite.size else 1.0
    floor = np.finfo(np.float64).eps * scale if scale > 0 else np.finfo(np.float64).tiny
    return np.log(np.maximum(curves, floor))  # NaN rows stay NaN


def _best_prefix_fits(y: FloatArray, min_points: int) -> tuple[FloatArray, FloatArray, IntArray]:
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
def loss_increase_fraction(loss: FloatArray) -> FloatArray:
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
