"""Adam's preconditioned sharpness lambda_max(P^-1 H) (docs/method.md §14): against known answers
on quadratics, the dense matrix on Iris, an independent Adam, and the adaptive edge of stability."""

import dataclasses

import numpy as np
import pytest
import scipy.linalg

from core.analysis.hessian import hessian, preconditioned_sharpness, sharpness_series
from core.analysis.preconditioned import AdamPreconditioners, adam_preconditioner, preconditioned_threshold
from core.config import RunConfig
from core.engine.optimizers import Optimizer
from core.engine.training import BatchOrder, MiniBatches, descend
from core.experiments.stability import dataset_for, network_for, start_and_directions

ADAM = Optimizer("adam", 0.9, 0.999, 1e-8)


def quadratic(a: np.ndarray):
    """L(theta) = theta A theta / 2 for rows theta (K, P): its Hessian is A everywhere."""

    def objective(theta):
        grad = theta @ a
        return 0.5 * np.einsum("kp,kp->k", theta, grad), grad, np.zeros(len(theta))

    return objective


@pytest.mark.parametrize("method", ["exact", "lanczos"])
def test_a_diagonal_quadratic_gives_the_largest_ratio_of_curvature_to_preconditioner(method):
    a = np.array([4.0, 1.0, 9.0, 0.5, 2.0, 3.0])
    p = np.array([2.0, 0.1, 9.0, 1.0, 4.0, 0.5])  # ratios 2, 10, 1, 0.5, 0.5, 6: the answer is 10
    theta = np.random.default_rng(1).standard_normal((2, a.size))
    values = preconditioned_sharpness(quadratic(np.diag(a)), theta, np.tile(p, (2, 1)), method=method)
    np.testing.assert_allclose(values, [10.0, 10.0], rtol=1e-6)


@pytest.mark.parametrize("method", ["exact", "lanczos"])
def test_a_dense_quadratic_gives_the_generalized_eigenvalue(method):
    rng = np.random.default_rng(2)
    b = rng.standard_normal((15, 15))
    a = b @ b.T / 15 - 0.3 * np.eye(15)  # indefinite: the largest *algebraic* eigenvalue is asked
    p = rng.uniform(0.05, 3.0, 15)
    expected = scipy.linalg.eigh(a, np.diag(p), eigvals_only=True)[-1]  # A x = lambda P x
    value = preconditioned_sharpness(quadratic(a), rng.standard_normal((1, 15)), p[None, :], method=method)
    np.testing.assert_allclose(value, [expected], rtol=1e-6)


def iris_adam(config: RunConfig, n_steps: int, batches=False):
    """Iris's objective, the seed's network trained by Adam for ``n_steps`` with the carrier
    (every 50 steps), the trajectory and the carrier."""
    data = dataset_for(config, None)
    mlp = network_for(config, data)
    start, _ = start_and_directions(config, mlp, None)
    objective = mlp.objective(data.x_train, data.y_train)
    order = MiniBatches(objective, BatchOrder(len(data.y_train), 16, 3)) if batches else None
    carrier = AdamPreconditioners(objective, ADAM, 50, order)
    traj = descend(carrier, start[None, :], config.learning_rate, n_steps, save_every=50, optimizer=ADAM, batches=order)
    return objective, start, traj, carrier, order


def test_on_iris_it_is_the_top_eigenvalue_of_the_dense_preconditioned_hessian():
    objective, _, traj, carrier, _ = iris_adam(RunConfig(learning_rate=0.05), 200)
    theta, p = traj.theta[-1], carrier.at(traj.steps[-1:])  # (1, P) each, at step 200
    dense = np.linalg.eigvals(np.diag(1.0 / p[0]) @ hessian(objective, theta[0]))  # not symmetric
    assert np.abs(dense.imag).max() < 1e-6 * np.abs(dense.real).max()  # similar to a symmetric matrix
    expected = dense.real.max()
    assert expected > 10 * np.linalg.eigvalsh(hessian(objective, theta[0]))[-1]  # P^-1 matters here
    for method in ("exact", "lanczos"):
        np.testing.assert_allclose(preconditioned_sharpness(objective, theta, p, method=method), [expected], rtol=1e-6)


def independent_adam(objective, start, eta, n_steps, gradient):
    """PyTorch's Adam written out (no core.engine.optimizers): theta_t and P_t of each step t."""
    theta, m, v, thetas, preconditioners = start.copy(), np.zeros_like(start), np.zeros_like(start), [], []
    beta1, beta2, eps = ADAM.momentum, ADAM.beta2, ADAM.adam_eps
    for t in range(n_steps + 1):
        g = gradient(t, theta)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** (t + 1)), v / (1 - beta2 ** (t + 1))
        thetas.append(theta.copy())
        preconditioners.append((1 - beta1 ** (t + 1)) * (np.sqrt(v_hat) + eps))  # theta' = theta - eta P^-1 m
        np.testing.assert_allclose(m / preconditioners[-1], m_hat / (np.sqrt(v_hat) + eps), rtol=1e-12)
        theta = theta - eta * m_hat / (np.sqrt(v_hat) + eps)
    return np.array(thetas), np.array(preconditioners)


@pytest.mark.parametrize("batches", [False, True])
def test_the_carrier_keeps_the_preconditioner_of_an_independent_adam(batches):
    config = RunConfig(learning_rate=0.05)
    objective, start, traj, carrier, order = iris_adam(config, 150, batches)

    def gradient(t, theta):
        return (objective if order is None else order.at(t))(theta[None, :])[1][0]

    thetas, preconditioners = independent_adam(objective, start, config.learning_rate, 150, gradient)
    steps = np.array([0, 50, 100, 150])
    np.testing.assert_allclose(traj.theta[:, 0], thetas[steps], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(carrier.at(steps), preconditioners[steps], rtol=1e-9)
    with pytest.raises(ValueError, match="no preconditioner kept at step 7"):
        carrier.at(np.array([7]))


def test_the_threshold_is_where_the_frozen_preconditioner_map_reaches_minus_one():
    """With P frozen, Adam on curvature a of P^-1 H is EMA heavy ball on (x, m): m' = beta m +
    (1 - beta) a x, x' = x - eta m'. Its multipliers reach modulus 1 at eta a = threshold * eta."""
    eta, beta = 0.1, 0.9
    threshold = preconditioned_threshold(eta, beta)
    assert threshold == pytest.approx(38 / eta)

    def radius(a: float) -> float:
        step = np.array([[1 - eta * (1 - beta) * a, -eta * beta], [(1 - beta) * a, beta]])
        return float(np.abs(np.linalg.eigvals(step)).max())

    assert radius(threshold) == pytest.approx(1.0, abs=1e-9)
    assert radius(0.98 * threshold) < 1 < radius(1.02 * threshold)
    with pytest.raises(ValueError, match="beta1 must be in"):
        preconditioned_threshold(eta, 1.0)


def test_adam_on_iris_trains_at_the_adaptive_edge_of_stability():
    """Cohen et al. 2022: the preconditioned sharpness rises to (2 + 2 beta1)/((1 - beta1) eta) and
    hovers there. Measured here (Iris, seed 0, eta 0.05, 2,000 steps): from 0.2 of the threshold
    at step 100 to 1.09 at step 1,500, then back to 0.76-0.95 (an AEoS spike)."""
    config = RunConfig(optimizer="adam", learning_rate=0.05, n_steps=2000)
    series = sharpness_series(config, 100)
    ratio = series.preconditioned / preconditioned_threshold(0.05, config.momentum)
    assert ratio[1] < 0.5  # well below at first
    assert 0.9 < ratio.max() < 1.3  # rises to the threshold, not far past it
    assert np.all(ratio[np.argmax(ratio) :] > 0.6)  # and stays near it
    gd = sharpness_series(dataclasses.replace(config, optimizer="gd"), 100)
    assert gd.preconditioned is None and series.sharpness.shape == series.preconditioned.shape


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="preconditioner is Adam's"):
        adam_preconditioner(np.ones(3), 0, Optimizer("momentum"))
    with pytest.raises(ValueError, match="must both have shape"):
        preconditioned_sharpness(quadratic(np.eye(3)), np.ones((1, 3)), np.ones((1, 2)))
    nan = preconditioned_sharpness(quadratic(np.eye(3)), np.ones((2, 3)), np.array([[1.0, 0.0, 1.0], [1, 1, np.nan]]))
    assert np.isnan(nan).all()  # a preconditioner that is not positive and finite has no eigenvalue
