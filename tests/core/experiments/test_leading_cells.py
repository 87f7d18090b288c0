"""The leading tangent exponent of each cell's reference (core.experiments.cells, with_leading)
and the maps that show it (core.experiments.maps, value="leading"): each number is the one
run_leading_exponent gives that cell's (eta, seed) alone, and the cells' other results do not move."""

import dataclasses

import numpy as np
import pytest

from core.config import RunConfig
from core.experiments.cells import train_cells
from core.experiments.maps import run_map
from core.experiments.spectrum import run_leading_exponent
from core.experiments.stability import dataset_for

CONFIG = RunConfig(n_steps=120, seed=3, n_perturbations=2)
ETAS = np.array([0.5, 1.0, 1.0, 4.0])
SEEDS = np.array([3, 3, 4, 4])


def _alone(eta: float, seed: int) -> float:
    return float(run_leading_exponent(dataclasses.replace(CONFIG, learning_rate=eta, seed=seed)).exponents[0])


@pytest.fixture(scope="module")
def cells():
    data = dataset_for(CONFIG, None)
    common = {"eps": np.array([1e-8, 1e-4]), "n_copies": 2, "workers": 1}
    return (
        train_cells(CONFIG, data, ETAS, SEEDS, **common),
        train_cells(CONFIG, data, ETAS, SEEDS, with_leading=True, **common),
    )


def test_each_cells_leading_exponent_is_its_runs(cells):
    _, leading = cells
    expected = [_alone(eta, seed) for eta, seed in zip(ETAS, SEEDS, strict=True)]
    np.testing.assert_allclose(leading.leading, expected, rtol=0, atol=1e-12)
    assert np.ptp(expected) > 0.05  # the cells differ: the test can fail


def test_the_leading_exponent_leaves_every_other_result_bit_identical(cells):
    bare, leading = cells
    assert np.isnan(bare.leading).all()
    for field in dataclasses.fields(bare):
        if field.name not in ("leading", "cancelled"):
            np.testing.assert_array_equal(getattr(bare, field.name), getattr(leading, field.name), err_msg=field.name)


def test_the_eta_seed_map_of_leading_exponents():
    config = CONFIG  # eta-seed trains no copies: its networks are the runs' references
    etas, seeds = [0.5, 2.0], [3, 4]
    result = run_map("eta-seed", config, etas, seeds, value="leading", workers=1)
    expected = [[_alone(eta, seed) for seed in seeds] for eta in etas]
    np.testing.assert_allclose(result.value, expected, rtol=0, atol=1e-12)
    assert result.value_name == "leading_exponent" and "leading_exponent" in result.table().columns
    default = run_map("eta-seed", config, etas, seeds, workers=1)
    assert default.value_name == "final_loss"
    np.testing.assert_array_equal(default.share, result.share)  # the test accuracy stays beside it


def test_the_eta_eps_map_of_leading_exponents_is_the_mean_over_its_networks():
    etas, eps = [0.5, 2.0], [1e-8, 1e-4]
    result = run_map("eta-eps", CONFIG, etas, eps, n_inits=2, value="leading", workers=1)
    means = [np.mean([_alone(eta, seed) for seed in (3, 4)]) for eta in etas]
    np.testing.assert_allclose(result.value, np.repeat(np.array(means)[:, None], 2, axis=1), rtol=0, atol=1e-12)
    default = run_map("eta-eps", CONFIG, etas, eps, n_inits=2, workers=1)
    np.testing.assert_array_equal(default.share, result.share)


def test_adam_has_a_leading_map_and_an_unknown_value_is_refused_before_training():
    adam = run_map("eta-seed", dataclasses.replace(CONFIG, optimizer="adam"), [0.05], [1], value="leading")
    assert np.isfinite(adam.value).all() and np.abs(adam.value).max() > 1e-4  # Adam's map on (theta, m, v)
    with pytest.raises(ValueError, match="map value"):
        run_map("eta-seed", CONFIG, [1.0], [1], value="lyapunov")
