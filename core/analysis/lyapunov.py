"""Distances between trajectories and the finite-time Lyapunov exponent (docs/method.md §2-§3).

The FTLE of one initial condition: fit a least-squares line to ln<d(t)> over every window
[a, a + w) of the grid that starts before <d> saturates, keep the window with the largest
R^2; its slope (per iteration, natural log) is the FTLE, accepted if R^2 > min_r2 and
slope > min_slope. Saturation: the first t at which ln<d(t)> comes within
``saturation_margin`` of its maximum (never, for a curve that does not rise that much above
its start); a window starting later would measure the plateau, not the growth.
Reference: Danovski, Soriano, Lacasa (2024), arXiv 2404.05782, section 3.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.arrays import BoolArray, FloatArray, IntArray
from core.config import FTLEConfig


def mean_distance(distance: FloatArray) -> FloatArray:
    """(T + 1, M) distances of M copies -> (T + 1,) their mean <d(t)> (logs come after)."""
    mean: FloatArray = distance.mean(axis=-1)
    return mean


def normalized_distance(distance: FloatArray, eps: float, n_weights: int) -> FloatArray:
    """d / (eps * N_w): about 0.5 at t = 0 for the L1 distance of a U(-eps, eps) cube."""
    return distance / (eps * n_weights)


def global_rate(mean_d: FloatArray) -> FloatArray:
    """(..., T + 1) -> (...) ln(<d(T)> / <d(0)>) / T."""
    with np.errstate(all="ignore"):
        rate: FloatArray = np.log(mean_d[..., -1] / mean_d[..., 0]) / (mean_d.shape[-1] - 1)
    return rate


@dataclass(frozen=True, eq=False)
class FTLEFit:
    """Best-window fits; every field has the shape of the curves' leading axes.

    slope, intercept: of ln<d> = intercept + slope * t over t in [start, start + length)
    r2: of that window (NaN where no window had finite data)
    kept: r2 > min_r2 and slope > min_slope
    saturation: first t with ln<d(t)> within saturation_margin of its maximum; the curve's
        length L where it never rises that much above ln<d(0)> (no window is excluded)
    """

    slope: FloatArray
    intercept: FloatArray
    r2: FloatArray
    start: FloatArray
    length: FloatArray
    kept: BoolArray
    saturation: IntArray


def _grid(spec: tuple[int, int, int]) -> IntArray:
    start, stop, step = spec
    return np.arange(start, stop + 1, step)


def saturation_time(y: FloatArray, margin: float) -> IntArray:
    """(G, L) ln<d(t)> -> (G,) first t at which y comes within ``margin`` of its maximum over the
    curve; L for a curve whose maximum is less than ``margin`` above y(0) (nothing grew, so
    nothing saturated). Non-finite points are ignored."""
    finite = np.where(np.isfinite(y), y, -np.inf)  # (G, L)
    top = finite.max(axis=-1)  # (G,)
    first: IntArray = (finite >= (top - margin)[:, None]).argmax(axis=-1)  # (G,)
    with np.errstate(invalid="ignore"):  # -inf - -inf on a curve with no finite point
        rose = top - finite[:, 0] >= margin
    return np.where(rose, first, y.shape[-1])


def fit_ftle(mean_d: FloatArray, config: FTLEConfig = FTLEConfig()) -> FTLEFit:
    """(..., L) mean distance curves -> FTLEFit of shape (...).

    Only windows starting at or before the curve's saturation time are fitted (t = 0 always
    is, so every curve of at least the shortest window's length has one). Windows that do not
    fit in L points are skipped; a curve with no usable window gets NaN slope and r2 and is
    not kept (failure is data, not an exception).
    """
    mean_d = np.asarray(mean_d, dtype=np.float64)
    lead, n_points = mean_d.shape[:-1], mean_d.shape[-1]
    with np.errstate(all="ignore"):
        # contiguous, so a curve's arithmetic does not depend on the caller's memory layout
        y = np.log(np.ascontiguousarray(mean_d)).reshape(-1, n_points)  # (G, L)
    saturation = saturation_time(y, config.saturation_margin)  # (G,)
    best = _best_windows(y, _grid(config.starts), _grid(config.lengths), saturation)
    best["intercept"] -= best["slope"] * best["start"]  # t = 0 at the curve's start
    kept = (best["r2"] > config.min_r2) & (best["slope"] > config.min_slope)
    shaped = {k: v.reshape(lead) for k, v in best.items()}
    return FTLEFit(kept=kept.reshape(lead), saturation=saturation.reshape(lead), **shaped)


class FitMemo:
    """:func:`fit_ftle` of curves that never change once done, as a job's cells come in chunk by
    chunk: each done curve is fitted once, on the first call that finds it done; a curve not
    done (NaN, not computed yet) gets what :func:`fit_ftle` gives a curve of NaN (NaN fields,
    not kept, saturation at L). A curve's fit does not depend on the other curves of its call
    (every operation works along one curve), so the fits are those of one call over all the
    curves, bit for bit, whatever the order the curves come in. A live map's partial results
    used to fit every cell again at each update (0.2 s of the default strip's, ~4 s of CPU a
    map beside its workers)."""

    def __init__(self, config: FTLEConfig = FTLEConfig()) -> None:
        self.config = config
        self._fit: FTLEFit | None = None
        self._fitted = np.zeros(0, dtype=bool)

    def __call__(self, mean_d: FloatArray, done: BoolArray) -> FTLEFit:
        """(..., L) curves and (...) whether each is done -> FTLEFit of shape (...)."""
        mean_d = np.asarray(mean_d, dtype=np.float64)
        lead, n_points = mean_d.shape[:-1], mean_d.shape[-1]
        done = np.broadcast_to(np.asarray(done, dtype=bool), lead).reshape(-1)
        if self._fit is None or self._fitted.size != done.size:
            self._fit = _unfitted(done.size, n_points)
            self._fitted = np.zeros(done.size, dtype=bool)
        new = done & ~self._fitted
        if new.any():
            fit = fit_ftle(mean_d.reshape(-1, n_points)[new], self.config)
            for field in fields(FTLEFit):
                getattr(self._fit, field.name)[new] = getattr(fit, field.name)
            self._fitted |= new
        fit = self._fit
        return FTLEFit(**{field.name: getattr(fit, field.name).reshape(lead).copy() for field in fields(FTLEFit)})


def _unfitted(n: int, n_points: int) -> FTLEFit:
    """The fits of ``n`` curves of NaN, as :func:`fit_ftle` gives them."""
    slope, intercept, r2, start, length = (np.full(n, np.nan) for _ in range(5))
    saturation = np.full(n, n_points, dtype=np.int64)
    return FTLEFit(slope, intercept, r2, start, length, kept=np.zeros(n, dtype=bool), saturation=saturation)


def _best_windows(y: FloatArray, starts: IntArray, lengths: IntArray, saturation: IntArray) -> dict[str, FloatArray]:
    """(G, L) ln<d>, the window grids and (G,) saturation times -> per curve (G,) the slope,
    intercept (t = 0 at the window's start), r2, start and length of the best-R^2 window among
    those that fit in L points and start at or before the saturation time; NaN for none."""
    rows, n_points = np.arange(y.shape[0]), y.shape[-1]
    best = {name: np.full(y.shape[0], np.nan) for name in ("slope", "intercept", "r2", "start", "length")}
    best_r2 = np.full(y.shape[0], -np.inf)
    for w in lengths:
        a = starts[starts + w <= n_points]  # (A,)
        if a.size == 0:
            continue
        slope, intercept, r2 = _line_fits(sliding_window_view(y, w, axis=-1)[:, a, :])  # (G, A) each
        growing = a[None, :] <= saturation[:, None]  # (G, A) starts before the plateau
        r2_ok = np.where(np.isfinite(r2) & growing, r2, -np.inf)
        i = r2_ok.argmax(axis=1)  # (G,)
        better = r2_ok[rows, i] > best_r2
        best_r2[better] = r2_ok[rows, i][better]
        for name, value in (("slope", slope), ("intercept", intercept), ("r2", r2)):
            best[name][better] = value[rows, i][better]
        best["start"][better] = a[i][better]
        best["length"][better] = w
    return best


def _line_fits(windows: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
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
    values: FloatArray, kept: BoolArray, rng: np.random.Generator, *, n_boot: int = N_BOOT, level: float = 0.95
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
