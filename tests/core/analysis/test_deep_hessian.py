"""Curvature of deeper networks (docs/method.md §12): Hessian-vector products, the exact Hessian,
the Lanczos sharpness and the tangent spectrum of 2- and 3-hidden-layer networks, held to
second differences of the loss (which use no gradient code at all)."""

import numpy as np
import pytest

from core.analysis.hessian import hessian, hessian_vector_product, sharpness
from core.analysis.tangent import tangent_spectrum
from core.config import RunConfig
from core.engine.model import MLP
from core.engine.training import descend
from core.experiments.spectrum import run_spectrum

NETS = [(6, 5), (4, 5, 3)]


def _setup(iris, widths, engine="compiled", activation="sigmoid"):
    mlp = MLP(4, widths, 3, activation)
    objective = mlp.objective(iris.x_train, iris.y_train, engine=engine)
    rng = np.random.default_rng(11)
    theta = mlp.init(rng, 1)[0]
    theta[~mlp.weight_mask] = 0.1 * rng.standard_normal((~mlp.weight_mask).sum())
    return mlp, objective, theta


def _second_difference(objective, theta, u, v, h=1e-4):
    """u^T H v from four losses: (L(++) - L(+-) - L(-+) + L(--)) / (4 h^2)."""
    rows = np.array([theta + h * u + h * v, theta + h * u - h * v, theta - h * u + h * v, theta - h * u - h * v])
    loss = objective.loss(rows)
    return (loss[0] - loss[1] - loss[2] + loss[3]) / (4 * h * h)


@pytest.mark.parametrize("widths", NETS)
@pytest.mark.parametrize("engine", ["compiled", "blas"])
def test_hessian_vector_products_match_second_differences_of_the_loss(iris, widths, engine):
    mlp, objective, theta = _setup(iris, widths, engine)
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((mlp.n_params, 3))  # (P, k): three products in one call
    products = hessian_vector_product(objective, theta, vectors)
    for _ in range(4):
        u = rng.standard_normal(mlp.n_params)
        for j in range(3):
            expected = _second_difference(objective, theta, u, vectors[:, j])
            assert u @ products[:, j] == pytest.approx(expected, rel=2e-5, abs=1e-6)


@pytest.mark.parametrize("widths", NETS)
def test_exact_hessian_is_symmetric_and_agrees_with_products(iris, widths):
    mlp, objective, theta = _setup(iris, widths)
    h = hessian(objective, theta)
    assert h.shape == (mlp.n_params, mlp.n_params)
    np.testing.assert_array_equal(h, h.T)
    v = np.random.default_rng(1).standard_normal(mlp.n_params)
    np.testing.assert_allclose(h @ v, hessian_vector_product(objective, theta, v), rtol=0, atol=1e-6)
    # a curvature that crosses layers: an entry between W1 and the output weights is nonzero
    w1, *_, w_out, _ = mlp.views(np.arange(mlp.n_params))
    cross = h[w1[0, 0], w_out[0, 0]]
    e = np.eye(mlp.n_params)
    assert cross == pytest.approx(_second_difference(objective, theta, e[w1[0, 0]], e[w_out[0, 0]]), rel=1e-4)
    assert abs(cross) > 1e-4


@pytest.mark.parametrize("widths", NETS)
def test_lanczos_sharpness_agrees_with_the_exact_one(iris, widths):
    mlp, objective, theta = _setup(iris, widths)
    exact = sharpness(objective, theta[None, :], method="exact")[0]
    lanczos = sharpness(objective, theta[None, :], method="lanczos")[0]
    assert exact > 0.01
    assert lanczos == pytest.approx(exact, rel=1e-6)
    assert exact == pytest.approx(np.linalg.eigvalsh(hessian(objective, theta))[-1])


def test_full_tangent_spectrum_sums_to_the_mean_log_determinant(iris):
    mlp, objective, theta = _setup(iris, (3, 3))
    eta, n_steps = 0.5, 8
    thetas = descend(objective, theta[None, :], eta, n_steps, save_every=1).theta[:, 0, :]
    spectrum = tangent_spectrum(objective, thetas, eta, mlp.n_params)
    log_dets = [np.linalg.slogdet(np.eye(mlp.n_params) - eta * hessian(objective, t))[1] for t in thetas[:-1]]
    assert spectrum.total == pytest.approx(np.mean(log_dets), rel=1e-8, abs=1e-10)


def test_spectrum_of_a_deep_config_has_its_parameter_count():
    result = run_spectrum(RunConfig(hidden=(10, 10), learning_rate=1.0, n_steps=30), 4)
    assert result.spectrum.n_params == 193 and np.isfinite(result.spectrum.exponents).all()
