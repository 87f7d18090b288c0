"""Adam's tangent map on (theta, m, v) (core.analysis.adam_tangent, docs/method.md §10-§11):
J_t q against central differences of the training's own Adam step, the spectrum against the
product of dense Jacobians built here on a quadratic, the s = 0 convention, and the leading
exponent carried along a training against the one computed from its trajectory."""

import dataclasses

import numpy as np
import pytest

from core.analysis.adam_tangent import adam_tangent_step
from core.analysis.hessian import hessian
from core.analysis.tangent import LeadingTangents, tangent_dimension, tangent_spectrum
from core.config import RunConfig
from core.engine.optimizers import Optimizer
from core.engine.training import descend
from core.experiments.spectrum import run_leading_exponent, run_spectrum
from core.experiments.stability import dataset_for, network_for, start_and_directions
from tests.core.analysis.quadratic import Quadratic

ADAM = Optimizer("adam", momentum=0.9, beta2=0.999, adam_eps=1e-8)


def _adam_map(objective, optimizer, eta, t, theta, m, v):
    """(theta', m', v') of Adam's step t from (theta, m, v): the training's own arithmetic."""
    state = optimizer.state(1, len(theta))
    state.first[0], state.second[0] = m, v
    direction = state.direction(t, objective(theta[None, :])[1])[0]
    return np.concatenate([theta - eta * direction, state.first[0], state.second[0]])


def _adam_state(objective, optimizer, eta, theta, n_steps):
    """(theta_T, m_T, v_T) after ``n_steps`` Adam steps from ``theta`` with zero buffers."""
    p = len(theta)
    x = np.concatenate([theta, np.zeros(2 * p)])
    for t in range(n_steps):
        x = _adam_map(objective, optimizer, eta, t, x[:p], x[p : 2 * p], x[2 * p :])
    return x[:p], x[p : 2 * p], x[2 * p :]


@pytest.fixture(scope="module")
def iris():
    config = RunConfig(learning_rate=0.01, n_steps=20, seed=1, l2=1e-3, optimizer="adam")
    data = dataset_for(config, None)
    mlp = network_for(config, data)
    start, _ = start_and_directions(config, mlp, None)
    return mlp.objective(data.x_train, data.y_train, config.l2), start


@pytest.mark.parametrize("block", ["theta", "m", "v", "all"])
def test_the_jacobian_is_the_central_difference_of_the_adam_step(iris, block):
    """At step t = 6 of a training (nonzero buffers), J_t q for q in each block of (theta, m, v)
    and in all three at once equals (F(x + h q) - F(x - h q)) / 2h of the step F itself. Each
    block of q is scaled like its state, so v - h dv stays positive and the difference linear."""
    objective, start = iris
    eta, t = 0.01, 6
    theta, m, v = _adam_state(objective, ADAM, eta, start, t)
    p = len(theta)
    rng = np.random.default_rng(3)
    scale = {"theta": np.ones(p), "m": np.abs(m), "v": v}
    q = np.concatenate([rng.standard_normal(p) * scale[name] * (block in (name, "all")) for name in scale])
    x, h = np.concatenate([theta, m, v]), 1e-5  # each block moved by ~1e-5 of its own size
    assert np.all(v - h * np.abs(q[2 * p :]) > 0)
    forward = _adam_map(objective, ADAM, eta, t, *np.split(x + h * q, 3))
    backward = _adam_map(objective, ADAM, eta, t, *np.split(x - h * q, 3))
    difference = (forward - backward) / (2 * h)

    grad = objective(theta[None, :])[1][0]
    state = _adam_map(objective, ADAM, eta, t, theta, m, v)  # m_{t+1}, v_{t+1}
    hq = hessian(objective, theta) @ q[:p]
    jq = adam_tangent_step(
        q[:, None], hq[:, None], eta, ADAM, t, grad[:, None], state[p : 2 * p, None], state[2 * p :, None]
    )[:, 0]
    assert np.linalg.norm(jq - difference) <= 1e-6 * np.linalg.norm(difference)
    assert np.linalg.norm(difference[:p]) > 1e-4 * np.linalg.norm(difference)  # theta' moves: the test can fail


def test_a_wrong_step_index_or_a_missing_term_fails_the_difference(iris):
    """The check above is sharp: the bias corrections of step t + 1, or J without the dv' term
    of d(m_hat / (s + eps)), miss the central difference by far more than 1e-6."""
    objective, start = iris
    eta, t = 0.01, 6
    theta, m, v = _adam_state(objective, ADAM, eta, start, t)
    p = len(theta)
    q = np.concatenate([np.zeros(2 * p), v])  # along v only: the coupling term
    x, h = np.concatenate([theta, m, v]), 1e-5
    forward = _adam_map(objective, ADAM, eta, t, *np.split(x + h * q, 3))
    backward = _adam_map(objective, ADAM, eta, t, *np.split(x - h * q, 3))
    difference = (forward - backward) / (2 * h)
    grad = objective(theta[None, :])[1][0]
    state = _adam_map(objective, ADAM, eta, t, theta, m, v)
    hq = np.zeros((p, 1))
    args = (grad[:, None], state[p : 2 * p, None], state[2 * p :, None])
    right = adam_tangent_step(q[:, None], hq, eta, ADAM, t, *args)[:, 0]
    shifted = adam_tangent_step(q[:, None], hq, eta, ADAM, t + 1, *args)[:, 0]
    no_eps = dataclasses.replace(ADAM, adam_eps=1e-3)
    wrong_eps = adam_tangent_step(q[:, None], hq, eta, no_eps, t, *args)[:, 0]
    assert np.linalg.norm(right - difference) <= 1e-6 * np.linalg.norm(difference)
    for wrong in (shifted, wrong_eps, np.concatenate([q[:p], difference[p:]])):  # the last: theta' = theta
        assert np.linalg.norm(wrong - difference) > 1e-4 * np.linalg.norm(difference)


def _dense_jacobian(a, optimizer, eta, t, grad, m_new, v_new):
    """The (3P, 3P) Jacobian of Adam's step t on the quadratic with Hessian ``a``, written out."""
    p = len(a)
    b1, b2, eps = optimizer.momentum, optimizer.beta2, optimizer.adam_eps
    c1, c2 = 1 - b1 ** (t + 1), 1 - b2 ** (t + 1)
    s = np.sqrt(v_new / c2)
    first = np.diag(1 / (c1 * (s + eps)))  # d(theta')/d(m') / -eta
    second = np.diag((m_new / c1) / (s + eps) ** 2 / (2 * c2 * s))  # d(theta')/d(v') / eta
    dm = np.hstack([(1 - b1) * a, b1 * np.eye(p), np.zeros((p, p))])  # rows of m'
    dv = np.hstack([2 * (1 - b2) * grad[:, None] * a, np.zeros((p, p)), b2 * np.eye(p)])  # rows of v'
    dtheta = np.hstack([np.eye(p), np.zeros((p, 2 * p))]) - eta * (first @ dm - second @ dv)
    return np.vstack([dtheta, dm, dv])


def _complex_step_jacobian(a, optimizer, eta, t, theta, m, v):
    """The same Jacobian by the complex step Im F(x + i h e_j) / h, exact to rounding: the map
    written again here, on complex numbers (g^2 as g g, sqrt analytic for Re v > 0)."""
    b1, b2, eps = optimizer.momentum, optimizer.beta2, optimizer.adam_eps
    x, h = np.concatenate([theta, m, v]).astype(complex), 1e-30
    columns = []
    for j in range(len(x)):
        y = x.copy()
        y[j] += 1j * h
        th, mm, vv = np.split(y, 3)
        g = a @ th
        m2, v2 = b1 * mm + (1 - b1) * g, b2 * vv + (1 - b2) * g * g
        step = (m2 / (1 - b1 ** (t + 1))) / (np.sqrt(v2 / (1 - b2 ** (t + 1))) + eps)
        columns.append(np.concatenate([th - eta * step, m2, v2]).imag / h)
    return np.array(columns).T


def test_on_a_quadratic_the_spectrum_is_the_qr_of_the_product_of_the_dense_jacobians():
    rng = np.random.default_rng(11)
    rotation, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    a = rotation @ np.diag([3.0, 1.0, 0.2, -0.5]) @ rotation.T
    objective, eta, n_steps = Quadratic(a), 0.3, 8
    traj = descend(objective, rng.standard_normal((1, 4)), eta, n_steps, save_every=1, optimizer=ADAM)
    thetas = traj.theta[:, 0, :]  # (T + 1, P)

    p, q, logs, volume = 4, np.eye(12), np.zeros(12), 0.0
    m, v = np.zeros(p), np.zeros(p)
    for t in range(n_steps):
        grad = a @ thetas[t]
        dense_at = _complex_step_jacobian(a, ADAM, eta, t, thetas[t], m, v)
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad**2
        jacobian = _dense_jacobian(a, ADAM, eta, t, grad, m, v)
        np.testing.assert_allclose(jacobian, dense_at, rtol=1e-9, atol=1e-9 * np.abs(jacobian).max())
        q, r = np.linalg.qr(jacobian @ q)
        logs += np.log(np.abs(np.diag(r)))
        volume += np.log(abs(np.linalg.det(jacobian)))

    assert tangent_dimension(ADAM, p) == 12
    for method in ("exact", "hvp"):
        spectrum = tangent_spectrum(objective, thetas, eta, 12, optimizer=ADAM, method=method)
        assert spectrum.n_steps == n_steps and spectrum.diverged_at is None
        np.testing.assert_allclose(spectrum.exponents, logs / n_steps, rtol=0, atol=1e-7)
        assert spectrum.total == pytest.approx(volume / n_steps, abs=1e-7)  # the sum: log |det J| alone
    assert np.ptp(logs) > 1.0  # distinct exponents: a wrong J would not match them
    # det J_t = (b1 b2)^P whatever H, g, m, v: (theta, m, v) -> (theta, m', v') is triangular with
    # diagonal (1, b1, b2), and theta' = theta - eta d(m', v') a shear of determinant 1
    assert volume / n_steps == pytest.approx(p * np.log(0.9 * 0.999), abs=1e-9)


def test_a_parameter_whose_gradient_is_always_zero_keeps_its_exponents():
    """v = m = 0 where g = 0 (s = 0): the dv' term is taken as 0 (adam_tangent's docstring), so
    that coordinate's (theta, m, v) block is triangular with multipliers 1, b1, b2; with the
    start vectors in that order, QR gives exactly 0, log b1, log b2, and nothing is NaN."""
    a = np.diag([2.0, 0.5, 0.0])
    objective, eta, n_steps = Quadratic(a), 0.1, 30
    traj = descend(objective, np.array([[1.0, -1.0, 0.7]]), eta, n_steps, save_every=1, optimizer=ADAM)
    spectrum = tangent_spectrum(objective, traj.theta[:, 0, :], eta, 9, optimizer=ADAM)
    assert np.isfinite(spectrum.exponents).all()
    np.testing.assert_allclose(spectrum.exponents[[2, 5, 8]], [0.0, np.log(0.9), np.log(0.999)], atol=1e-12)


def test_the_leading_exponent_carried_along_the_training_is_the_spectrums():
    """LeadingTangent (carried while Adam trains, no trajectory kept) against run_spectrum's
    first exponent from the saved trajectory, on Iris, with and without mini-batches."""
    for extra in ({}, {"batch_size": 32}):
        config = RunConfig(learning_rate=0.05, n_steps=60, seed=1, optimizer="adam", **extra)
        carried = run_leading_exponent(config).exponents[0]
        saved = run_spectrum(config, 1, method="hvp").spectrum.exponents[0]
        assert carried == pytest.approx(saved, abs=1e-8)
        assert abs(carried) > 1e-3  # a rate to compare (Adam at 0.05 on Iris)


@pytest.mark.parametrize("engine", ["compiled", "blas"])
def test_carried_adam_rows_leave_the_training_bit_identical(engine):
    """Rows 0 and 2 of three carried (stacked in one call on the compiled engine, a call of their
    own on BLAS): the training unchanged, each exponent its trajectory's."""
    config = RunConfig(learning_rate=0.05, n_steps=40, seed=1, n_perturbations=2, optimizer="adam")
    data = dataset_for(config, None)
    mlp = network_for(config, data)
    objective = mlp.objective(data.x_train, data.y_train, config.l2, engine=engine)
    starts = np.vstack([start_and_directions(RunConfig(seed=s), mlp, None)[0] for s in (1, 2, 3)])  # (3, P)
    etas, rule = np.array([0.05, 0.01, 0.05]), config.update_rule()
    bare = descend(objective, starts, etas, config.n_steps, save_every=10, optimizer=rule)
    carrier = LeadingTangents(objective, etas[[0, 2]], config.n_steps, np.array([0, 2]), rule)
    assert carrier.stacked == (engine == "compiled")
    carried = descend(carrier, starts, etas, config.n_steps, save_every=10, optimizer=rule)
    for name in ("theta", "loss", "accuracy"):
        np.testing.assert_array_equal(getattr(carried, name), getattr(bare, name))
    for row, seed in ((0, 1), (1, 3)):
        alone = dataclasses.replace(config, seed=seed)
        want = run_spectrum(alone, 1, method="hvp").spectrum.exponents[0]
        assert carrier.exponents[row] == pytest.approx(want, abs=1e-8)
    assert carrier.q.shape == (2, 3 * mlp.n_params)
