"""Ablation and displacement (docs/method.md §5)."""

import numpy as np
import pytest

from core.config import RunConfig
from core.experiments import run_stability
from core.model import MLP
from core.weights import ablated_copies, ablation_ratio, relative_displacement


def test_batched_ablation_equals_a_one_by_one_loop(iris):
    mlp = MLP()
    objective = mlp.objective(iris.x_train, iris.y_train)
    theta = mlp.init(np.random.default_rng(0), 1)[0]
    base = objective.loss(theta)[0]
    for layer, (rows, cols) in (("W1", (4, 10)), ("W2", (10, 3))):
        ratio = ablation_ratio(objective, theta, layer)
        assert ratio.shape == (rows, cols)
        for i in range(rows):
            for j in range(cols):
                one = theta.copy()
                w = mlp.views(one)[0 if layer == "W1" else 2]
                w[i, j] = 0.0
                assert ratio[i, j] == pytest.approx(objective.loss(one)[0] / base, rel=1e-13)


def test_ablated_copies_change_exactly_one_weight():
    mlp = MLP()
    theta = np.arange(1.0, 84.0)
    copies = ablated_copies(mlp, theta, "W2")
    assert copies.shape == (30, 83)
    changed = copies != theta
    assert (changed.sum(axis=1) == 1).all() and changed[:, 50:80].all(axis=0).sum() == 0
    assert np.flatnonzero(changed[0]).tolist() == [50]
    with pytest.raises(ValueError, match="layer must be one of W1, W2"):
        ablated_copies(mlp, theta, "b1")


def test_trained_network_has_few_weights_that_matter():
    """eta 0.01 after 5000 steps: most L_w/L near 1, a few well above (paper: up to ~4)."""
    result = run_stability(RunConfig(n_perturbations=1, save_every=5000))
    objective = result.mlp.objective(result.data.x_train, result.data.y_train)
    ratio = ablation_ratio(objective, result.trajectory.final_theta[0], "W1")
    assert np.median(ratio) == pytest.approx(1.0, abs=0.25)
    assert ratio.max() > 2.0
    assert (ratio > 2.0).sum() <= 10


def test_relative_displacement_marks_zero_starts():
    out = relative_displacement(np.array([2.0, 0.0, -1.0]), np.array([3.0, 5.0, -1.0]))
    assert out[0] == 0.5 and np.isnan(out[1]) and out[2] == 0.0
