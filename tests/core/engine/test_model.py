"""The network: layout, initialisation, analytic gradients against finite differences."""

import numpy as np
import pytest

from core.engine.model import MLP
from core.engine.objective import BLOCK


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("output", ["softmax", "legacy_sigmoid"])
@pytest.mark.parametrize("l2", [0.0, 0.03])
@pytest.mark.parametrize("engine", ["compiled", "numpy"])
def test_gradient_matches_central_differences(iris, activation, output, l2, engine, check_gradient):
    mlp = MLP(4, 10, 3, activation, output)
    objective = mlp.objective(iris.x_train, iris.y_train, l2, engine=engine)
    check_gradient(mlp, objective, np.random.default_rng(7), 3)


def test_loss_matches_direct_softmax_cross_entropy(iris):
    mlp = MLP()
    theta = mlp.init(np.random.default_rng(0), 2)
    w1, b1, w2, b2 = mlp.views(theta[1])
    a = 1 / (1 + np.exp(-(iris.x_train @ w1 + b1)))
    z = a @ w2 + b2
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected = -log_p[np.arange(len(iris.y_train)), iris.y_train].mean()
    loss, _, accuracy = mlp.objective(iris.x_train, iris.y_train)(theta)
    assert loss[1] == pytest.approx(expected, rel=1e-12)
    assert accuracy[1] == pytest.approx((z.argmax(axis=1) == iris.y_train).mean())


def test_flat_layout_and_counts():
    mlp = MLP(4, 10, 3)
    assert (mlp.n_params, mlp.n_weights) == (83, 70)
    theta = np.arange(83.0)
    w1, b1, w2, b2 = mlp.views(theta)
    assert w1[2, 7] == 2 * 10 + 7  # input i -> hidden j at i*H + j
    assert b1[0] == 40 and w2[1, 2] == 50 + 1 * 3 + 2 and b2[2] == 82
    assert mlp.weight_mask.sum() == 70 and not mlp.weight_mask[40:50].any()
    w1[0, 0] = -1.0  # views, not copies
    assert theta[0] == -1.0


def test_normal_init_has_unit_weights_and_zero_biases():
    mlp = MLP()
    theta = mlp.init(np.random.default_rng(1), 2000)
    assert (theta[:, ~mlp.weight_mask] == 0).all()
    weights = theta[:, mlp.weight_mask]
    assert abs(weights.mean()) < 0.01 and abs(weights.std() - 1) < 0.01


def test_glorot_init_respects_layer_limits():
    mlp = MLP()
    w1, _, w2, _ = mlp.views(mlp.init(np.random.default_rng(1), 500, "glorot"))
    assert np.abs(w1).max() <= np.sqrt(6 / 14) and np.abs(w1).max() > 0.9 * np.sqrt(6 / 14)
    assert np.abs(w2).max() <= np.sqrt(6 / 13)


def test_rows_do_not_depend_on_their_batch(iris):
    """A row's loss and gradient are bit-identical alone, in a block, or across blocks."""
    mlp = MLP()
    theta = mlp.init(np.random.default_rng(3), 2 * BLOCK + 5)
    objective = mlp.objective(iris.x_train, iris.y_train)
    loss, grad, accuracy = objective(theta)
    for k in (0, BLOCK - 1, BLOCK, 2 * BLOCK + 4):
        alone = objective(theta[k : k + 1])
        assert alone[0][0] == loss[k] and alone[2][0] == accuracy[k]
        assert np.array_equal(alone[1][0], grad[k])


def test_huge_weights_give_nonfinite_loss_only_in_their_row(iris):
    mlp = MLP()
    theta = mlp.init(np.random.default_rng(0), 3)
    theta[1] = 1e300
    theta[2, 0] = np.nan
    loss, grad, _ = mlp.objective(iris.x_train, iris.y_train)(theta)
    assert np.isfinite(loss[0]) and np.isfinite(grad[0]).all()
    assert not np.isfinite(loss[2])


def test_objective_rejects_mismatched_data(iris):
    with pytest.raises(ValueError, match="shape"):
        MLP(n_inputs=5).objective(iris.x_train, iris.y_train)
    with pytest.raises(ValueError, match="labels"):
        MLP(n_classes=2).objective(iris.x_train, iris.y_train)
