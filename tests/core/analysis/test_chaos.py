"""Chaos diagnostics (docs/method.md §7): each estimator against a known result."""

import dataclasses

import numpy as np
import pytest
from scipy.stats import norm

from core.analysis import chaos
from core.analysis.attractor import classify_attractor
from core.analysis.chaos import autocorrelation, expansion_rates, loss_increase_fraction, shuffle_null_band
from core.config import RunConfig
from core.engine.model import MLP
from core.experiments import diagnostics
from core.experiments.diagnostics import (
    parameter_label,
    path_lengths,
    run_diagnostics,
    top_moving_weights,
    weight_series,
)
from core.experiments.stability import run_stability

LN2 = np.log(2.0)


def logistic_map(r: float, n: int, x0: float = 0.3, burn_in: int = 1000) -> np.ndarray:
    x = np.empty(n + burn_in)
    x[0] = x0
    for t in range(1, x.size):
        x[t] = r * x[t - 1] * (1.0 - x[t - 1])
    return x[burn_in:]


# ---- autocorrelation -------------------------------------------------------------------------
def test_fft_autocorrelation_equals_the_direct_sum(rng):
    x = rng.standard_normal(500).cumsum()
    xc = x - x.mean()
    direct = np.array([xc[: x.size - k] @ xc[k:] for k in range(61)]) / (xc @ xc)
    np.testing.assert_allclose(autocorrelation(x, 60), direct, rtol=0, atol=1e-12)


def test_acf_of_a_sine_is_the_cosine_of_its_period():
    """x = sin(a t), a = 2 pi / P, over whole periods: sum_t x_t x_{t+k} = (T - k)/2 cos(a k)
    - 1/2 sum_t cos(a (2t + k)), and the last sum is at most 1/sin(a) in size, so
    acf(k) = (1 - k/T) cos(a k) within 1/(T sin a)."""
    period, n = 25, 2000
    a = 2 * np.pi / period
    acf = autocorrelation(np.sin(a * np.arange(n)), 3 * period)
    lags = np.arange(acf.size)
    np.testing.assert_allclose(acf, (1 - lags / n) * np.cos(a * lags), rtol=0, atol=1 / (n * np.sin(a)))
    assert np.argmax(acf[period // 2 : 3 * period // 2]) + period // 2 == period


@pytest.mark.parametrize("series", [np.full(100, 3.7), np.r_[np.arange(99.0), np.nan]])
def test_a_constant_or_non_finite_series_has_no_acf(series, rng):
    assert np.isnan(autocorrelation(series, 10)).all()
    low, high = shuffle_null_band(series, 10, rng, n_shuffles=20)
    assert np.isnan(low).all() and np.isnan(high).all()


def test_white_noise_lies_inside_the_shuffle_band():
    """Each lag of white noise leaves the 3-97 percentile band with probability 0.06; the lags'
    sample ACFs are nearly independent, so the count outside of 200 is ~Binomial(200, 0.06):
    mean 12, sd 3.4, P(more than 20) = 0.9%. The band itself is Bartlett's: the ACF at lag
    k >= 1 of T i.i.d. values is ~N(-1/T, 1/T), so its 97th percentile is 1.881/sqrt(T) - 1/T."""
    n, max_lag = 5000, 200
    x = np.random.default_rng(7).standard_normal(n)
    acf = autocorrelation(x, max_lag)
    low, high = shuffle_null_band(x, max_lag, np.random.default_rng(8), n_shuffles=1000)
    outside = (acf[1:] < low[1:]) | (acf[1:] > high[1:])
    assert outside.sum() <= 20
    expected = norm.ppf(0.97) / np.sqrt(n) - 1 / n
    assert np.mean(high[1:]) == pytest.approx(expected, rel=0.05)
    assert np.mean(low[1:]) == pytest.approx(-expected - 2 / n, rel=0.05)
    assert low[0] == high[0] == 1.0


def test_a_correlated_series_leaves_the_band():
    """AR(1) with phi = 0.6: acf(k) = 0.6^k, far outside a band of half-width ~0.027 at lags 1-3."""
    rng = np.random.default_rng(3)
    x = np.zeros(5000)
    for t in range(1, x.size):
        x[t] = 0.6 * x[t - 1] + rng.standard_normal()
    acf = autocorrelation(x, 3)
    _, high = shuffle_null_band(x, 3, np.random.default_rng(4), n_shuffles=200)
    assert (acf[1:] > high[1:]).all()
    np.testing.assert_allclose(acf[1:], 0.6 ** np.arange(1, 4), atol=0.05)


def test_the_band_is_reproducible_and_batching_does_not_change_it(monkeypatch):
    x = np.random.default_rng(1).standard_normal(300)
    first = shuffle_null_band(x, 30, np.random.default_rng(2), n_shuffles=100)
    np.testing.assert_array_equal(first, shuffle_null_band(x, 30, np.random.default_rng(2), n_shuffles=100))
    monkeypatch.setattr(chaos, "SHUFFLE_BATCH_VALUES", 1024)  # one shuffle per batch
    np.testing.assert_array_equal(first, shuffle_null_band(x, 30, np.random.default_rng(2), n_shuffles=100))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: autocorrelation(np.ones((3, 3)), 1), "1-D"),
        (lambda: autocorrelation(np.arange(10.0), 10), "max_lag must be between 0 and 9"),
        (lambda: shuffle_null_band(np.arange(10.0), 3, np.random.default_rng(), n_shuffles=0), "n_shuffles"),
        (lambda: shuffle_null_band(np.arange(10.0), 3, np.random.default_rng(), percentiles=(97, 3)), "low < high"),
    ],
)
def test_bad_acf_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---- expansion rates ---------------------------------------------------------------------------
def test_expansion_rates_recover_ln2_on_the_logistic_map():
    """x -> 4x(1 - x) has Lyapunov exponent ln 2 (nolds' test of its estimators)."""
    rates = expansion_rates(logistic_map(4.0, 10_000))
    assert rates.rates.size > 500
    assert rates.median_rate == pytest.approx(LN2, abs=0.07)
    assert rates.fraction_significant > 0.8
    assert np.median(rates.rate[rates.significant]) == pytest.approx(LN2, abs=0.07)


@pytest.mark.parametrize(
    "series",
    [
        logistic_map(3.2, 10_000),  # period 2
        logistic_map(3.5, 10_000),  # period 4
        np.tile([0.1, 0.4, 0.9, 0.3], 2500),  # exact period 4: d_n = 0
        np.sin(2 * np.pi * 0.1234567 * np.arange(10_000)),  # quasi-periodic
    ],
)
def test_periodic_series_show_no_significant_expansion(series):
    rates = expansion_rates(series)
    assert rates.rates.size > 500
    assert rates.fraction_significant == 0.0
    assert abs(rates.median_rate) < 0.1


def test_best_prefix_fit_finds_the_exponential_stretch():
    """d_n = 1e-5 2^n for n < 10, then saturated: the best prefix is exactly the 10 growing points."""
    d = np.minimum(1e-5 * 2.0 ** np.arange(21), 1e-5 * 2.0**9)
    slope, r2, n_points = chaos._best_prefix_fits(np.log(d)[None, :], 6)
    assert slope[0] == pytest.approx(LN2, rel=1e-12) and r2[0] == pytest.approx(1.0) and n_points[0] == 10


def test_neighbours_follow_the_tolerance_and_the_separation():
    x = 100.0 + np.arange(100) * 0.01  # all other values at least 0.01 apart
    x[[0, 3, 50]] = 50.0
    x[60], x[70] = 50.0 + 4e-5, 50.0 + 6e-5
    rates = expansion_rates(x, horizon=2, min_points=3, min_separation=5, n_references=1000)
    assert rates.t0[0] == 0 and rates.n_neighbours[0] == 2  # 50 and 60; 3 is too close in time, 70 in value
    assert rates.curves[0, 0] == pytest.approx(2e-5)  # mean of |x(50) - x(0)| = 0 and |x(60) - x(0)| = 4e-5


def test_a_series_too_short_or_without_neighbours_gives_no_rates():
    for series in (np.arange(10.0), np.arange(1000.0), np.full(30, np.nan)):
        rates = expansion_rates(series)
        assert rates.rates.size == 0 and np.isnan(rates.median_rate) and np.isnan(rates.fraction_significant)


def test_stretches_with_non_finite_values_are_skipped():
    x = logistic_map(4.0, 3000)
    x[1000:1010] = np.nan
    rates = expansion_rates(x)
    assert not ((rates.t0 > 1000 - 21) & (rates.t0 < 1010)).any()
    assert np.isfinite(rates.rate[rates.n_neighbours > 0]).all()


# ---- loss increases, moving weights ----------------------------------------------------------
@pytest.mark.parametrize(
    "loss, expected",
    [
        ([3.0, 2.0, 1.0], 0.0),
        ([1.0, 2.0, 3.0], 1.0),
        ([1.0, 2.0, 1.0, 2.0, 1.0], 0.5),
        ([1.0, 1.0, 1.0], 0.0),  # equal is not an increase
        ([1.0, 2.0, np.nan, 3.0, 4.0], 1.0),  # only 1 -> 2 counts: the rest is after the divergence
        ([3.0, 2.0, np.inf, 5.0], 0.0),
        ([1.0, np.nan], np.nan),
        ([np.nan, np.nan, np.nan], np.nan),
    ],
)
def test_loss_increase_fraction_by_hand(loss, expected):
    result = loss_increase_fraction(np.array(loss))
    assert result.shape == ()
    np.testing.assert_equal(float(result), expected)


def test_loss_increase_fraction_per_column():
    loss = np.array([[1.0, 3.0, np.nan], [2.0, 2.0, np.nan], [1.0, 1.0, np.nan]])  # (T + 1, 3)
    np.testing.assert_equal(loss_increase_fraction(loss), [0.5, 0.0, np.nan])
    with pytest.raises(ValueError, match="2 or more steps"):
        loss_increase_fraction(np.array([1.0]))


def test_top_weights_rank_by_path_length_not_displacement():
    theta = np.array([[0.0, 0.0, 5.0], [1.0, 0.5, 5.0], [0.0, 1.0, 5.0], [1.0, 2.0, 5.0]])  # (S, P)
    np.testing.assert_array_equal(path_lengths(theta), [3.0, 2.0, 0.0])  # displacements 1, 2, 0
    np.testing.assert_array_equal(top_moving_weights(theta, 2), [0, 1])
    np.testing.assert_array_equal(top_moving_weights(theta, 1, eligible=np.array([False, True, True])), [1])
    np.testing.assert_array_equal(top_moving_weights(np.zeros((3, 4)), 2), [0, 1])  # ties: lower index
    np.testing.assert_array_equal(weight_series(theta, [2, 0]), theta[:, [2, 0]])
    with pytest.raises(ValueError, match="n must be between 1 and 2"):
        top_moving_weights(theta, 3, eligible=np.array([False, True, True]))


def test_parameter_labels_follow_the_flat_order():
    """docs/method.md §1: W1 (4 x 10) at i*H + j, b1 at 40.., W2 (10 x 3) at 50 + h*3 + c, b2 at 80.."""
    mlp = MLP()
    labels = [parameter_label(mlp, i) for i in (0, 17, 39, 40, 49, 50, 54, 79, 82)]
    assert labels == [
        "p0_W1_0_0",
        "p17_W1_1_7",
        "p39_W1_3_9",
        "p40_b1_0",
        "p49_b1_9",
        "p50_W2_0_0",
        "p54_W2_1_1",
        "p79_W2_9_2",
        "p82_b2_2",
    ]


# ---- the experiment on Iris ------------------------------------------------------------------
SHORT = {"transient": 500, "max_lag": 50, "n_shuffles": 200}


@pytest.fixture(scope="module")
def chaotic():
    return run_diagnostics(RunConfig(learning_rate=5.0, n_steps=3000, save_every=1), **SHORT)


def test_at_eta_5_half_the_steps_raise_the_loss_and_nothing_is_learned(chaotic):
    """An independent measurement: 47-57% of steps increase the loss at eta = 5, at chance accuracy."""
    assert 0.45 <= chaotic.loss_increase_fraction <= 0.6
    assert abs(np.mean(chaotic.accuracy[-500:]) - 1 / 3) < 0.05
    assert chaotic.diverged_at == -1 and np.isfinite(chaotic.acf).all()
    assert chaotic.fraction_outside_band > 0.5  # the loss is far from shuffled noise


def test_the_record_says_what_the_run_settles_on_and_what_chance_is(chaotic):
    """Seed 0 at eta = 5 is on a period-10 cycle from iteration 404 (tests/core/analysis/test_attractor.py);
    chance on Iris's training rows is the most common class's share, 42 of 120."""
    assert chaotic.attractor == classify_attractor(chaotic.loss)
    assert chaotic.attractor.to_dict() == {"kind": "periodic", "period": 10, "since": 404}
    assert chaotic.chance == 42 / 120


def test_at_eta_001_the_loss_only_falls():
    slow = run_diagnostics(RunConfig(learning_rate=0.01, n_steps=2000), **SHORT)
    assert slow.loss_increase_fraction < 0.01
    assert slow.accuracy[-1] > 0.8


def test_the_reference_network_is_run_stabilitys_and_the_records_agree(chaotic):
    config = chaotic.config
    reference = run_stability(dataclasses.replace(config, n_perturbations=1)).trajectory
    np.testing.assert_array_equal(chaotic.loss, reference.loss[:, 0])
    np.testing.assert_array_equal(chaotic.weight_norm, reference.theta_norm[:, 0])
    theta = reference.theta[:, 0]
    np.testing.assert_allclose(path_lengths(theta), reference.path_length[0], rtol=1e-12)  # save_every = 1
    np.testing.assert_array_equal(chaotic.top_series, theta[:, chaotic.top_indices])
    assert MLP().weight_mask[chaotic.top_indices].all()
    np.testing.assert_array_equal(chaotic.rate_steps, 500 + chaotic.expansion.t0)


def test_same_seed_same_numbers(chaotic):
    again = run_diagnostics(chaotic.config, **SHORT)
    for name in ("loss", "acf", "null_low", "null_high", "top_series", "steps"):
        np.testing.assert_array_equal(getattr(again, name), getattr(chaotic, name))
    np.testing.assert_array_equal(again.expansion.rate, chaotic.expansion.rate)
    other = run_diagnostics(dataclasses.replace(chaotic.config, seed=1), **SHORT)
    assert not np.array_equal(other.null_high, chaotic.null_high)


def test_a_diverged_run_is_data_not_an_exception(iris):
    """ReLU on features scaled by 1e150: the first step overflows."""
    huge = dataclasses.replace(iris, x_train=iris.x_train * 1e150)
    result = run_diagnostics(RunConfig(activation="relu", learning_rate=1.0, n_steps=600), data=huge, **SHORT)
    assert result.diverged_at == 1
    assert result.attractor.to_dict() == {"kind": "diverged", "period": None, "since": 1}
    assert np.isnan(result.loss_increase_fraction) and np.isnan(result.acf).all()
    assert result.expansion.rates.size == 0 and np.isnan(result.fraction_outside_band)


def test_a_cancelled_run_gives_nan_diagnostics():
    result = run_diagnostics(RunConfig(learning_rate=5.0, n_steps=2000), on_progress=lambda *_: False, **SHORT)
    assert result.cancelled and result.loss.size == 251
    assert np.isnan(result.acf).all() and result.expansion.rates.size == 0
    assert 0.3 < result.loss_increase_fraction < 0.7


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"transient": 2000}, "transient must be between 0 and 1999"),
        ({"transient": 1500, "max_lag": 501}, "max_lag must be between 1 and 500"),
        ({"max_lag": 0}, "max_lag"),
        ({"n_shuffles": 0}, "n_shuffles"),
        ({"n_top": 71}, "n_top must be between 1 and 70"),
    ],
)
def test_bad_settings_are_refused_before_training(monkeypatch, settings, message):
    def train(*args, **kwargs):
        raise AssertionError("training started before the settings were checked")

    monkeypatch.setattr(diagnostics, "descend", train)
    with pytest.raises(ValueError, match=message):
        run_diagnostics(RunConfig(learning_rate=5.0, n_steps=2000), **settings)
