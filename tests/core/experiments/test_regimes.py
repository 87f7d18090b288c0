"""The regime sweep: equal to single runs, independent of workers, and labelled as measured."""

import dataclasses

import numpy as np
import pytest

from core.analysis.labels import CHAOTIC, DIVERGED, EDGE, SLOW, STABLE, majority, regime_labels
from core.analysis.lyapunov import fit_ftle
from core.config import RunConfig
from core.data import load_iris
from core.engine import training
from core.experiments.regimes import geometric_grid, run_sweep, steps_to_accuracy
from core.experiments.stability import run_stability

SMALL = RunConfig(n_steps=200, n_perturbations=3, seed=7)


def test_a_sweep_equals_the_same_runs_done_one_by_one():
    etas = [0.01, 1.0, 5.0]
    sweep = run_sweep(SMALL, etas, 2, workers=1)
    for i, eta in enumerate(etas):
        for j in range(2):
            run = run_stability(dataclasses.replace(SMALL, learning_rate=eta, seed=SMALL.seed + j))
            assert sweep.seeds[j] == SMALL.seed + j
            np.testing.assert_array_equal(sweep.cells.loss[i * 2 + j], run.trajectory.loss[:, 0])
            np.testing.assert_array_equal(sweep.cells.mean_distance[i * 2 + j, 0], run.mean_distance)
            assert sweep.test_accuracy[i, j] == run.test_accuracy[0]
            assert sweep.ftle.slope[i, j] == fit_ftle(run.mean_distance).slope


def test_a_sweep_is_identical_for_any_number_of_workers():
    one = run_sweep(SMALL, [0.1, 2.0, 8.0], 3, workers=1)
    two = run_sweep(SMALL, [0.1, 2.0, 8.0], 3, workers=2)
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(one.runs(), two.runs())
    pd.testing.assert_frame_equal(one.summary(), two.summary())
    np.testing.assert_array_equal(one.cells.loss, two.cells.loss)


def test_labels_of_eta_001_1_and_5_differ_and_match_the_measured_regimes():
    """Measured independently on Iris (10 networks, 500 steps): eta 0.01 learns with no
    loss-increasing step; eta 1 learns while ~45% of steps increase the loss and copies
    separate exponentially; eta 5 stays at chance with ~50% increasing steps."""
    sweep = run_sweep(RunConfig(n_steps=500, n_perturbations=5), [0.01, 1.0, 5.0], 10, workers=2)
    summary = sweep.summary()
    assert list(summary["regime"]) == [STABLE, EDGE, CHAOTIC]
    low, edge, chaos = summary.to_dict(orient="records")
    assert low["loss_increase_fraction"] == 0 and low["train_accuracy"] > 0.7
    assert low["ftle_kept_fraction"] == 0
    assert 0.3 < edge["loss_increase_fraction"] < 0.6 and edge["train_accuracy"] > 0.85
    assert edge["ftle_kept_fraction"] >= 0.7 and 0.15 < edge["ftle_mean"] < 0.45
    assert edge["ftle_ci_low"] <= edge["ftle_mean"] <= edge["ftle_ci_high"]
    assert chaos["train_accuracy"] < 0.4 and chaos["loss_increase_fraction"] > 0.4
    # sharpness: far below 2/eta at 0.01, of the order of 2/eta at the edge of stability
    assert low["sharpness_over_2_eta"] < 0.1
    assert 0.3 < edge["sharpness_over_2_eta"] < 3
    # time to 90% test accuracy: never at 0.01 within 500 steps for most networks, fast at 1
    assert edge["steps_to_accuracy"] < 150 and edge["reached_target"] >= 0.8
    assert low["reached_target"] < 0.5 and chaos["reached_target"] == 0


def test_a_huge_learning_rate_is_labelled_not_raised():
    sweep = run_sweep(SMALL, [1000.0, 1e5], 2, workers=1)
    assert set(sweep.regime.ravel()) <= {CHAOTIC, DIVERGED}
    runs = sweep.runs()
    assert len(runs) == 4 and (runs["regime"] != None).all()  # noqa: E711 (pandas elementwise)
    assert np.isnan(sweep.final_loss[sweep.diverged]).all()


def test_a_cancelled_sweep_keeps_the_cells_done_and_marks_the_rest():
    seen = []

    def stop_after_first(done, total, partial):
        seen.append((done, total, int(partial.done.sum())))
        return False

    sweep = run_sweep(SMALL, geometric_grid(0.01, 10, 8), 4, workers=1, on_progress=stop_after_first)
    assert sweep.cancelled and len(seen) == 1
    done, total, n_done = seen[0]
    assert total == 32 and 0 < done == n_done < 32
    assert np.isnan(sweep.final_loss[~sweep.done]).all() and np.isfinite(sweep.final_loss[sweep.done]).all()
    assert len(sweep.runs()) == done
    assert (sweep.regime[~sweep.done] == None).all()  # noqa: E711


def test_steps_to_accuracy_is_the_first_step_at_the_target_or_nan():
    acc = np.array([[0.1, 0.5, 0.9, 0.8, 0.95], [0.1, 0.2, 0.3, np.nan, np.nan], [0.9, 0.9, 0.9, 0.9, 0.9]])
    np.testing.assert_array_equal(steps_to_accuracy(acc, 0.9), [2, np.nan, 0])
    np.testing.assert_array_equal(steps_to_accuracy(acc, 0.95), [4, np.nan, np.nan])


def test_regime_rules_on_hand_made_networks():
    diverged = np.array([False, False, False, False, True])
    accuracy = np.array([0.9, 0.9, 0.34, 0.5, 0.0])
    increases = np.array([0.0, 0.4, 0.5, 0.0, 0.5])
    kept = np.array([False, False, True, False, False])
    separation = np.array([0.5, 16.0, 18.0, 0.2, np.nan])
    labels = regime_labels(diverged, accuracy, 1 / 3, increases, kept, separation)
    assert list(labels) == [STABLE, EDGE, CHAOTIC, SLOW, DIVERGED]
    # a kept FTLE alone makes a learning network "edge"
    assert regime_labels(diverged[:1], accuracy[:1], 1 / 3, increases[:1], np.array([True]), separation[:1])[0] == EDGE
    assert majority(np.array([EDGE, CHAOTIC, EDGE])) == EDGE
    assert majority(np.array([EDGE, STABLE])) == STABLE  # a tie goes to the first regime
    assert majority(np.array([])) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1.0, 1.0, 5), "low < high"),
        ((2.0, 1.0, 5), "low < high"),
        ((0.1, 1.0, 1), "eta points must be between 2"),
        ((0.0, 1.0, 5), "eta low must be a finite number"),
        ((0.1, float("inf"), 5), "eta high must be a finite number"),
    ],
)
def test_bad_grids_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        geometric_grid(*args)


def test_bad_sweep_arguments_are_refused():
    with pytest.raises(ValueError, match="target accuracy"):
        run_sweep(SMALL, [0.1], 2, target_accuracy=1.5)
    with pytest.raises(ValueError, match="target accuracy"):
        run_sweep(SMALL, [0.1], 2, target_accuracy=0.0)
    with pytest.raises(ValueError, match="the sweep needs at least one eta"):
        run_sweep(SMALL, [], 2)
    with pytest.raises(ValueError, match="n_inits"):
        run_sweep(SMALL, [0.1], 0)
    with pytest.raises(ValueError, match="eta must be a finite number"):
        run_sweep(SMALL, [0.1, -1.0], 2)
    with pytest.raises(ValueError, match=r"seeds 9223372036854775807 \.\. 9223372036854775808 go past"):
        run_sweep(dataclasses.replace(SMALL, seed=2**63 - 1), [0.1], 2)


def test_a_sweep_larger_than_the_memory_is_refused_before_training(monkeypatch):
    monkeypatch.setattr(training, "available_memory", lambda: 10**9)
    with pytest.raises(ValueError, match=r"needs ~[\d.,]+ GB of memory .* cells of 21 trajectories"):
        run_sweep(RunConfig(n_steps=1_000_000, n_perturbations=20), [0.1, 1.0], 100, workers=1)


def test_digits_reaches_90_percent_test_accuracy_quickly_at_eta_1():
    """Measured independently (64-64-10 tanh): ~30 iterations to 90% test accuracy at eta 1-2."""
    config = RunConfig.for_dataset("digits", n_steps=120, n_perturbations=1)
    sweep = run_sweep(config, [1.0], 1, workers=1)
    assert sweep.steps_to_accuracy[0, 0] < 100
    assert sweep.test_accuracy[0, 0] > 0.9


def test_a_diverging_sweep_is_labelled_and_its_numbers_are_nan():
    """Features scaled by 1e150 with ReLU overflow at the first step: every network diverges."""
    iris = load_iris()
    huge = dataclasses.replace(iris, x_train=iris.x_train * 1e150, x_test=iris.x_test * 1e150)
    config = RunConfig(n_steps=20, n_perturbations=2, activation="relu")
    sweep = run_sweep(config, [0.1, 1.0], 2, data=huge, workers=1)
    assert sweep.diverged.all() and (sweep.regime == DIVERGED).all()
    assert np.isnan(sweep.final_loss).all() and np.isnan(sweep.train_accuracy).all()
    summary = sweep.summary()
    assert list(summary["diverged_fraction"]) == [1.0, 1.0] and list(summary["regime"]) == [DIVERGED, DIVERGED]


def test_without_test_rows_the_time_to_accuracy_is_not_a_zero():
    iris = load_iris()
    train_only = dataclasses.replace(iris, x_test=iris.x_test[:0], y_test=iris.y_test[:0])
    sweep = run_sweep(SMALL, [1.0], 2, data=train_only, workers=1)
    assert np.isnan(sweep.steps_to_accuracy).all() and np.isnan(sweep.summary()["reached_target"]).all()


def test_a_chunk_keeps_blas_on_one_thread_beyond_the_objective(monkeypatch):
    """A chunk has one core: its sharpness and its test accuracy run with BLAS on one thread.
    On two threads OpenBLAS waits for the other, busy core (eigvalsh of the 83 x 83 Hessian
    measured 3-6 ms against 0.34 ms; the default sweep 12.7 s of CPU against 8.6 s)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from core.engine import model
    from core.experiments import cells

    seen = []

    def blas_threads():
        seen.append(max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"))

    sharpness, accuracy = cells.sharpness, model.MLP.accuracy
    monkeypatch.setattr(cells, "sharpness", lambda *a, **k: blas_threads() or sharpness(*a, **k))
    monkeypatch.setattr(model.MLP, "accuracy", lambda *a, **k: blas_threads() or accuracy(*a, **k))
    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine, whatever this one has
        run_sweep(dataclasses.replace(SMALL, n_steps=5), [0.1, 1.0], 1, workers=1)
    assert len(seen) > 2 and set(seen) == {1}
