"""The FTLE sweep's seed convention: network g of a sweep with seed s is the run of seed s + g,
the convention of the regime sweeps and maps (core.experiments.cells)."""

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from core.analysis.lyapunov import fit_ftle
from core.config import RunConfig
from core.data import load_iris
from core.experiments.cells import cells_per_chunk, train_cells
from core.experiments.lyapunov_sweep import run_lyapunov
from core.experiments.regimes import run_sweep
from core.experiments.stability import run_stability

EDGE = RunConfig(learning_rate=1.0, n_steps=200, n_perturbations=5, seed=4)
EPS = [1e-12, 1e-8, 1e-3]


def test_network_g_of_a_sweep_is_the_single_run_of_seed_s_plus_g_bit_for_bit():
    """Bit for bit, not to a tolerance: both draw the network and directions from
    default_rng(s + g), each trajectory's arithmetic does not depend on the other rows of its
    batch (the engine's contract, tested in tests/core/engine), and both means reduce the M
    distances of a step along the last axis, in the same order. Checked at M = 5 (the paper's)
    and M = 20 (more than NumPy's 8-wide pairwise-sum block)."""
    for config in (EDGE, dataclasses.replace(EDGE, n_perturbations=20)):
        sweep = run_lyapunov(config, EPS, 3, workers=2)
        assert sweep.mean_distance.shape == (3, len(EPS), 201)
        for g in range(3):
            for j, eps in enumerate(EPS):
                run = run_stability(dataclasses.replace(config, seed=EDGE.seed + g, eps=eps))
                np.testing.assert_array_equal(sweep.mean_distance[g, j], run.mean_distance)
                assert sweep.fits.slope[g, j] == fit_ftle(run.mean_distance).slope
                assert sweep.diverged[g, j] == run.trajectory.diverged.any()


def test_a_networks_curves_depend_neither_on_the_sweeps_size_nor_on_workers_or_executor():
    """40 networks of 3 rows are trained 3 to a chunk, 5 networks one to a chunk: the first 5
    rows are the same, on 1 or 2 processes or on an executor's threads."""
    config = dataclasses.replace(EDGE, n_steps=120, n_perturbations=1)
    big = run_lyapunov(config, [1e-8], 40, workers=2)
    small = run_lyapunov(config, [1e-8], 5, workers=1)
    with ThreadPoolExecutor(2) as pool:
        threads = run_lyapunov(config, [1e-8], 5, executor=pool)
    np.testing.assert_array_equal(big.mean_distance[:5], small.mean_distance)
    np.testing.assert_array_equal(threads.mean_distance, small.mean_distance)
    assert (cells_per_chunk(40, 3), cells_per_chunk(5, 3)) == (3, 1)  # the chunkings do differ


def test_the_ftle_sweep_at_one_eps_has_the_regime_sweeps_statistics_at_one_eta():
    """The same networks, the same fits and the same bootstrap generator (spawn key
    (BOOTSTRAP_KEY, 0)): the FTLE sweep's statistics at eps are the regime sweep's at eta."""
    config = dataclasses.replace(EDGE, eps=1e-8)
    sweep = run_lyapunov(config, [1e-8], 6, workers=2)
    regimes = run_sweep(config, [1.0], 6, workers=2)
    np.testing.assert_array_equal(sweep.fits.slope[:, 0], regimes.ftle.slope[0])
    assert sweep.stats[0] == regimes.ftle_stats[0]
    assert sweep.stats[0].kept >= 4 and sweep.stats[0].ci_low < sweep.stats[0].mean < sweep.stats[0].ci_high


def test_a_cancelled_sweep_keeps_its_leading_networks_under_their_seeds():
    config = dataclasses.replace(EDGE, n_steps=60, n_perturbations=2)
    full = run_lyapunov(config, EPS, 6, workers=1)
    calls = []

    def stop_after_first(done, total, partial):
        calls.append((done, total, partial))
        return False

    cut = run_lyapunov(config, EPS, 6, workers=1, on_progress=stop_after_first)
    assert cut.cancelled and not full.cancelled
    done, total, partial = calls[0]
    assert len(calls) == 1 and total == 6 and partial is None and 1 <= done < 6
    assert cut.mean_distance.shape[0] == done and len(cut.fits.slope) == done
    np.testing.assert_array_equal(cut.mean_distance, full.mean_distance[:done])
    assert cut.stats[0].total == done


def test_divergence_is_reported_per_eps():
    """Iris features scaled by 5e76, ReLU, eta 0.1, 20 steps (measured: scaled by 3e76 nothing
    overflows, by 7e76 the references do too): the references and their copies at eps 1e-8
    stay finite, the copies at eps 1 overflow. Each flag is whether the single run at that eps
    diverged."""
    iris = load_iris()
    huge = dataclasses.replace(iris, x_train=iris.x_train * 5e76, x_test=iris.x_test * 5e76)
    config = RunConfig(learning_rate=0.1, n_steps=20, n_perturbations=2, activation="relu")
    sweep = run_lyapunov(config, [1e-8, 1.0], 2, data=huge, workers=1)
    assert sweep.diverged.tolist() == [[False, True], [False, True]]
    for g in range(2):
        for j, eps in enumerate([1e-8, 1.0]):
            run = run_stability(dataclasses.replace(config, seed=g, eps=eps), data=huge)
            assert sweep.diverged[g, j] == run.trajectory.diverged.any()
            assert not run.trajectory.diverged[0]
    # the cells' flags: per cell any row (unchanged), per eps the new ones; no copies, no eps
    cells = train_cells(config, huge, np.array([0.1, 0.1]), np.array([0, 1]), eps=np.array([1e-8, 1.0]), n_copies=2)
    assert cells.diverged.tolist() == [True, True]
    np.testing.assert_array_equal(cells.diverged_eps, sweep.diverged)
    alone = train_cells(config, huge, np.array([0.1]), np.array([1]))
    assert alone.diverged_eps.shape == (1, 0) and not alone.diverged[0]


def test_cells_without_the_test_accuracy_are_the_same_cells():
    config = dataclasses.replace(EDGE, n_steps=50, n_perturbations=2)
    args = (config, load_iris(), np.array([0.5, 1.0]), np.array([4, 5]))
    full = train_cells(*args, eps=np.array(EPS), n_copies=2, workers=1)
    lean = train_cells(*args, eps=np.array(EPS), n_copies=2, workers=1, with_test_accuracy=False)
    assert np.isnan(lean.test_accuracy).all() and np.isfinite(full.test_accuracy).all()
    for name in ("loss", "train_accuracy", "mean_distance", "diverged_eps", "diverged", "done"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name))
