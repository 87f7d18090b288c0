"""What a run settles on (docs/method.md §7): each kind on a series whose answer is known."""

import numpy as np
import pytest

from core.analysis.attractor import APERIODIC, DIVERGED, FIXED_POINT, PERIODIC, RTOL, classify_attractor
from core.config import RunConfig
from core.experiments.stability import run_stability


def logistic_orbit(r: float, n: int, x0: float = 0.3) -> np.ndarray:
    """x_0 = x0, x_{t+1} = r x_t (1 - x_t): n values, no burn-in (the classifier finds it)."""
    x = np.empty(n)
    x[0] = x0
    for t in range(1, n):
        x[t] = r * x[t - 1] * (1.0 - x[t - 1])
    return x


def since_by_definition(x: np.ndarray, period: int, tolerance: float) -> int:
    """The first t from which |x(s + p) - x(s)| <= tolerance for every later s, by a plain loop."""
    t = x.size - period
    while t > 0 and abs(x[t - 1 + period] - x[t - 1]) <= tolerance:
        t -= 1
    return t


def test_a_geometric_approach_is_a_fixed_point_from_the_step_below_tolerance():
    """x_t = 1 + 2^-t: |x(t+1) - x(t)| = 2^-(t+1) <= 1e-6 (x the tail's largest |x|, 1 + 2^-100)
    first at t + 1 = 20, since 2^-19 = 1.9e-6 and 2^-20 = 9.5e-7."""
    attractor = classify_attractor(1.0 + 0.5 ** np.arange(200.0))
    assert (attractor.kind, attractor.period, attractor.since) == (FIXED_POINT, 1, 19)


def test_a_period_3_cycle_after_a_transient_is_found_with_its_exact_start():
    transient = np.random.default_rng(5).uniform(2.0, 3.0, size=37)  # values the cycle never takes
    series = np.r_[transient, np.tile([0.4, 1.1, 0.7], 100)]
    attractor = classify_attractor(series)
    assert (attractor.kind, attractor.period, attractor.since) == (PERIODIC, 3, 37)


def test_the_smallest_period_wins_and_a_constant_is_a_fixed_point():
    period_6_pattern = np.tile([1.0, 2.0, 3.0], 200)  # also repeats with period 6, 9, ...
    assert classify_attractor(period_6_pattern).period == 3
    assert classify_attractor(np.full(50, 1.0986)).to_dict() == {"kind": FIXED_POINT, "period": 1, "since": 0}
    assert classify_attractor(np.zeros(50)).kind == FIXED_POINT


@pytest.mark.parametrize(
    ("r", "kind", "period"),
    [
        (2.8, FIXED_POINT, 1),  # x* = 1 - 1/r, multiplier 2 - r = -0.8
        (3.2, PERIODIC, 2),  # past the first period doubling at r = 3
        (3.5, PERIODIC, 4),  # past the second, at r = 1 + sqrt(6) = 3.449
        (3.83, PERIODIC, 3),  # the period-3 window opens at r = 1 + sqrt(8) = 3.828
        (4.0, APERIODIC, None),  # chaos: Lyapunov exponent ln 2
    ],
)
def test_the_logistic_map_has_its_known_attractors(r, kind, period):
    x = logistic_orbit(r, 10_000)
    attractor = classify_attractor(x)
    assert (attractor.kind, attractor.period) == (kind, period)
    if period is not None:
        tolerance = RTOL * np.abs(x[x.size // 2 :]).max()
        assert attractor.since == since_by_definition(x, period, tolerance)
        assert attractor.since < 200  # the cycles attract: their multipliers are below 1 in size


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_value_is_a_divergence_at_its_step(bad):
    series = np.r_[np.tile([0.4, 1.1], 40), bad, np.full(20, np.nan)]
    assert classify_attractor(series).to_dict() == {"kind": DIVERGED, "period": None, "since": 80}


def test_a_cycle_that_covers_less_than_the_last_half_is_not_settled():
    """A period-2 cycle over the last 40% of the run: the half-run window still holds the
    transient, so nothing is seen to repeat; with a window of the last 30% it is found."""
    rng = np.random.default_rng(2)
    series = np.r_[rng.uniform(2.0, 3.0, 600), np.tile([0.4, 1.1], 200)]
    assert classify_attractor(series).kind == APERIODIC
    assert classify_attractor(series, tail_fraction=0.3).to_dict() == {"kind": PERIODIC, "period": 2, "since": 600}


def test_a_period_longer_than_a_fifth_of_the_window_is_not_searched():
    cycle = np.random.default_rng(3).uniform(0.0, 1.0, 30)
    series = np.tile(cycle, 12)  # 360 values: window 180, periods up to 36
    assert classify_attractor(series).period == 30
    assert classify_attractor(series[:290]).kind == APERIODIC  # window 145: periods up to 29
    assert classify_attractor(series, max_period=29).kind == APERIODIC


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"series": np.zeros((3, 3))}, "1-D array"),
        ({"series": np.zeros(0)}, "1-D array"),
        ({"series": np.zeros(9), "rtol": -1e-6}, "rtol"),
        ({"series": np.zeros(9), "tail_fraction": 0.0}, "tail_fraction"),
        ({"series": np.zeros(9), "min_repeats": 1}, "min_repeats"),
        ({"series": np.zeros(9), "max_period": 0}, "max_period"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        classify_attractor(**kwargs)


# ---- Iris at η = 5 ---------------------------------------------------------------------------
def reference_loss(seed: int, n_steps: int) -> np.ndarray:
    config = RunConfig(learning_rate=5.0, n_steps=n_steps, seed=seed, n_perturbations=1, save_every=n_steps)
    return run_stability(config).trajectory.loss[:, 0]


def test_seed_0_settles_on_a_period_10_cycle_from_iteration_404():
    """The Chaos view's default run: measured, the change per period falls below 1e-6 of the loss
    at iteration 404 and to 1e-10 by 10,000 (the cycle drifts slowly with the weights)."""
    loss = reference_loss(0, 10_000)
    assert classify_attractor(loss).to_dict() == {"kind": PERIODIC, "period": 10, "since": 404}
    assert np.abs(loss[-1000:] - loss[-1010:-10]).max() < 1e-9 * np.abs(loss[-1000:]).max()
