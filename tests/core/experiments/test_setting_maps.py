"""Maps over eta and a setting of the run (width, depth, l2, momentum, batch size): each point
is the run of its config and seed, bit for bit; the values, zoom, cost and refusals."""

import dataclasses

import numpy as np
import pytest

from core.analysis.lyapunov import fit_ftle
from core.config import RunConfig
from core.engine.speed import POOL_START, REFERENCE_RATE, cells_estimate, network_cost
from core.experiments.map_kinds import MAP_KINDS, SettingMap
from core.experiments.maps import run_map, zoom
from core.experiments.regimes import run_sweep
from core.experiments.spectrum import run_leading_exponent
from core.experiments.stability import dataset_for, network_for, run_stability

SHORT = RunConfig(n_steps=60, n_perturbations=2, seed=4)
ETAS = [0.3, 2.0]
# kind, two values of its axis, the config of a value as a single run would be written by hand
CASES = [
    ("eta-width", [3, 16], lambda y: dataclasses.replace(SHORT, hidden=y)),
    ("eta-depth", [1, 3], lambda y: dataclasses.replace(SHORT, hidden=(10,) * y)),
    ("eta-l2", [1e-3, 0.1], lambda y: dataclasses.replace(SHORT, l2=y)),
    ("eta-momentum", [0.0, 0.9], lambda y: dataclasses.replace(SHORT, optimizer="momentum", momentum=y)),
    ("eta-batch", [16, 50], lambda y: dataclasses.replace(SHORT, batch_size=y)),
]


@pytest.mark.parametrize(("kind", "ys", "single"), CASES, ids=[c[0] for c in CASES])
def test_a_point_is_the_single_run_of_its_config_and_seed(kind, ys, single):
    """Final loss bit for bit; the FTLE is the fit of the single run's copies."""
    loss = run_map(kind, SHORT, ETAS, ys, n_inits=1, workers=1, value="loss")
    ftle = run_map(kind, SHORT, ETAS, ys, n_inits=1, workers=1)
    assert loss.done.all() and ftle.done.all() and loss.ys.tolist() == ys
    for i, eta in enumerate(ETAS):
        for j, y in enumerate(ys):
            run = run_stability(dataclasses.replace(single(y), learning_rate=eta))
            expected = np.nan if run.trajectory.diverged.any() else run.trajectory.loss[-1, 0]
            np.testing.assert_array_equal(loss.value[i, j], expected)
            fit = fit_ftle(run.mean_distance[None, :])
            np.testing.assert_allclose(ftle.value[i, j], fit.slope[0] if fit.kept[0] else np.nan, rtol=1e-12)
            assert ftle.share[i, j] == float(fit.kept[0])
    assert list(loss.table().columns) == ["eta", loss.y_name, "final_loss", "test_accuracy", "diverged"]
    assert list(ftle.table().columns) == ["eta", ftle.y_name, "ftle_mean", "ftle_kept_fraction", "diverged"]


def test_network_g_of_a_point_is_the_run_of_seed_plus_g_and_the_leading_exponent_is_theirs():
    m = run_map("eta-width", SHORT, [1.0], [5], n_inits=2, workers=1, value="leading")
    exponents = [
        run_leading_exponent(RunConfig(n_steps=60, hidden=5, learning_rate=1.0, seed=SHORT.seed + g)).exponents[0]
        for g in range(2)
    ]
    np.testing.assert_allclose(m.value[0, 0], np.mean(exponents), rtol=0, atol=1e-12)
    assert m.value_name == "leading_exponent" and m.share_name == "test_accuracy"


def test_steps_to_accuracy_is_the_median_over_the_networks_that_reach_it():
    config = dataclasses.replace(SHORT, n_steps=120)
    m = run_map("eta-l2", config, [0.5, 3.0], [1e-3], n_inits=3, workers=1, value="steps", target_accuracy=0.7)
    sweep = run_sweep(dataclasses.replace(config, l2=1e-3), [0.5, 3.0], 3, target_accuracy=0.7, workers=1)
    steps = sweep.steps_to_accuracy  # (E, G)
    for i in range(2):
        reached = steps[i][np.isfinite(steps[i])]
        np.testing.assert_array_equal(m.value[i, 0], np.median(reached) if reached.size else np.nan)
        assert m.share[i, 0] == np.isfinite(steps[i]).mean()
    assert np.isfinite(m.value).any() and m.value_name == "steps_to_accuracy" and m.share_name == "reached_target"


def test_momentum_of_a_nesterov_config_stays_nesterov():
    nesterov = dataclasses.replace(SHORT, optimizer="nesterov")
    m = run_map("eta-momentum", nesterov, [1.0], [0.5], workers=1, value="loss")
    run = run_stability(dataclasses.replace(nesterov, learning_rate=1.0, momentum=0.5))
    assert m.value[0, 0] == run.trajectory.loss[-1, 0]
    assert MAP_KINDS["eta-momentum"].note(SHORT) == "the optimizer is gd: the map uses heavy-ball momentum"
    assert MAP_KINDS["eta-momentum"].note(nesterov) == ""


def test_a_zoom_keeps_the_coarse_points_and_refines_whole_numbers_to_whole_numbers():
    coarse = run_map("eta-l2", SHORT, [0.3, 1.0, 3.0], [1e-3, 1e-1], workers=1, value="loss")
    fine = zoom(coarse, (0.3, 1.0), (1e-3, 1e-1), factor=2, workers=1)
    assert fine.value_kind == "loss" and fine.ys.size == 3
    for i, j in ((0, 0), (2, 2)):
        a, b = np.flatnonzero(coarse.etas == fine.etas[i])[0], np.flatnonzero(coarse.ys == fine.ys[j])[0]
        np.testing.assert_array_equal(fine.value[i, j], coarse.value[a, b])
    widths = MAP_KINDS["eta-width"].zoom_grids(np.array([0.1, 1.0]), np.array([2, 10, 50]), (0.1, 1), (2, 10), 4)[1]
    assert widths.dtype.kind == "i" and {2, 10} <= set(widths.tolist()) and widths.size > 2
    depths = MAP_KINDS["eta-depth"].zoom_grids(np.array([0.1, 1.0]), np.array([1, 2, 3, 4]), (0.1, 1), (1.6, 3.2), 4)
    assert depths[1].tolist() == [2, 3]


def test_a_stopped_map_marks_what_it_did_not_compute():
    seen = []

    def stop(done, total, partial):
        seen.append((done, total))
        return False

    m = run_map("eta-depth", SHORT, [0.3, 2.0], [1, 2], workers=1, value="loss", on_progress=stop)
    assert m.cancelled and not m.done[:, 1].any() and seen[0][1] == 4


def test_each_setting_value_is_priced_with_its_own_network():
    data = dataset_for(SHORT, None)
    kind = MAP_KINDS["eta-width"]
    assert isinstance(kind, SettingMap)
    configs = kind.group_configs(SHORT, [2, 64], len(data.y_train))
    assert [c.hidden for c in configs] == [2, 64]
    nets = [network_cost(network_for(c, data), len(data.y_train), len(data.y_test)) for c in configs]
    estimate = kind.estimate(nets[0], 3, 2, 4, 5, 100, 2e5, 1, groups=nets)
    parts = [cells_estimate(n, 3 * 4, 1 + 5, 100, 2e5, 1, ftle_series=1) for n in nets]
    assert estimate.seconds == pytest.approx(sum(p.seconds for p in parts))
    assert nets[1].row > nets[0].row and estimate.n_params == nets[1].n_params
    loss = kind.estimate(nets[0], 3, 2, 4, 5, 100, 2e5, 1, groups=nets, value="loss")  # no copies
    assert loss.trajectory_steps == 2 * 3 * 4 * 100


def test_a_setting_map_pays_one_start_of_the_worker_processes():
    """Its values share the worker processes (SettingMap.run): the first value pays their start,
    the others find them running; an executor's workers run already for every value."""
    data = dataset_for(SHORT, None)
    kind = MAP_KINDS["eta-width"]
    n_train, n_test = len(data.y_train), len(data.y_test)
    nets = [
        network_cost(network_for(c, data), n_train, n_test) for c in kind.group_configs(SHORT, [2, 10, 64], n_train)
    ]
    estimate = kind.estimate(nets[0], 3, 3, 4, 5, 100, 2e5, 2, groups=nets)
    cold = [cells_estimate(n, 3 * 4, 1 + 5, 100, 2e5, 2, ftle_series=1) for n in nets]
    warm = [cells_estimate(n, 3 * 4, 1 + 5, 100, 2e5, 2, ftle_series=1, started=True) for n in nets]
    assert estimate.seconds == pytest.approx(cold[0].seconds + warm[1].seconds + warm[2].seconds)
    start = POOL_START * REFERENCE_RATE / 2e5
    for c, w in zip(cold, warm, strict=True):
        # 12 chunks of one cell: this process computes some of them while the workers start, so
        # their start costs less than its own time
        assert 0 < c.seconds - w.seconds < start and c.training == w.training
    remote = kind.estimate(nets[0], 3, 3, 4, 5, 100, 2e5, 2, groups=nets, local=False)
    parts = [cells_estimate(n, 3 * 4, 1 + 5, 100, 2e5, 2, ftle_series=1, local=False) for n in nets]
    assert remote.seconds == pytest.approx(sum(p.seconds for p in parts))


@pytest.mark.parametrize(
    ("kind", "ys", "config", "message"),
    [
        ("eta-width", [0], SHORT, "width 0 is not a whole number of hidden units from 1 to 1024"),
        ("eta-width", [2.5], SHORT, "width 2.5 is not a whole number"),
        ("eta-depth", [5], SHORT, "depth 5 is not a whole number of hidden layers from 1 to 4"),
        ("eta-l2", [0.0], SHORT, r"l2 0 is not a number in \(0, 1000\]"),
        ("eta-momentum", [1.0], SHORT, r"momentum 1 is not a number in \[0, 1\)"),
        ("eta-momentum", [-0.1], SHORT, r"momentum -0.1 is not a number in \[0, 1\)"),
        ("eta-batch", [121], SHORT, "batch_size 121 is not a whole number of rows from 1 to the 120 training rows"),
        ("eta-batch", [], SHORT, "the map needs at least one batch_size"),
        ("eta-momentum", [0.5], dataclasses.replace(SHORT, optimizer="adam"), "the optimizer is adam"),
    ],
)
def test_bad_setting_values_are_refused_naming_the_value_and_the_rule(kind, ys, config, message):
    with pytest.raises(ValueError, match=message):
        run_map(kind, config, [1.0], ys, workers=1)


def test_a_value_a_map_cannot_show_is_refused():
    with pytest.raises(ValueError, match="the eta-eps map's value must be one of default, ftle, leading; got 'loss'"):
        run_map("eta-eps", SHORT, [1.0], [1e-8], value="loss")
    with pytest.raises(ValueError, match="cannot start from one given network"):
        run_map("eta-depth", SHORT, [1.0], [2], theta0=np.zeros(83))
