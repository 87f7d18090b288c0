"""Ablation of every weight matrix of a deeper network (docs/method.md §5, §12): the batched
computation equals the loss of each ablated copy, matrix by matrix."""

import numpy as np
import pytest

from core.analysis.weights import _ablation_by_copies, ablated_loss, ablation_ratio
from core.engine.model import MLP


@pytest.mark.parametrize("widths", [(6, 5), (4, 5, 3), (3, 4, 5, 6)])
@pytest.mark.parametrize("output", ["softmax", "legacy_sigmoid"])
@pytest.mark.parametrize("l2", [0.0, 0.02])
def test_each_matrix_matches_the_ablated_copies(iris, widths, output, l2):
    mlp = MLP(4, widths, 3, "tanh", output)
    rng = np.random.default_rng(2)
    theta = mlp.init(rng, 1)[0]
    theta[~mlp.weight_mask] = 0.1 * rng.standard_normal((~mlp.weight_mask).sum())
    objective = mlp.objective(iris.x_train, iris.y_train, l2, engine="numpy")
    sizes = (4, *widths, 3)
    assert mlp.weight_names == tuple(f"W{i}" for i in range(1, len(widths) + 2))
    for number, layer in enumerate(mlp.weight_names):
        got = ablated_loss(objective, theta, layer)
        assert got.shape == (sizes[number], sizes[number + 1])
        want = _ablation_by_copies(objective, theta, layer)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
        assert np.ptp(got) > 1e-4  # weights differ in how much they matter: not vacuous


def test_small_blocks_give_the_same_losses(iris, monkeypatch):
    mlp = MLP(4, (6, 7), 3)
    theta = mlp.init(np.random.default_rng(0), 1)[0]
    objective = mlp.objective(iris.x_train, iris.y_train, engine="numpy")
    whole = ablated_loss(objective, theta, "W1")
    monkeypatch.setattr("core.analysis.weights.ABLATION_BLOCK_BYTES", 8 * 7 * 120 * 3)  # blocks of 3 weights
    np.testing.assert_allclose(ablated_loss(objective, theta, "W1"), whole, rtol=1e-14, atol=0)


def test_a_layer_the_network_does_not_have_is_refused(iris):
    mlp = MLP(4, (6, 5), 3)
    objective = mlp.objective(iris.x_train, iris.y_train)
    theta = mlp.init(np.random.default_rng(0), 1)[0]
    assert ablation_ratio(objective, theta, "W3").shape == (5, 3)
    with pytest.raises(ValueError, match="layer must be one of W1, W2, W3; got 'W4'"):
        ablated_loss(objective, theta, "W4")
    one = MLP().objective(iris.x_train, iris.y_train)
    with pytest.raises(ValueError, match="layer must be one of W1, W2; got 'W3'"):
        ablated_loss(one, MLP().init(np.random.default_rng(0), 1)[0], "W3")
