"""Distances between trajectories and the finite-time Lyapunov exponent (docs/method.md §2-§3).

The FTLE of one initial condition: fit a least-squares line to ln<d(t)> over every window
[a, a + w) of the grid, keep the window with the largest R^2; its slope (per iteration,
natural log) is the FTLE, accepted if R^2 > min_r2 and slope > min_slope.
Reference: Danovski, Soriano, Lacasa (2024), arXiv 2404.05782, section 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.config import FTLEConfig


def mean_distance(distance: np.ndarray) -> np.ndarray:
    """(T + 1, M) distances of M copies -> (T + 1,) their mean <d(t)> (logs come after)."""
    return distance.mean(axis=-1)


def normalized_distance(distance: np.ndarray, eps: float, n_weights: int) -> np.ndarray:
    """d / (eps * N_w): about 0.5 at t = 0 for the L1 distance of a U(-eps, eps) cube."""
    return distance / (eps * n_weights)


def global_rate(mean_d: np.ndarray) -> np.ndarray:
    """(..., T + 1) -> (...) ln(<d(T)> / <d(0)>) / T."""
    with np.errstate(all="ignore"):
        return np.log(mean_d[..., -1] / mean_d[..., 0]) / (mean_d.shape[-1] - 1)


@dataclass(frozen=True, eq=False)
class FTLEFit:
    """Best-window fits; every field has the shape of the curves' leading axes.

    slope, intercept: of ln<d> = intercept + slope * t over t in [start, start + length)
    r2: of that window (NaN where no window had finite data)
    kept: r2 > min_r2 and slope > min_slope
    """

    slope: np.ndarray
    intercept: np.ndarray
    r2: np.ndarray
    start: np.ndarray
    length: np.ndarray
    kept: np.ndarray


def _grid(spec: tuple[int, int, int]) -> np.ndarray:
    start, stop, step = spec
    return np.arange(start, stop + 1, step)


def fit_ftle(mean_d: np.ndarray, config: FTLEConfig = FTLEConfig()) -> FTLEFit:
    """(..., L) mean distance curves -> FTLEFit of shape (...).

    Windows that do not fit in L points are skipped; a curve with no usable window gets
    NaN slope and r2 and is not kept (failure is data, not an exception).
    """
    mean_d = np.asarray(mean_d, dtype=np.float64)
    lead, n_points = mean_d.shape[:-1], mean_d.shape[-1]
    with np.errstate(all="ignore"):
        # contiguous, so a curve's arithmetic does not depend on the caller's memory layout
        y = np.log(np.ascontiguousarray(mean_d)).reshape(-1, n_points)  # (G, L)
    best = {name: np.full(y.shape[0], np.nan) for name in ("slope", "intercept", "r2", "start", "length")}
    best_r2 = np.full(y.shape[0], -np.inf)
    starts = _grid(config.starts)
    for w in _grid(config.lengths):
        a = starts[starts + w <= n_points]
        if w > n_points or a.size == 0:
            continue
        windows = sliding_window_view(y, w, axis=-1)[:, a, :]  # (G, A, w)
        slope, intercept, r2 = _line_fits(windows)
        r2_ok = np.where(np.isfinite(r2), r2, -np.inf)
        i = r2_ok.argmax(axis=1)
        rows = np.arange(y.shape[0])
        better = r2_ok[rows, i] > best_r2
        best_r2[better] = r2_ok[rows, i][better]
        for name, value in (("slope", slope), ("intercept", intercept), ("r2", r2)):
            best[name][better] = value[rows, i][better]
        best["start"][better] = a[i][better]
        best["length"][better] = w
    best["intercept"] -= best["slope"] * best["start"]  # t = 0 at the curve's start
    kept = (best["r2"] > config.min_r2) & (best["slope"] > config.min_slope)
    shaped = {k: v.reshape(lead) for k, v in best.items()}
    return FTLEFit(kept=kept.reshape(lead), **shaped)


def _line_fits(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., w) -> slope, intercept and R^2 of each window, with t = 0 at its first point."""
    w = windows.shape[-1]
    t = np.arange(w, dtype=np.float64)
    tc = t - t.mean()
    ym = windows.mean(axis=-1)
    yc = windows - ym[..., None]
    slope = (yc @ tc) / (tc @ tc)
    residual = yc - slope[..., None] * tc
    ss_tot = np.einsum("...i,...i->...", yc, yc)
    with np.errstate(all="ignore"):
        r2 = 1.0 - np.einsum("...i,...i->...", residual, residual) / ss_tot
    intercept = ym - slope * t.mean()
    return slope, intercept, r2


N_BOOT = 2000  # bootstrap resamples of the ensemble mean


@dataclass(frozen=True)
class EnsembleStats:
    """FTLE statistics over initial conditions (only the kept fits count)."""

    mean: float
    std: float
    ci_low: float
    ci_high: float
    kept: int
    total: int


def ensemble_stats(
    values: np.ndarray, kept: np.ndarray, rng: np.random.Generator, *, n_boot: int = N_BOOT, level: float = 0.95
) -> EnsembleStats:
    """Mean, std (ddof 1), and a percentile-bootstrap CI of the mean of ``values[kept]``; the
    std and the CI need two kept values (one value has no spread: NaN, not a zero-width CI)."""
    v = np.asarray(values, dtype=np.float64)[np.asarray(kept, dtype=bool)]
    total = int(np.size(values))
    if v.size == 0:
        return EnsembleStats(np.nan, np.nan, np.nan, np.nan, 0, total)
    if v.size < 2:
        return EnsembleStats(float(v.mean()), np.nan, np.nan, np.nan, int(v.size), total)
    means = rng.choice(v, size=(n_boot, v.size), replace=True).mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    std = float(v.std(ddof=1))
    return EnsembleStats(float(v.mean()), std, float(low), float(high), int(v.size), total)
