"""Ablation and displacement (docs/method.md §5)."""

import numpy as np
import pytest

import core.analysis.weights as weights
from core.analysis.weights import (
    _ablation_by_copies,
    ablated_copies,
    ablated_loss,
    ablation_ratio,
    relative_displacement,
)
from core.config import RunConfig
from core.data import load_digits
from core.engine.model import MLP
from core.experiments.stability import run_stability


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _network(mlp: MLP, seed: int) -> np.ndarray:
    """(P,) weights N(0, 1) and biases N(0, 0.5): a bias left at 0 could not show a fast
    path that forgets it."""
    rng = np.random.default_rng(seed)
    theta = mlp.init(rng, 1)[0]
    theta[~mlp.weight_mask] = 0.5 * rng.standard_normal(int((~mlp.weight_mask).sum()))
    return theta


def _assert_equals_copies(objective, theta):
    """The one-pass ablation equals the objective's loss of each ablated copy, to 1e-12."""
    mlp = objective.mlp
    base = objective.loss(theta)[0]
    for layer, shape in (("W1", (mlp.n_inputs, mlp.hidden)), ("W2", (mlp.hidden, mlp.n_classes))):
        fast = ablated_loss(objective, theta, layer)
        reference = _ablation_by_copies(objective, theta, layer)
        assert fast.shape == reference.shape == shape
        np.testing.assert_allclose(fast, reference, rtol=1e-12, atol=0)
        # the test can fail: removing weights moves the loss far beyond the tolerance
        assert np.abs(reference / base - 1).max() > 1e-3


@pytest.mark.parametrize("l2", [0.0, 0.05])
@pytest.mark.parametrize("output", ["softmax", "legacy_sigmoid"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_ablation_equals_full_copies_on_iris(iris, activation, output, l2):
    mlp = MLP(activation=activation, output=output)
    _assert_equals_copies(mlp.objective(iris.x_train, iris.y_train, l2), _network(mlp, 1))


@pytest.mark.parametrize("engine", ["numpy", "compiled", "blas"])
def test_ablation_equals_full_copies_in_every_engine(iris, engine):
    mlp = MLP(activation="tanh")
    _assert_equals_copies(mlp.objective(iris.x_train, iris.y_train, 0.01, engine=engine), _network(mlp, 2))


@pytest.mark.parametrize(("output", "l2"), [("softmax", 0.0), ("legacy_sigmoid", 0.01)])
def test_ablation_equals_full_copies_on_digits(digits, output, l2):
    mlp = MLP(n_inputs=64, hidden=8, n_classes=10, activation="tanh", output=output)
    _assert_equals_copies(mlp.objective(digits.x_train, digits.y_train, l2), _network(mlp, 3))


def test_blocks_of_weights_do_not_change_the_result(iris, monkeypatch):
    """Blocks of 1 and of 3 weights (70 = 23 x 3 + 1: a short last block) give the same L_w."""
    mlp = MLP(activation="relu")
    objective = mlp.objective(iris.x_train, iris.y_train, 0.01)
    theta = _network(mlp, 4)
    whole = {layer: ablated_loss(objective, theta, layer) for layer in ("W1", "W2")}
    one_weight = 8 * mlp.n_classes * iris.x_train.shape[0]
    for block in (1, 3):
        monkeypatch.setattr(weights, "ABLATION_BLOCK_BYTES", block * one_weight + 7)
        for layer in ("W1", "W2"):
            np.testing.assert_array_equal(ablated_loss(objective, theta, layer), whole[layer])


def test_a_blank_pixel_has_weights_that_do_not_matter(digits):
    """A pixel that is 0 in every training image feeds nothing: its row of W1 has L_w = L."""
    blank = np.flatnonzero((digits.x_train == 0).all(axis=0))
    assert blank.size >= 1  # digits: pixels (0, 0), (3, 0), (4, 0)...
    mlp = MLP(n_inputs=64, hidden=8, n_classes=10, activation="tanh")
    objective = mlp.objective(digits.x_train, digits.y_train)
    ratio = ablation_ratio(objective, _network(mlp, 5), "W1")
    np.testing.assert_allclose(ratio[blank], 1.0, rtol=1e-14)
    assert np.abs(np.delete(ratio, blank, axis=0) - 1).max() > 1e-2


def test_batched_ablation_equals_a_one_by_one_loop(iris):
    """Orientation: ratio[i, j] is the loss with mlp.views(theta)[layer][i, j] set to 0."""
    mlp = MLP()
    objective = mlp.objective(iris.x_train, iris.y_train)
    theta = _network(mlp, 0)
    base = objective.loss(theta)[0]
    for layer, (rows, cols) in (("W1", (4, 10)), ("W2", (10, 3))):
        ratio = ablation_ratio(objective, theta, layer)
        assert ratio.shape == (rows, cols)
        for i in range(rows):
            for j in range(cols):
                one = theta.copy()
                w = mlp.views(one)[0 if layer == "W1" else 2]
                w[i, j] = 0.0
                assert ratio[i, j] == pytest.approx(objective.loss(one)[0] / base, rel=1e-12)


def test_ablation_of_a_non_finite_network_is_not_finite(iris):
    mlp = MLP()
    objective = mlp.objective(iris.x_train, iris.y_train)
    theta = _network(mlp, 0)
    theta[mlp.n_params - 1] = np.inf  # b2[-1]
    with np.errstate(all="raise"):  # overflow is contained, as in the objective
        assert not np.isfinite(ablated_loss(objective, theta, "W1")).any()


def test_ablation_checks_its_input(iris):
    mlp = MLP()
    objective = mlp.objective(iris.x_train, iris.y_train)
    with pytest.raises(ValueError, match="layer must be one of W1, W2; got 'b1'"):
        ablated_loss(objective, np.zeros(83), "b1")
    with pytest.raises(ValueError, match=r"theta must have shape \(83,\), got \(1, 83\)"):
        ablated_loss(objective, np.zeros((1, 83)), "W1")


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
