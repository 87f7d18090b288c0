"""The FTLE estimator recovers known exponents (STYLE: tests state the physics)."""

import numpy as np
import pytest

from core.analysis.lyapunov import ensemble_stats, fit_ftle, global_rate, normalized_distance
from core.config import FTLEConfig, RunConfig
from core.experiments.stability import run_stability

RULE_OFF = FTLEConfig(saturation_margin=1e6)  # larger than any curve's rise: every window competes


def test_recovers_the_slope_of_a_piecewise_curve():
    """Flat for 40 steps, exponential at 0.3 for 100, then saturated: slope 0.3, R^2 1."""
    t = np.arange(201)
    log_d = np.where(t < 40, -18.0, -18.0 + 0.3 * (t - 40))
    log_d = np.minimum(log_d, -18.0 + 0.3 * 100)
    fit = fit_ftle(np.exp(log_d))
    assert float(fit.slope) == pytest.approx(0.3, rel=1e-9)
    assert float(fit.r2) == pytest.approx(1.0, abs=1e-12) and bool(fit.kept)
    assert 40 <= fit.start and fit.start + fit.length <= 141
    # ln d = intercept + slope t on the chosen window
    assert float(fit.intercept) + 0.3 * 60 == pytest.approx(log_d[60], rel=1e-9)


def test_the_fit_is_on_the_rise_not_on_the_plateau_after_it():
    """ln<d> rises at 0.3 per step for 60 steps (with a small wiggle, R^2 < 1, as real curves
    have), then creeps up at 0.002 per step: on R^2 alone the straight plateau would win."""
    t = np.arange(201)
    rise = -18.0 + 0.3 * t + 0.3 * np.sin(t / 3)
    log_d = np.where(t < 60, rise, rise[59] + 0.002 * (t - 59))
    fit = fit_ftle(np.exp(log_d))
    assert bool(fit.kept) and float(fit.slope) == pytest.approx(0.3, abs=0.01)
    assert 50 <= fit.saturation < 60 and fit.start <= fit.saturation and fit.start + fit.length <= 60
    off = fit_ftle(np.exp(log_d), RULE_OFF)
    assert off.start >= 60 and float(off.slope) == pytest.approx(0.002) and not bool(off.kept)


def test_a_curve_that_never_rises_a_factor_10_keeps_every_window():
    t = np.arange(201)
    wander = np.exp(-18.0 + 0.5 * np.sin(t / 7) + 0.001 * t)
    fit, off = fit_ftle(wander), fit_ftle(wander, RULE_OFF)
    assert fit.saturation == 201 and (fit.slope, fit.start, fit.length) == (off.slope, off.start, off.length)


def test_a_run_that_separates_fast_then_saturates_is_fitted_on_its_rise():
    """eta = 2.848 (the quick map's 10th eta), seed 0: ln<d> climbs ~17 in ~60 steps then
    saturates; the best-R^2 window of all was [70, 100) on the plateau (slope 0.008, not kept).
    (A chaotic run: another BLAS may give another trajectory.)"""
    run = run_stability(RunConfig(learning_rate=2.848035868435799, seed=0, n_steps=300, n_perturbations=20))
    fit = run.ftle
    assert bool(fit.kept) and float(fit.slope) > 0.2 and fit.start <= fit.saturation < 70
    assert not bool(fit_ftle(run.mean_distance, RULE_OFF).kept)


def test_the_saturation_margin_is_checked():
    for bad in (-1.0, float("nan"), float("inf"), "2"):
        with pytest.raises(ValueError, match="saturation_margin"):
            FTLEConfig(saturation_margin=bad)


def test_logistic_map_at_r4_gives_ln2():
    """Nearby orbits of x -> 4x(1-x) separate at ln 2 per iteration (before saturating)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.05, 0.95, 4000)
    y = x + 1e-13
    log_d = []
    for _ in range(60):
        log_d.append(np.log(np.abs(x - y)).mean())  # geometric mean over pairs
        x, y = 4 * x * (1 - x), 4 * y * (1 - y)
    config = FTLEConfig(starts=(0, 10, 1), lengths=(10, 25, 1), min_slope=0.05)
    fit = fit_ftle(np.exp(log_d), config)
    assert float(fit.slope) == pytest.approx(np.log(2), abs=0.03) and bool(fit.kept)


def test_filter_rejects_flat_noisy_and_empty_curves():
    rng = np.random.default_rng(1)
    flat = np.exp(-18 + 0.001 * np.arange(201))
    noisy = np.exp(-18 + rng.normal(0, 1, 201))
    curves = np.stack([flat, noisy, np.full(201, np.nan)])
    fit = fit_ftle(curves)
    assert fit.slope.shape == (3,) and not fit.kept.any()
    assert float(fit.r2[0]) > 0.9  # flat but perfectly linear: rejected by the slope rule
    assert np.isnan(fit.slope[2]) and np.isnan(fit.r2[2])


def test_too_short_curve_has_no_fit():
    fit = fit_ftle(np.exp(0.3 * np.arange(20)))  # shortest window is 30 points
    assert np.isnan(float(fit.slope)) and not bool(fit.kept)


def test_batched_fits_equal_single_fits():
    rng = np.random.default_rng(2)
    curves = np.exp(np.cumsum(rng.normal(0.2, 0.3, (2, 3, 201)), axis=-1))
    batched = fit_ftle(curves)
    for i in range(2):
        for j in range(3):
            single = fit_ftle(curves[i, j])
            assert float(single.slope) == batched.slope[i, j] and float(single.r2) == batched.r2[i, j]


def test_global_rate_and_normalisation():
    d = np.exp(np.array([0.0, 1.0, 2.0, 4.0]))
    assert global_rate(d) == pytest.approx(4 / 3)
    assert normalized_distance(35e-8, 1e-8, 70) == pytest.approx(0.5)


def test_ensemble_statistics_and_bootstrap_ci():
    rng = np.random.default_rng(3)
    values = rng.normal(0.285, 0.1, 400)
    kept = np.ones(400, dtype=bool)
    kept[:40] = False
    stats = ensemble_stats(values, kept, np.random.default_rng(0))
    assert (stats.kept, stats.total) == (360, 400)
    assert stats.mean == pytest.approx(values[40:].mean()) and stats.std == pytest.approx(values[40:].std(ddof=1))
    half_width = 1.96 * stats.std / np.sqrt(360)
    assert stats.ci_low < stats.mean < stats.ci_high
    assert stats.ci_high - stats.ci_low == pytest.approx(2 * half_width, rel=0.15)
    assert ensemble_stats(values, kept, np.random.default_rng(0)) == stats  # same generator, same CI
    none = ensemble_stats(values, np.zeros(400, dtype=bool), np.random.default_rng(0))
    assert none.kept == 0 and np.isnan(none.mean)
