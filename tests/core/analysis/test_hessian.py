"""Sharpness: the Hessian against independent computations, and the edge of stability."""

import dataclasses

import numpy as np
import pytest

from core.analysis.hessian import NonFiniteGradient, hessian, hessian_vector_product, sharpness, sharpness_series
from core.config import RunConfig
from core.data import load_iris
from core.engine.training import descend
from core.experiments.stability import dataset_for, network_for, run_stability, start_and_directions

LOSS_STEP = np.finfo(np.float64).eps ** 0.25  # ~1.2e-4, best step for second differences of a loss


def network(config: RunConfig, engine: str = "compiled"):
    """The objective and the seed's initial network (P,) of ``config``."""
    data = dataset_for(config, None)
    mlp = network_for(config, data)
    start, _ = start_and_directions(config, mlp, None)
    return mlp.objective(data.x_train, data.y_train, engine=engine), start


def trained(config: RunConfig, n_steps: int) -> tuple:
    objective, start = network(config)
    return objective, descend(objective, start[None, :], config.learning_rate, n_steps).final_theta[0]


def loss_only_hessian(loss, theta: np.ndarray, h: float = LOSS_STEP) -> np.ndarray:
    """H_ij = [L(+h e_i + h e_j) - L(+h e_i - h e_j) - L(-h e_i + h e_j) + L(-h e_i - h e_j)] / (4 h^2):
    second differences of the loss values alone, no gradient (i = j gives the 2h-step second
    difference)."""
    p = theta.size
    e = h * np.eye(p)
    plus, minus = e[:, None, :] + e[None, :, :], e[:, None, :] - e[None, :, :]  # (P, P, P)
    values = loss(np.concatenate([theta + plus, theta + minus, theta - minus, theta - plus]).reshape(-1, p))
    lpp, lpm, lmp, lmm = values.reshape(4, p, p)
    return (lpp - lpm - lmp + lmm) / (4 * h * h)


def quadratic(a: np.ndarray):
    """The objective 0.5 x^T A x: (K, P) -> loss (K,), gradient x A (K, P), accuracy (K,)."""

    def objective(theta: np.ndarray):
        grad = theta @ a
        return 0.5 * np.einsum("kp,kp->k", theta, grad), grad, np.zeros(theta.shape[0])

    return objective


def symmetric_with_spectrum(values: np.ndarray, seed: int = 3) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((values.size, values.size)))
    return (q * values) @ q.T


def test_hessian_is_symmetric_and_equals_second_differences_of_the_loss_alone():
    # Raw (unstandardised) Iris, H = 3: P = 27. The loss-only scheme errs by rounding
    # ~ eps |L| / h^2 ~ 2e-8 (times the rounding of a 120-row mean) plus truncation
    # h^2 L'''' / 12 ~ 1e-9 |x|^4 (|x| <= 8 cm); the gradient scheme by ~1e-10. Measured
    # max difference 1.8e-7 against max |H| = 1.2; a transposed block or a factor 2 errs by O(0.1).
    config = RunConfig(hidden=3)
    objective, theta = network(config)
    reference, _ = network(config, engine="numpy")
    h = hessian(objective, theta)
    assert h.shape == (27, 27)
    # symmetric before hessian() symmetrises it: the raw central differences of the gradient
    steps = np.finfo(np.float64).eps ** (1 / 3) * np.maximum(1.0, np.abs(theta))
    grads = objective(np.vstack([theta + np.diag(steps), theta - np.diag(steps)]))[1]
    raw = (grads[:27] - grads[27:]) / (2 * steps)[:, None]  # row i: d grad / d theta_i
    np.testing.assert_allclose(raw, raw.T, rtol=0, atol=1e-6)
    assert np.abs(raw - raw.T).max() > 0  # they are not symmetric by construction
    expected = loss_only_hessian(reference.loss, theta)
    assert np.abs(expected).max() > 0.5  # the comparison is not between two near-zero matrices
    np.testing.assert_allclose(h, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", ["exact", "lanczos"])
def test_quadratic_hessian_is_a_and_sharpness_is_its_largest_algebraic_eigenvalue(method):
    # The most negative eigenvalue is larger in magnitude: "largest" must mean algebraic.
    spectrum = np.linspace(-7.0, 3.0, 40)
    a = symmetric_with_spectrum(spectrum)
    objective = quadratic(a)
    theta = np.random.default_rng(0).standard_normal((2, 40))
    np.testing.assert_allclose(hessian(objective, theta[0]), a, rtol=0, atol=1e-8)
    np.testing.assert_allclose(hessian(objective, theta[0], step=1e-2), a, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sharpness(objective, theta, method=method), [3.0, 3.0], rtol=1e-8)


def test_lanczos_equals_exact_on_the_iris_network_at_a_trained_point():
    objective, theta = trained(RunConfig(learning_rate=1.0), 300)
    exact = sharpness(objective, theta[None, :], method="exact")
    lanczos = sharpness(objective, theta[None, :], method="lanczos")
    assert np.isfinite(exact).all() and exact[0] > 0
    np.testing.assert_allclose(lanczos, exact, rtol=1e-7)
    np.testing.assert_array_equal(sharpness(objective, theta[None, :]), exact)  # auto: P = 83 is exact


def test_sharpness_stays_far_below_two_over_eta_at_a_small_learning_rate():
    series = sharpness_series(RunConfig(learning_rate=0.01, n_steps=400), 20)
    assert series.two_over_eta == 200.0
    # independent measurement: 3-10; nothing pushes it towards 2/eta
    assert np.all((series.sharpness > 1.0) & (series.sharpness < 0.1 * series.two_over_eta))


def test_sharpness_hovers_at_two_over_eta_at_the_edge_of_stability():
    series = sharpness_series(RunConfig(learning_rate=1.0, n_steps=400), 20)
    assert series.two_over_eta == 2.0
    assert series.sharpness[0] > 3 * series.two_over_eta  # the seed's network starts sharper (~7)
    late = series.sharpness[(series.steps >= 100) & (series.steps <= 400)]
    # independent measurement over steps 100-400: 0.8-4.6, median ~1.8
    assert 0.5 * series.two_over_eta < np.median(late) < 1.5 * series.two_over_eta
    assert late.max() > series.two_over_eta  # it reaches the edge...
    assert late.max() < 5 * series.two_over_eta  # ...and GD does not let it run away


def test_digits_lanczos_agrees_with_power_iteration_on_the_numpy_engine():
    config = RunConfig.for_dataset("digits")  # 64-64-10: P = 4,810
    objective, theta = network(config)
    reference, _ = network(config, engine="numpy")
    assert theta.size == 4810
    lanczos = sharpness(objective, theta[None, :])  # auto: P > 500 is Lanczos
    assert np.isfinite(lanczos).all() and lanczos[0] > 0
    # power iteration with forward differences of the NumPy gradient (another engine, step, scheme)
    g0, step, v = reference(theta[None, :])[1][0], 1e-7, np.ones(theta.size) / np.sqrt(theta.size)
    for _ in range(60):
        w = (reference((theta + step * v)[None, :])[1][0] - g0) / step
        estimate, v = v @ w, w / np.linalg.norm(w)
    assert lanczos[0] == pytest.approx(estimate, rel=1e-6)


def test_lanczos_equals_the_dense_hessian_on_a_small_digits_shaped_network():
    objective, theta = network(RunConfig.for_dataset("digits", hidden=4))  # 64-4-10: P = 310
    dense = np.linalg.eigvalsh(hessian(objective, theta))[-1]
    np.testing.assert_allclose(sharpness(objective, theta[None, :], method="lanczos"), [dense], rtol=1e-7)


@pytest.mark.parametrize("method", ["exact", "lanczos"])
def test_non_finite_networks_have_nan_sharpness(method):
    objective, theta = network(RunConfig(activation="relu"))
    rows = np.stack([theta, np.full_like(theta, np.nan), np.full_like(theta, np.inf), np.full_like(theta, 1e300)])
    values = sharpness(objective, rows, method=method)
    assert np.isfinite(values[0])
    assert np.isnan(values[1:]).all()  # NaN, inf, and finite parameters whose loss overflows
    assert np.isnan(hessian(objective, rows[1])).all()


def test_series_trains_the_seed_network_like_the_stability_run():
    config = RunConfig(learning_rate=1.0, n_steps=50)
    series = sharpness_series(config, 20)
    reference = run_stability(dataclasses.replace(config, n_perturbations=1, save_every=10)).trajectory
    np.testing.assert_array_equal(series.steps, [0, 20, 40, 50])
    np.testing.assert_array_equal(series.loss, reference.loss[:, 0])
    objective, _ = network(config)
    np.testing.assert_array_equal(series.sharpness, sharpness(objective, reference.theta[[0, 2, 4, 5], 0]))
    assert series.loss.shape == (51,) and series.config == config and not series.cancelled


def test_series_sharpness_is_nan_from_the_step_the_trajectory_diverged():
    # ReLU on features scaled by 1e80: the second step overflows (diverged_at = 2).
    iris = load_iris()
    huge = dataclasses.replace(iris, x_train=iris.x_train * 1e80)
    series = sharpness_series(RunConfig(learning_rate=1.0, n_steps=40, activation="relu"), 10, data=huge)
    assert np.isfinite(series.sharpness[0]) and np.isnan(series.sharpness[1:]).all()


def test_bad_input_raises_with_the_rule_and_the_value():
    objective = quadratic(np.eye(3))
    with pytest.raises(ValueError, match="method must be one of auto, exact, lanczos; got 'power'"):
        sharpness(objective, np.zeros((1, 3)), method="power")
    with pytest.raises(ValueError, match=r"theta must have shape \(K, P\), got \(3,\)"):
        sharpness(objective, np.zeros(3))
    with pytest.raises(ValueError, match=r"theta must have shape \(P,\), got \(1, 3\)"):
        hessian(objective, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="step must be a finite number"):
        hessian(objective, np.zeros(3), step=-1e-3)
    for every in (0, 2.5, True):
        with pytest.raises(ValueError, match="every must be"):
            sharpness_series(RunConfig(n_steps=10), every)


def test_a_product_at_weights_too_large_to_square_is_refused_without_a_warning():
    """A diverged network's weights (1e200) square past float64: the product is refused as
    non-finite, and no overflow warning escapes (pytest turns it into an error)."""
    objective, theta = network(RunConfig())
    with pytest.raises(NonFiniteGradient):
        hessian_vector_product(objective, np.full_like(theta, 1e200), np.ones_like(theta))


@pytest.mark.parametrize("which", ["sharpness", "preconditioned"])
@pytest.mark.parametrize("method", ["exact", "lanczos"])
def test_the_eigenvalue_solvers_run_blas_on_one_thread(monkeypatch, which, method):
    # OpenBLAS on two threads took 2-3x as long on the 83 x 83 eigenproblems of a run's
    # sharpness (measured in the run's job) and rounds differently: each solver call must see one
    # BLAS thread, whatever the caller set
    from threadpoolctl import threadpool_info, threadpool_limits

    from core.analysis import hessian as module

    seen: list[set[int]] = []

    def spying(solver):
        def spy(*args, **kwargs):
            seen.append({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
            return solver(*args, **kwargs)

        return spy

    monkeypatch.setattr(module.np.linalg, "eigvalsh", spying(np.linalg.eigvalsh))
    monkeypatch.setattr(module, "eigsh", spying(module.eigsh))
    objective, theta = trained(RunConfig(learning_rate=1.0), 20)
    rows = np.vstack([theta, theta])
    with threadpool_limits(limits=2, user_api="blas"):
        assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {2}
        if which == "sharpness":
            sharpness(objective, rows, method=method)
        else:
            module.preconditioned_sharpness(objective, rows, np.ones_like(rows), method=method)
    assert len(seen) == 2 and all(threads == {1} for threads in seen), seen
