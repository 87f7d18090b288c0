"""The paper's findings, reproduced by the experiments (docs/method.md §2-§4, §6)."""

import dataclasses

import numpy as np
import pytest

from core.analysis.lyapunov import fit_ftle
from core.config import FTLEConfig, RunConfig
from core.experiments.eps_sweep import run_eps_sweep
from core.experiments.lyapunov_sweep import _check_lyapunov_memory, run_lyapunov
from core.experiments.orbital_stability import run_orbital
from core.experiments.stability import run_stability

SHORT = RunConfig(n_steps=300, n_perturbations=4)


def test_same_seed_gives_bit_identical_runs_and_another_seed_does_not():
    a, b = run_stability(SHORT), run_stability(SHORT)
    assert np.array_equal(a.trajectory.theta, b.trajectory.theta)
    assert np.array_equal(a.trajectory.distance, b.trajectory.distance)
    c = run_stability(dataclasses.replace(SHORT, seed=1))
    assert not np.array_equal(a.trajectory.theta[0], c.trajectory.theta[0])


def test_copies_start_at_half_of_eps_times_weights_and_biases_are_untouched():
    result = run_stability(RunConfig(n_steps=1, n_perturbations=200, eps=1e-6))
    theta = result.trajectory.theta[0]
    delta = theta[1:] - theta[0]
    assert (delta[:, ~result.mlp.weight_mask] == 0).all()
    assert np.abs(delta).max() <= 1e-6
    assert result.normalized_distance[0] == pytest.approx(0.5, abs=0.01)


def test_sphere_perturbations_have_radius_eps():
    result = run_stability(RunConfig(n_steps=1, perturbation="sphere", distance="l2", eps=1e-5))
    np.testing.assert_allclose(result.distance[0], 1e-5, rtol=1e-9)


def test_low_learning_rate_shows_no_exponential_growth():
    """eta = 0.01 over 5000 steps: <d>/(eps N_w) stays O(1) and no FTLE fit is kept.

    Measured (networks of seeds 0-7, 3 copies): the maxima are 0.55-4.44, median 1.13, the
    global rates below 4.3e-4 per step. The largest is seed 0, the network of ``cli.py run
    --seed 0`` (3.57 with 20 copies): it rises from 0.53 to 3.1 by step 1000, then creeps to
    4.4, without an exponential phase (which at even 0.05 per step would grow by e^250). The
    bound was 1.5 when the sweep drew its networks from spawned generators (largest 0.99);
    with the networks of seeds s + g (the maps' convention) seed 0 is among them, so the O(1)
    bound is 10, with room for the reassociated sums of another CPU.
    """
    config = RunConfig(learning_rate=0.01, n_steps=5000, n_perturbations=3)
    result = run_lyapunov(config, [1e-8], 8)
    normalized = result.mean_distance[:, 0] / (1e-8 * 70)
    assert normalized.max() < 10 and np.median(normalized.max(axis=1)) < 2.0
    assert not result.fits.kept.any()
    assert (np.abs(result.global_rate) < 1e-3).all()


def test_edge_of_stability_has_a_positive_ftle_for_most_initial_conditions():
    """eta = 1, eps = 1e-8, 5 copies, 200 steps. Paper: 0.285 +- 0.10, ~90% kept."""
    config = RunConfig(learning_rate=1.0, n_steps=200, n_perturbations=5)
    result = run_lyapunov(config, [1e-8], 20)
    stats = result.stats[0]
    assert stats.kept >= 15
    assert 0.2 < stats.mean < 0.4 and 0.03 < stats.std < 0.2
    assert stats.ci_low < stats.mean < stats.ci_high


def test_ftle_falls_as_eps_grows():
    config = RunConfig(learning_rate=1.0, n_steps=200, n_perturbations=5)
    result = run_lyapunov(config, [1e-12, 1e-3], 12)
    small, large = result.stats
    assert small.mean > large.mean and small.kept >= large.kept


def test_orbital_perturbation_stays_marginal():
    """Perturbing at t0 = 4000 of 5000 (eta 0.01): d stays near its start, in [0.3, 0.7]."""
    result = run_orbital(RunConfig(n_perturbations=10), 4000)
    nd = result.normalized_distance
    assert nd.shape == (1001,) and result.iterations[0] == 4000
    assert 0.3 <= nd.min() and nd.max() <= 0.7
    # the continuing reference is the original trajectory, bit for bit
    full = run_stability(RunConfig(n_perturbations=1, n_steps=5000, save_every=1000))
    assert np.array_equal(result.after.theta[-1, 0], full.trajectory.theta[-1, 0])


def test_a_huge_learning_rate_is_reported_not_raised():
    result = run_stability(RunConfig(learning_rate=1000.0, n_steps=300, n_perturbations=3))
    assert result.trajectory.loss.shape == (301, 4)
    # measured: no overflow (the sigmoid saturates), the loss stays finite near 2,460 and the
    # accuracy at chance: eta = 1000 is chaotic, not divergent, for this network
    assert not result.trajectory.diverged.any()
    assert (result.trajectory.loss[-1] > 100).all() and np.isfinite(result.trajectory.loss[-1]).all()
    assert (result.trajectory.accuracy[-1] < 0.4).all()


def test_theta0_must_match_the_network():
    with pytest.raises(ValueError, match=r"shape \(83,\)"):
        run_stability(SHORT, theta0=np.zeros(82))
    with pytest.raises(ValueError, match="NaN"):
        run_stability(SHORT, theta0=np.full(83, np.nan))
    with pytest.raises(ValueError, match="float"):
        run_stability(SHORT, theta0=np.zeros(83, dtype=np.int64))


def test_given_theta0_is_the_reference_start():
    theta0 = np.random.default_rng(9).standard_normal(83)
    result = run_stability(SHORT, theta0=theta0)
    assert np.array_equal(result.trajectory.theta[0, 0], theta0)


def test_bad_experiment_arguments():
    with pytest.raises(ValueError, match="t0 must be between 0 and 299"):
        run_orbital(SHORT, 300)
    with pytest.raises(ValueError, match="eps"):
        run_lyapunov(SHORT, [1e-8, -1.0], 2)
    with pytest.raises(ValueError, match="n_inits"):
        run_lyapunov(SHORT, [1e-8], 0)


def test_eps_sweep_rows_equal_single_runs_and_collapse_in_the_linear_regime():
    config = RunConfig(n_steps=400, n_perturbations=3)
    sweep = run_eps_sweep(config, [1e-12, 1e-8, 1e-4])
    assert sweep.distance.shape == (3, 401, 3)
    single = run_stability(dataclasses.replace(config, eps=1e-8))
    assert np.array_equal(sweep.distance[1], single.distance)
    # linear response (the paper's Fig. 6; docs/method.md §2): the normalised curves coincide for small eps
    np.testing.assert_allclose(sweep.normalized_distance[0], sweep.normalized_distance[1], rtol=1e-3)


@pytest.fixture
def one_gigabyte(monkeypatch):
    """The machine as if 1 GB were available."""
    monkeypatch.setattr("core.engine.training.available_memory", lambda: 10**9)


def test_jobs_larger_than_the_memory_are_refused_before_anything_is_allocated(one_gigabyte):
    """10 million steps x 1,001 trajectories need ~450 GB (records 320 GB, theta saved every 100
    steps 130 GB): refused with the estimate (NumPy would raise MemoryError, or the machine swap)."""
    big = RunConfig(n_steps=10_000_000, n_perturbations=1000)
    with pytest.raises(ValueError, match=r"needs ~453 GB .*\(10,000,001 steps x 1,001 trajectories.* about 1 GB"):
        run_stability(big)
    with pytest.raises(ValueError, match=r"needs ~453 GB .* later t0"):
        run_orbital(big, 10)
    with pytest.raises(ValueError, match=r"needs ~[\d,]+ GB .*eps values"):
        run_eps_sweep(big, [1e-8, 1e-4])
    with pytest.raises(ValueError, match=r"needs ~[\d,]+ GB .*2 chunk\(s\) at once of 1,001 trajectories"):
        run_lyapunov(big, [1e-8], 4, workers=2)


def test_lyapunov_memory_counts_the_chunks_running_at_once_and_the_bootstrap(monkeypatch):
    """A chunk of one network x (1 + 1000) rows x 8,001 steps is ~0.33 GB (core.experiments.cells
    trains one such network per chunk): one fits in 1 GB, four workers' (1.3 GB) do not. The
    bootstrap of 100,000 initial conditions (2,000 x 1e5 indices and values) needs 3.2 GB."""
    monkeypatch.setattr("core.engine.training.available_memory", lambda: 10**9)
    config = RunConfig(n_steps=8000, n_perturbations=1000)
    with pytest.raises(ValueError, match=r"needs ~1\.3 GB .*4 chunk\(s\) at once of 1,001 trajectories"):
        run_lyapunov(config, [1e-8], 16, workers=4)
    _check_lyapunov_memory(config, FTLEConfig(), 83, 16, 1, 1, None)  # one worker: fits
    monkeypatch.setattr("core.engine.training.available_memory", lambda: 2 * 10**9)
    with pytest.raises(ValueError, match=r"needs ~3\.2 GB .*100,000 initial conditions"):
        run_lyapunov(RunConfig(n_steps=10, n_perturbations=1), [1e-8], 100_000, workers=1)


def test_jobs_that_fit_run_and_unknown_memory_refuses_nothing(monkeypatch):
    monkeypatch.setattr("core.engine.training.available_memory", lambda: None)
    assert run_stability(RunConfig(n_steps=2, n_perturbations=1)).trajectory.n_steps == 2
    monkeypatch.setattr("core.engine.training.available_memory", lambda: 10**8)  # 100 MB: enough for a short run
    result = run_lyapunov(RunConfig(n_steps=20, n_perturbations=1), [1e-8], 2, workers=1)
    assert result.mean_distance.shape == (2, 1, 21)


def test_stability_ftle_uses_the_callers_estimator_settings():
    config = RunConfig(learning_rate=1.0, n_steps=200, n_perturbations=3)
    strict = FTLEConfig(starts=(0, 20, 5), lengths=(40, 60, 10), min_r2=0.999, min_slope=0.05)
    default, custom = run_stability(config), run_stability(config, ftle_config=strict)
    assert custom.ftle.slope == fit_ftle(custom.mean_distance, strict).slope
    assert custom.ftle.length in (40, 50, 60) and custom.ftle.start <= 20
    assert default.ftle.slope == fit_ftle(default.mean_distance).slope
    assert (custom.ftle.start, custom.ftle.length) != (default.ftle.start, default.ftle.length)
