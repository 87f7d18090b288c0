"""The gradient-descent engine on dynamics whose answer is known exactly."""

import tracemalloc

import numpy as np
import pytest

from core.analysis.lyapunov import fit_ftle, global_rate
from core.data import load_iris
from core.engine.model import MLP
from core.engine.training import NEVER, available_memory, check_memory, descend, descend_bytes, record_bytes


def quadratic(curvature: np.ndarray):
    """L_k(x) = curvature_k * |x|^2 / 2 per row: GD multiplies x by (1 - eta a) each step."""

    def objective(theta):
        with np.errstate(over="ignore", invalid="ignore"):  # the diverging row overflows
            loss = 0.5 * curvature * (theta**2).sum(axis=1)
        return loss, curvature[:, None] * theta, np.full(len(theta), np.nan)

    return objective


@pytest.mark.parametrize("eta, a", [(0.5, 1.0), (1.5, 2.0), (0.9, 3.0), (0.1, 30.0)])
def test_quadratic_recovers_the_exact_exponent(eta, a):
    """d(t) = |1 - eta a|^t d(0): the fitted and the global rates are ln|1 - eta a|."""
    theta0 = np.array([[1.0, -2.0], [1.0 + 1e-9, -2.0 - 1e-9]])
    traj = descend(quadratic(np.full(2, a)), theta0, eta, 60, reference=np.array([0, 0]))
    d = traj.distance[:, 1]
    expected = np.log(abs(1 - eta * a))
    assert global_rate(d) == pytest.approx(expected, rel=1e-6)
    fit = fit_ftle(d)
    assert float(fit.slope) == pytest.approx(expected, rel=1e-6) and float(fit.r2) > 0.999999


def test_per_row_learning_rates_equal_separate_runs():
    data = load_iris()
    mlp = MLP()
    objective = mlp.objective(data.x_train, data.y_train)
    theta0 = mlp.init(np.random.default_rng(5), 3)
    etas = np.array([0.01, 0.3, 2.0])
    batch = descend(objective, theta0, etas, 40)
    for k in range(3):
        alone = descend(objective, theta0[k : k + 1], etas[k], 40)
        assert np.array_equal(alone.loss[:, 0], batch.loss[:, k])
        assert np.array_equal(alone.theta[:, 0], batch.theta[:, k])


def test_records_loss_accuracy_distance_every_step_and_theta_every_save():
    data = load_iris()
    mlp = MLP()
    theta0 = mlp.init(np.random.default_rng(0), 4)
    traj = descend(mlp.objective(data.x_train, data.y_train), theta0, 0.1, 25, save_every=10, norm="l2")
    assert traj.loss.shape == traj.accuracy.shape == traj.distance.shape == (26, 4)
    assert traj.steps.tolist() == [0, 10, 20, 25] and traj.theta.shape == (4, 4, 83)
    assert np.array_equal(traj.theta[0], theta0)
    assert traj.distance[:, 0].max() == 0.0
    expected = np.linalg.norm(traj.theta[-1, 2] - traj.theta[-1, 0])
    assert traj.distance[-1, 2] == pytest.approx(expected, rel=1e-14)
    assert traj.loss[-1].mean() < traj.loss[0].mean()


def test_a_diverging_row_is_marked_and_frozen_while_others_go_on():
    curvature = np.array([1.0, 1.0])
    theta0 = np.array([[1.0], [1.0]])
    traj = descend(quadratic(curvature), theta0, np.array([0.5, 3.0]), 2000)  # |1 - 3| = 2
    assert traj.diverged.tolist() == [False, True]
    t = traj.diverged_at[1]
    assert t != NEVER and np.isfinite(traj.loss[:t, 1]).all() and not np.isfinite(traj.loss[t, 1])
    assert traj.loss[-1, 0] == pytest.approx(0.0, abs=1e-300)


def test_progress_reports_partial_curves_and_cancel_stops():
    calls = []

    def on_progress(done, total, partial):
        calls.append((done, total, partial.loss.shape[0]))
        return done < 200

    traj = descend(quadratic(np.ones(1)), np.ones((1, 1)), 0.1, 1000, on_progress=on_progress, progress_every=100)
    assert calls == [(100, 1000, 100), (200, 1000, 200)]
    assert traj.cancelled and traj.n_steps == 200 and traj.loss.shape == (201, 1)
    assert traj.steps[-1] == 200


def test_bad_engine_input_is_rejected():
    obj = quadratic(np.ones(2))
    with pytest.raises(ValueError, match="learning rates"):
        descend(obj, np.ones((2, 1)), np.array([0.1, -1.0]), 3)
    with pytest.raises(ValueError, match="finite"):
        descend(obj, np.array([[np.nan], [1.0]]), 0.1, 3)
    with pytest.raises(ValueError, match="reference"):
        descend(obj, np.ones((2, 1)), 0.1, 3, reference=np.array([0, 5]))


def test_memory_of_a_long_run_is_bounded():
    """50,000 steps, 21 rows, 83 parameters, theta saved every 100 steps: about 41 MB."""
    assert record_bytes(50_000, 21, 83, 100) == 8 * (4 * 50_001 * 21 + 503 * 21 * 83)
    assert record_bytes(50_000, 21, 83, 100) < 45e6


def test_path_length_and_norm_follow_the_saved_parameters():
    data = load_iris()
    mlp = MLP()
    theta0 = mlp.init(np.random.default_rng(4), 2)
    traj = descend(mlp.objective(data.x_train, data.y_train), theta0, 0.5, 30, save_every=1)
    steps = np.abs(np.diff(traj.theta, axis=0)).sum(axis=0)  # (K, P)
    np.testing.assert_allclose(traj.path_length, steps, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(traj.theta_norm, np.abs(traj.theta).sum(axis=2), rtol=1e-13)


@pytest.mark.parametrize("rows, steps, save_every", [(30, 1000, 1), (200, 500, 7), (100, 2000, None)])
def test_descend_bytes_is_the_measured_peak(rows, steps, save_every):
    """The estimate the experiments refuse big jobs by is within a few percent of what descend
    allocates (traced by tracemalloc, which sees NumPy's buffers; 0.5 MB for whatever else the
    process allocates meanwhile)."""
    data = load_iris()
    mlp = MLP()
    objective = mlp.objective(data.x_train, data.y_train)
    theta0 = mlp.init(np.random.default_rng(0), rows)
    descend(objective, theta0, 0.01, 2)  # the kernel's first call compiles or loads it
    tracemalloc.start()
    try:
        descend(objective, mlp.init(np.random.default_rng(0), rows), 0.01, steps, save_every=save_every)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.95 * peak - 0.5e6 < descend_bytes(steps, rows, mlp.n_params, save_every) < 1.3 * peak


def test_check_memory_refuses_more_than_is_available(monkeypatch):
    available = available_memory()
    assert available is None or available > 0
    monkeypatch.setattr("core.engine.training.available_memory", lambda: 3_000_000_000)
    check_memory(2_900_000_000, "its records", "use less")
    message = r"needs ~3\.1 GB of memory for its records; about 3 GB are available: use less$"
    with pytest.raises(ValueError, match=message):
        check_memory(3_100_000_000, "its records", "use less")
    monkeypatch.setattr("core.engine.training.available_memory", lambda: None)  # unknown: no refusal
    check_memory(10**15, "its records", "use less")
