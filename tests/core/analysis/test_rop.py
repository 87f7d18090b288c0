"""Exact Hessian-vector products by the R-operator (core.analysis.rop, docs/method.md §10), held
to the dense Hessian (central differences of the analytic gradient) and to second differences
of the loss (no gradient code at all)."""

import numpy as np
import pytest

from core.analysis import rop
from core.analysis.hessian import NonFiniteGradient, hessian, hessian_vector_product
from core.engine.model import MLP


def _network(iris, widths, activation, l2=0.0, output="softmax"):
    mlp = MLP(4, widths, 3, activation, output=output)
    objective = mlp.objective(iris.x_train, iris.y_train, l2)
    rng = np.random.default_rng(3)
    theta = 0.7 * rng.standard_normal(mlp.n_params)  # biases too: every term of the R-pass counts
    return mlp, objective, theta, rng.standard_normal((mlp.n_params, 4))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("widths", [8, (6, 5), (5, 4, 3)])
@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_products_are_the_dense_hessian_times_the_vectors(iris, widths, activation, l2):
    mlp, objective, theta, v = _network(iris, widths, activation, l2)
    assert rop.supports(objective)
    products = rop.hessian_vector_products(objective, theta, v)
    dense = hessian(objective, theta) @ v  # each column by its own central difference
    scale = np.abs(dense).max()
    np.testing.assert_allclose(products, dense, rtol=0, atol=1e-7 * scale)
    one = rop.hessian_vector_products(objective, theta, v[:, 2])  # one vector: (P,) in, (P,) out
    np.testing.assert_allclose(one, products[:, 2], rtol=1e-13, atol=1e-15)


def test_products_on_digits_are_second_differences_of_the_loss():
    from core.data import load_digits

    digits = load_digits()
    mlp = MLP(64, 16, 10, "tanh")
    objective = mlp.objective(digits.x_train[:80], digits.y_train[:80], 0.01)
    rng = np.random.default_rng(8)
    theta = 0.3 * rng.standard_normal(mlp.n_params)
    v = rng.standard_normal((mlp.n_params, 3))
    products = rop.hessian_vector_products(objective, theta, v)
    h = 1e-4
    for _ in range(3):
        u = rng.standard_normal(mlp.n_params)
        for j in range(3):
            corners = [theta + a * h * u + b * h * v[:, j] for a in (1, -1) for b in (1, -1)]
            loss = objective.loss(np.array(corners))
            expected = (loss[0] - loss[1] - loss[2] + loss[3]) / (4 * h * h)
            assert u @ products[:, j] == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_the_samples_taken_in_blocks_add_up_to_the_whole(iris, monkeypatch):
    _, objective, theta, v = _network(iris, (6, 5), "tanh", 0.01)
    whole = rop.hessian_vector_products(objective, theta, v)  # 120 rows: one block
    monkeypatch.setattr(rop, "WORK_ELEMENTS", 0)  # the fewest samples a pass: 16, the last pass 8
    np.testing.assert_allclose(rop.hessian_vector_products(objective, theta, v), whole, rtol=1e-12, atol=1e-14)


def test_the_lab_products_are_exact_where_they_can_be_and_central_differences_elsewhere(iris):
    _, objective, theta, v = _network(iris, 8, "sigmoid")
    np.testing.assert_array_equal(
        hessian_vector_product(objective, theta, v), rop.hessian_vector_products(objective, theta, v)
    )
    _, legacy, theta, v = _network(iris, 8, "sigmoid", output="legacy_sigmoid")  # the paper's Keras output layer
    assert not rop.supports(legacy)
    dense = hessian(legacy, theta) @ v
    np.testing.assert_allclose(hessian_vector_product(legacy, theta, v), dense, rtol=0, atol=1e-6 * np.abs(dense).max())
    assert not rop.supports(lambda theta: None)  # a test's objective: no network to differentiate


def test_a_network_whose_gradient_overflows_has_no_product(iris):
    _, objective, theta, v = _network(iris, 8, "tanh")
    theta[0] = 1e300  # finite, but its logits are not
    with pytest.raises(NonFiniteGradient):
        hessian_vector_product(objective, theta, v)
