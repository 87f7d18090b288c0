"""The cost model (core.engine.speed): its terms follow what the jobs count (chunks, rows, steps,
sharpness products, fits), never a clock. How close its seconds come to a job's is measured by
`cli.py bench --estimates` (docs/performance.md), not here: a timing on a shared machine flakes."""

import numpy as np
import pytest

from core.analysis import hessian
from core.config import RunConfig
from core.data import load_digits, load_iris
from core.engine import speed
from core.engine.model import MLP
from core.experiments.cells import chunk_spans, train_cells
from core.experiments.map_kinds import MAP_KINDS

RATE = 200_000.0
IRIS = speed.network_cost(MLP(), 120, 30)


def test_row_cost_follows_the_engine_and_the_shape():
    """u per row-step: 0.9 for the default network on the kernel, x P/83 x N/120 x the
    activation's factor there, FLOPs / 150k + 7 on BLAS (digits measured 188-210 here)."""
    assert speed.row_cost(MLP(), 120) == speed.KERNEL_ROW
    assert speed.row_cost(MLP(hidden=64), 120) == pytest.approx(speed.KERNEL_ROW * 515 / 83)
    assert speed.row_cost(MLP(activation="tanh"), 120) == pytest.approx(speed.KERNEL_ROW * 3.6)
    assert speed.row_cost(MLP(output="legacy_sigmoid"), 120) == pytest.approx(speed.KERNEL_ROW * speed.NUMPY_ROW)
    digits = speed.network_cost(MLP(64, 64, 10, "tanh"), 1438, 359)
    assert digits.engine == "blas" and 150 < digits.row < 300
    assert digits.row == pytest.approx(29_082_112 / 150_000 + 7)
    assert IRIS.sharpness < 2 * 83 * 2 * IRIS.row  # exact: one call on 2P rows, and eigvalsh
    assert digits.sharpness == pytest.approx(speed.LANCZOS_PRODUCTS * (speed.CELLS_STEP["blas"] + 2 * digits.row))


@pytest.mark.parametrize(("n_cells", "copies"), [(1, 0), (7, 2), (40, 0), (50, 5)])
def test_the_model_chunks_cells_as_train_cells_does(n_cells, copies):
    """train_cells reports once per chunk: the chunks the model prices are the job's."""
    calls = []
    train_cells(
        RunConfig(n_steps=3, n_perturbations=max(copies, 1)),
        load_iris(),
        np.full(n_cells, 0.1),
        np.arange(n_cells),
        eps=np.array([1e-8]),
        n_copies=copies,
        workers=1,
        on_progress=lambda done, total, _: calls.append(done),
    )
    sizes = [s.stop - s.start for s in chunk_spans(n_cells, 1 + copies, local=True)]
    assert calls == np.cumsum(sizes).tolist()


def test_an_estimate_counts_the_rows_and_steps_of_its_job_and_adds_up():
    sweep = MAP_KINDS["eta"].estimate(IRIS, 25, 0, 20, 5, 500, RATE, 2)
    assert sweep.trajectory_steps == 25 * 20 * 6 * 500 and sweep.workers == 2
    eps = MAP_KINDS["eta-eps"].estimate(IRIS, 12, 6, 8, 5, 200, RATE, 2)
    assert eps.trajectory_steps == 12 * 8 * (1 + 6 * 5) * 200
    seeds = MAP_KINDS["eta-seed"].estimate(IRIS, 12, 16, 8, 5, 200, RATE, 2)  # one row per cell, no copies
    assert seeds.trajectory_steps == 12 * 16 * 200
    for estimate in (sweep, eps, seeds):  # what a refusal says adds up to its total
        assert estimate.trajectory_steps / (estimate.rate * estimate.workers) == pytest.approx(estimate.training)
        assert estimate.training + estimate.besides == pytest.approx(estimate.seconds)
        assert estimate.besides > 0  # starting processes, calls, fits: never free
    assert MAP_KINDS["eta"].estimate(IRIS, 25, 0, 20, 5, 500, RATE / 2, 2).seconds == pytest.approx(2 * sweep.seconds)


def test_one_row_cells_cost_several_times_more_per_trajectory_step():
    """The defect: orbit maps (one row per cell) priced 3-14x too low at the rate of 21 rows.
    A step of a chunk of c one-row cells pays the call and the test accuracy for c rows."""
    orbit = MAP_KINDS["orbit"].estimate(IRIS, 40, 0, 1, 5, 2000, RATE, 2)
    strip = MAP_KINDS["eta"].estimate(IRIS, 25, 0, 20, 5, 500, RATE, 2)
    per_step = lambda e: e.seconds / e.trajectory_steps  # noqa: E731
    assert per_step(orbit) > 3 * per_step(strip)
    assert orbit.seconds > speed.POOL_START  # and it pays the start of the worker processes


def test_the_makespan_follows_how_map_chunks_runs_them():
    slow = 1 / speed.PARALLEL_SPEED
    assert speed._makespan([1.0, 2.0, 3.0], 1, 0.75, True) == 6.0  # in this process, one after another
    # two workers, locally: chunk 0 here at once, then chunk 2 (started before 0.75 s); chunks 1, 3
    # and 4 on two processes from 0.75 s
    assert speed._makespan([0.5, 1, 1, 1, 1], 2, 0.75, True) == pytest.approx(0.75 + 2 * slow)
    # chunk 0 done before the processes start: here it goes on with chunk 2 (chunk 1 is theirs),
    # and they take chunks 1 and 3, one each
    assert speed._makespan([0.2, 1, 1, 1], 2, 0.75, True) == pytest.approx(0.75 + slow)
    assert speed._makespan([0.2, 0.1, 0.1, 0.1, 1], 2, 0.75, True) == pytest.approx(1.4 * slow)  # 2, 3 and 4 here
    assert speed._makespan([9.0, 1, 1], 2, 0.75, True) == pytest.approx(9 * slow)  # the first chunk can be last
    assert speed._makespan([1.0] * 4, 2, 0.75, False) == pytest.approx(2 * slow)  # an executor's run already
    assert speed._makespan([3.0], 2, 0.75, True) == 3.0  # one chunk: no processes started


def test_the_ftle_fit_is_priced_by_the_windows_that_fit():
    assert speed.window_share(200) == 1.0 == speed.window_share(5000)
    assert 0 < speed.window_share(100) < speed.window_share(150) < 1
    assert speed.window_share(20) == 0.0  # shorter than the shortest window (30)
    short = MAP_KINDS["eta-eps"].estimate(IRIS, 12, 6, 8, 5, 20, RATE, 1)
    fits = 12 * 8 * 6 * speed.FTLE_FIT / RATE
    assert short.besides < fits  # no window to fit


def test_lanczos_takes_about_the_products_the_model_counts(monkeypatch):
    """LANCZOS_PRODUCTS against a count: Hessian-vector products of the sharpness of trained
    digits networks (the strip measured 22-56 a cell, mean 27)."""
    counted = []
    product = hessian.hessian_vector_product
    monkeypatch.setattr(hessian, "hessian_vector_product", lambda *a, **k: counted.append(1) or product(*a, **k))
    cells = train_cells(
        RunConfig.for_dataset("digits", n_steps=60, n_perturbations=1),
        load_digits(),
        np.array([0.1, 1.0, 5.0]),
        np.zeros(3, dtype=np.int64),
        with_sharpness=True,
        workers=1,
    )
    assert np.isfinite(cells.sharpness).all()
    assert speed.LANCZOS_PRODUCTS / 2 <= len(counted) / 3 <= 2 * speed.LANCZOS_PRODUCTS


def test_a_run_pays_its_sharpness_points_and_ablation():
    run = speed.run_estimate(IRIS, 21, 5000, RATE)
    full = speed.run_estimate(IRIS, 21, 5000, RATE, sharpness_points=51, ablation=True)
    extra = (51 * IRIS.sharpness + speed.ABLATION_ROWS * IRIS.row) / RATE
    assert full.seconds - run.seconds == pytest.approx(extra)
    assert run.trajectory_steps == 21 * 5000 and run.workers == 1
