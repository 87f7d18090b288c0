"""Momentum, Nesterov and Adam in PyTorch's conventions: against the algorithms as PyTorch's
documentation writes them (one parameter vector at a time, in plain Python), on quadratics
whose multipliers are known, and through the config."""

import math

import numpy as np
import pytest

from core.analysis.tangent import tangent_spectrum
from core.config import RunConfig
from core.data import load_iris
from core.engine.model import MLP
from core.engine.optimizers import Optimizer
from core.engine.training import descend
from core.experiments.orbital_stability import run_orbital
from core.experiments.stability import run_stability


def _torch_sgd(grad_of, theta, lr, n_steps, momentum, nesterov):
    """torch.optim.SGD's step (dampening 0) as its documentation writes it."""
    theta, buf = theta.copy(), None
    for _ in range(n_steps):
        g = grad_of(theta)
        buf = g.copy() if buf is None else momentum * buf + g
        theta = theta - lr * (g + momentum * buf if nesterov else buf)
    return theta


def _torch_adam(grad_of, theta, lr, n_steps, beta1, beta2, eps):
    """torch.optim.Adam's step (amsgrad off) as its documentation writes it."""
    theta, m, v = theta.copy(), np.zeros_like(theta), np.zeros_like(theta)
    for t in range(1, n_steps + 1):
        g = grad_of(theta)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


@pytest.fixture(scope="module")
def iris_objective():
    data = load_iris()
    mlp = MLP(data.n_features, 10, data.n_classes)
    theta0 = mlp.init(np.random.default_rng(3), 3)  # (3, P): three networks at once
    return mlp.objective(data.x_train, data.y_train, 1e-3), theta0  # with an L2 term (weight decay)


@pytest.mark.parametrize(
    ("optimizer", "reference"),
    [
        (Optimizer("momentum", momentum=0.9), lambda g, th: _torch_sgd(g, th, 0.05, 80, 0.9, False)),
        (Optimizer("nesterov", momentum=0.8), lambda g, th: _torch_sgd(g, th, 0.05, 80, 0.8, True)),
        (
            Optimizer("adam", momentum=0.9, beta2=0.99, adam_eps=1e-7),
            lambda g, th: _torch_adam(g, th, 0.05, 80, 0.9, 0.99, 1e-7),
        ),
    ],
)
def test_each_optimizer_follows_pytorchs_algorithm(iris_objective, optimizer, reference):
    objective, theta0 = iris_objective
    got = descend(objective, theta0, 0.05, 80, save_every=None, optimizer=optimizer).final_theta
    for row in range(len(theta0)):
        want = reference(lambda th: objective(th[None, :])[1][0], theta0[row])
        np.testing.assert_allclose(got[row], want, rtol=1e-12, atol=1e-12)


def test_momentum_zero_is_gradient_descent(iris_objective):
    objective, theta0 = iris_objective
    plain = descend(objective, theta0, 0.1, 50, save_every=None).final_theta
    for name in ("momentum", "nesterov"):
        same = descend(objective, theta0, 0.1, 50, save_every=None, optimizer=Optimizer(name, momentum=0.0))
        np.testing.assert_array_equal(same.final_theta, plain)


class Quadratic:
    def __init__(self, a):
        self.a = a

    def __call__(self, theta):
        grad = theta @ self.a
        return 0.5 * np.sum(theta * grad, axis=1), grad, np.zeros(len(theta))


def test_heavy_ball_on_a_quadratic_has_the_known_multipliers():
    """Each curvature a gives the multipliers z with z^2 - (1 + beta - eta a) z + beta = 0;
    the 2P exponents are log |z|, and their sum is exactly P log beta (det J = beta^P)."""
    a, eta, beta, n_steps = np.array([3.0, 1.0, 0.2]), 0.5, 0.6, 3000
    objective = Quadratic(np.diag(a))
    trajectory = descend(
        objective, np.full((1, 3), 1e-3), eta, n_steps, save_every=1, optimizer=Optimizer("momentum", momentum=beta)
    )
    thetas = trajectory.theta[:, 0, :]
    spectrum = tangent_spectrum(objective, thetas, eta, 6, every=5, optimizer=Optimizer("momentum", momentum=beta))
    roots = np.concatenate([np.roots([1.0, -(1 + beta - eta * ai), beta]) for ai in a])
    assert spectrum.total == pytest.approx(3 * math.log(beta), abs=1e-9)
    np.testing.assert_allclose(spectrum.sorted, np.sort(np.log(np.abs(roots)))[::-1], atol=5e-3)


def test_the_config_carries_the_optimizer_and_gd_keys_do_not_change():
    gd = RunConfig()
    assert gd.update_rule() == Optimizer()
    assert RunConfig(momentum=0.5).key() == gd.key()  # GD does not use beta: the same run
    assert RunConfig(optimizer="momentum").key() != gd.key()
    assert RunConfig(optimizer="momentum", momentum=0.5).key() != RunConfig(optimizer="momentum").key()
    assert RunConfig.from_dict(RunConfig(optimizer="adam", beta2=0.99).to_dict()).beta2 == 0.99


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"optimizer": "sgd"}, "optimizer must be one of"),
        ({"optimizer": "momentum", "momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
        ({"optimizer": "adam", "beta2": -0.1}, "beta2 must be a finite number"),
        ({"optimizer": "adam", "adam_eps": 0.0}, "adam_eps must be a finite number"),
    ],
)
def test_bad_optimizer_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**settings)


def test_experiments_train_with_the_optimizer():
    config = RunConfig(learning_rate=0.05, n_steps=100, n_perturbations=2, save_every=100)
    plain, heavy = run_stability(config), run_stability(RunConfig(**{**config.to_dict(), "optimizer": "momentum"}))
    assert heavy.trajectory.loss[-1, 0] < plain.trajectory.loss[-1, 0]  # momentum goes further in 100 steps
    with pytest.raises(ValueError, match="orbital stability is measured for optimizer gd only"):
        run_orbital(RunConfig(optimizer="adam", n_steps=20), 10)


def test_a_cell_of_a_sweep_is_the_single_run_with_the_same_optimizer():
    from core.data import load_iris
    from core.experiments.cells import train_cells

    config = RunConfig(optimizer="nesterov", momentum=0.7, n_steps=80, eps=1e-6, n_perturbations=3)
    cells = train_cells(
        config, load_iris(), np.array([0.05, 0.5]), np.array([2, 2]), eps=np.array([1e-6]), n_copies=3, workers=1
    )
    for i, eta in enumerate((0.05, 0.5)):
        single = run_stability(RunConfig(**{**config.to_dict(), "learning_rate": eta, "seed": 2}), threads=1)
        np.testing.assert_array_equal(cells.loss[i], single.trajectory.loss[:, 0])
        np.testing.assert_array_equal(cells.mean_distance[i, 0], single.mean_distance)
