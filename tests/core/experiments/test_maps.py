"""Maps over eta: equal to single runs, zoom keeps the coarse values, the orbit diagram's regimes."""

import dataclasses
import math

import numpy as np
import pytest

from core.analysis.lyapunov import fit_ftle
from core.config import RunConfig
from core.experiments.eps_sweep import run_eps_sweep
from core.experiments.maps import refine, run_map, zoom, zoom_grids
from core.experiments.orbit import distinct_values, run_orbit
from core.experiments.stability import run_stability

SHORT = RunConfig(n_steps=200, n_perturbations=3, seed=3)


def test_eta_seed_map_equals_single_runs():
    etas, seeds = [0.05, 2.0], [3, 11]
    m = run_map("eta-seed", SHORT, etas, seeds, workers=2)
    for i, eta in enumerate(etas):
        for j, seed in enumerate(seeds):
            run = run_stability(dataclasses.replace(SHORT, learning_rate=eta, seed=seed))
            assert m.value[i, j] == run.trajectory.loss[-1, 0]
            assert m.share[i, j] == run.test_accuracy[0]
    assert m.done.all() and not m.diverged.any()
    assert list(m.table().columns) == ["eta", "seed", "final_loss", "test_accuracy", "diverged"]


def test_eta_eps_map_is_the_mean_kept_ftle_of_the_eps_sweeps():
    etas, eps = [1.0], [1e-10, 1e-4]
    m = run_map("eta-eps", SHORT, etas, eps, n_inits=3, workers=1)
    slopes, kept = [], []
    for j in range(3):
        run = run_eps_sweep(dataclasses.replace(SHORT, learning_rate=1.0, seed=SHORT.seed + j), eps)
        fit = fit_ftle(run.mean_distance)
        slopes.append(fit.slope)
        kept.append(fit.kept)
    slopes, kept = np.array(slopes), np.array(kept)  # (G, E)
    for k in range(2):
        expected = slopes[kept[:, k], k].mean() if kept[:, k].any() else math.nan
        np.testing.assert_allclose(m.value[0, k], expected, rtol=1e-15)
        assert m.share[0, k] == kept[:, k].mean()


def test_zoom_reproduces_the_coarse_values_at_the_shared_grid_points():
    coarse = run_map("eta-eps", SHORT, np.geomspace(0.1, 10, 5), np.geomspace(1e-12, 1e-4, 3), n_inits=3, workers=2)
    fine = zoom(coarse, (0.3, 3.5), (1e-12, 1e-8), factor=2, workers=2)
    assert fine.etas.size == 5 and fine.ys.size == 3  # 0.316..3.16 and 1e-12..1e-8, halved steps
    shared = 0
    for i, eta in enumerate(fine.etas):
        for j, eps in enumerate(fine.ys):
            a, b = np.flatnonzero(coarse.etas == eta), np.flatnonzero(coarse.ys == eps)
            if a.size and b.size:
                shared += 1
                np.testing.assert_array_equal(fine.value[i, j], coarse.value[a[0], b[0]])
                assert fine.share[i, j] == coarse.share[a[0], b[0]]
    assert shared == 6  # 3 coarse etas x 2 coarse eps inside the rectangle


def test_refine_keeps_the_coarse_floats_and_widens_a_box_between_two_points():
    grid = np.geomspace(0.001, 20, 25)
    fine = refine(grid, 0.01, 0.1, 4)
    inside = grid[(grid >= 0.01) & (grid <= 0.1)]
    np.testing.assert_array_equal(fine[::4], inside)
    assert np.all(np.diff(fine) > 0) and fine.size == 4 * (inside.size - 1) + 1
    between = refine(grid, 0.0105, 0.0110, 2)  # no grid point inside: the bracketing interval
    assert between.size == 3 and between[0] < 0.0105 and between[-1] > 0.0110
    etas, seeds = zoom_grids("eta-seed", grid, np.arange(10), (1, 2), (2, 5))
    np.testing.assert_array_equal(seeds, [2, 3, 4, 5])
    with pytest.raises(ValueError, match="no seed"):
        zoom_grids("eta-seed", grid, np.arange(10), (1, 2), (20, 30))
    with pytest.raises(ValueError, match="low < high"):
        refine(grid, 1.0, 0.5)
    with pytest.raises(ValueError, match="the zoom box 100..200 lies outside the map's grid 0.001..20"):
        refine(grid, 100.0, 200.0)
    with pytest.raises(ValueError, match="the zoom would make 199,001 grid points; the limit is 100,000"):
        refine(np.geomspace(0.001, 20, 200), 0.001, 20.0, 1000)  # refused before the grid is made


def test_orbit_diagram_shows_band_periodic_orbits_and_chaos():
    """Measured independently (Iris, one network, 3,000 steps, last 200 losses): up to eta ~2 a
    narrow band near the trained loss (0.05-0.25); from ~2.5 to ~9 periodic orbits of 1 to 8
    values, many on the plateau ln 3; from ~10 on broad chaotic bands (losses 2 to 100)."""
    orbit = run_orbit(RunConfig(n_steps=3000), [0.5, 4.0, 20.0], n_last=200, workers=1)
    low, periodic, chaotic = orbit.losses
    assert 0.03 < low.min() and low.max() < 0.3
    assert 1 <= orbit.n_distinct[1] <= 8 and np.min(np.abs(periodic - math.log(3))) < 0.05
    assert orbit.n_distinct[2] > 100 and chaotic.max() - chaotic.min() > 5 and chaotic.min() > 1
    table = orbit.table()
    assert len(table) == 600 and table["step"].min() == 2801 and table["step"].max() == 3000


def test_distinct_values_counts_orbit_points():
    assert distinct_values(np.array([1.0, 2.0, 1.0, 2.0])) == 2
    assert distinct_values(np.array([1.0, 1.0 + 1e-9, np.nan])) == 1
    assert distinct_values(np.random.default_rng(0).random(50)) == 50
    assert distinct_values(np.array([np.nan])) == 0


@pytest.mark.parametrize(
    ("kind", "etas", "ys", "message"),
    [
        ("eta-x", [1.0], [1e-8], "map kind must be one of"),
        ("eta-eps", [], [1e-8], "at least one eta"),
        ("eta-eps", [1.0], [], "at least one eps"),
        ("eta-eps", [1.0], [20.0], "eps must be a finite number"),
        ("eta-seed", [1.0], [], "at least one seed"),
        ("eta-seed", [-1.0], [0], "eta must be a finite number"),
    ],
)
def test_bad_maps_are_refused(kind, etas, ys, message):
    with pytest.raises(ValueError, match=message):
        run_map(kind, SHORT, etas, ys)


def test_a_zoom_span_must_be_two_values():
    from core.experiments.maps import zoom_grids

    with pytest.raises(ValueError, match="the zoom's eta range must be two values"):
        zoom_grids("eta-eps", np.geomspace(0.1, 10, 5), np.geomspace(1e-10, 1e-2, 5), (0.3, 3.0, 9.0), (1e-9, 1e-3))
