"""The tangent-space Lyapunov spectrum against systems whose exponents are known, against the
finite perturbations it linearises, and on the lab's networks at the three regimes."""

import math

import numpy as np
import pytest

from core.analysis.hessian import hessian
from core.analysis.tangent import kaplan_yorke, tangent_spectrum
from core.config import RunConfig
from core.experiments.spectrum import run_spectrum
from core.experiments.stability import dataset_for, network_for, run_stability
from tests.core.analysis.quadratic import Quadratic


def _gd(objective, theta0, eta, n_steps):
    thetas = [theta0]
    for _ in range(n_steps):
        thetas.append(thetas[-1] - eta * objective(thetas[-1][None, :])[1][0])
    return np.array(thetas)


def test_a_diagonal_quadratic_gives_log_abs_one_minus_eta_a_exactly():
    a = np.array([3.0, 1.5, 0.5, -0.2, 0.01])
    eta = 0.9  # 1 - eta a: -1.7, -0.35, 0.55, 1.18, 0.991
    objective = Quadratic(np.diag(a))
    thetas = _gd(objective, np.ones(5), eta, 60)
    for method in ("exact", "hvp"):
        spectrum = tangent_spectrum(objective, thetas, eta, 5, method=method)
        np.testing.assert_allclose(spectrum.exponents, np.log(np.abs(1 - eta * a)), rtol=0, atol=1e-8)
        assert spectrum.n_positive == 2 and spectrum.n_steps == 60 and spectrum.diverged_at is None


def test_a_rotated_quadratic_sorts_its_exponents_and_sums_exactly():
    """With k = P the sum is (1/T) log |det J^T| exactly; each exponent converges like 1/T."""
    rng = np.random.default_rng(7)
    rotation, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    a = np.array([2.5, 1.2, 0.8, 0.3, 0.05, -0.1])
    objective = Quadratic(rotation @ np.diag(a) @ rotation.T)
    eta, n_steps = 0.7, 3000
    thetas = _gd(objective, np.full(6, 1e-3), eta, n_steps)
    spectrum = tangent_spectrum(objective, thetas, eta, 6, every=5)
    want = np.sort(np.log(np.abs(1 - eta * a)))[::-1]
    assert spectrum.total == pytest.approx(np.sum(want), abs=1e-9)
    np.testing.assert_allclose(spectrum.exponents, want, atol=5e-3)  # already in QR's descending order
    np.testing.assert_allclose(spectrum.running[-1], spectrum.exponents)
    ends, windows = spectrum.finite_time(1000)
    assert ends.tolist() == [1000, 2000, 3000]
    np.testing.assert_allclose(windows.mean(axis=0), spectrum.exponents, atol=1e-12)


def test_kaplan_yorke():
    assert kaplan_yorke(np.array([0.5, -0.1, -1.0])) == pytest.approx(2 + 0.4 / 1.0)
    assert kaplan_yorke(np.array([-0.1, -0.5])) == 0.0
    assert kaplan_yorke(np.array([0.3, 0.2])) == 2.0  # every partial sum positive: k (a lower bound)
    assert kaplan_yorke(np.array([0.2, -0.5, 0.0])) == pytest.approx(2 + 0.2 / 0.5)  # sorted first
    assert math.isnan(kaplan_yorke(np.array([0.1, np.nan])))


def test_hessian_vector_products_agree_with_the_exact_hessian_on_iris():
    config = RunConfig(learning_rate=1.0, n_steps=60, seed=1)
    exact = run_spectrum(config, 6, method="exact").spectrum
    hvp = run_spectrum(config, 6, method="hvp").spectrum
    np.testing.assert_allclose(hvp.exponents, exact.exponents, atol=1e-6)


def test_the_tangent_dynamics_are_the_linearised_copies():
    """Copies at eps = 1e-12 and their directions carried by J_t = I - eta H_t agree until
    the distance leaves the linear regime (here: below 1e-3)."""
    config = RunConfig(learning_rate=1.0, n_steps=150, seed=3, eps=1e-12, n_perturbations=8, save_every=1)
    result = run_stability(config)
    data = dataset_for(config, None)
    objective = network_for(config, data).objective(data.x_train, data.y_train, 0.0)
    theta = result.trajectory.theta  # (T + 1, 1 + M, P)
    v = theta[0, 1:] - theta[0, 0]
    linear = [np.abs(v).sum(axis=1).mean()]
    for t in range(config.n_steps):
        v = v - config.learning_rate * v @ hessian(objective, theta[t, 0])
        linear.append(np.abs(v).sum(axis=1).mean())
    small = result.mean_distance < 1e-3
    assert small.sum() > 100 and result.mean_distance[-1] / result.mean_distance[0] > 1e6  # it grew
    np.testing.assert_allclose(np.array(linear)[small], result.mean_distance[small], rtol=1e-3)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_leading_exponent_matches_the_ftle_over_its_window(seed):
    """Over the FTLE's fit window (growth phase, eps = 1e-12) the leading tangent vector grows
    at the FTLE's rate, once it has aligned with the expanding direction. For networks 1 and 2
    it has by then; it need not over a short run (network 3: 0.04 against 0.13, docs/method.md §10)."""
    config = RunConfig(learning_rate=1.0, n_steps=200, seed=seed, eps=1e-12, n_perturbations=20, save_every=1)
    fit = run_stability(config).ftle
    start, length = int(fit.start), int(fit.length)
    spectrum = run_spectrum(config, 1).spectrum
    over_window = spectrum.local[start : start + length - 1, 0].mean()
    assert bool(fit.kept) and over_window == pytest.approx(float(fit.slope), rel=0.15)


def test_the_three_regimes_on_iris():
    """200 steps, all 83 exponents, the default networks 0-2 (N(0, 1) weights)."""
    found = {}
    for eta in (0.01, 1.0, 5.0):
        spectra = [run_spectrum(RunConfig(learning_rate=eta, n_steps=200, seed=s), 83).spectrum for s in range(3)]
        found[eta] = spectra
    # bounded: every exponent within 0.04 of 0 (eta a_i is small: |log|1 - eta a_i|| ~ eta |a_i|)
    assert all(np.abs(s.exponents).max() < 0.04 and s.sorted[0] < 0.01 for s in found[0.01])
    edge = found[1.0]
    assert max(s.sorted[0] for s in edge) > 0.15 and all(s.total < 0 for s in edge)  # chaotic, contracting
    assert all(20 <= s.n_positive <= 40 for s in edge)
    assert all(45 <= s.n_positive <= 65 for s in found[5.0])  # most directions expand


def test_bad_input_is_named():
    objective = Quadratic(np.eye(3))
    thetas = _gd(objective, np.ones(3), 0.1, 10)
    with pytest.raises(ValueError, match="k must be between 1 and 3, got 4"):
        tangent_spectrum(objective, thetas, 0.1, 4)
    with pytest.raises(ValueError, match="every must be between 1 and 10"):
        tangent_spectrum(objective, thetas, 0.1, 2, every=11)
    with pytest.raises(ValueError, match="thetas must have shape"):
        tangent_spectrum(objective, thetas[:1], 0.1, 2)
    with pytest.raises(ValueError, match="method must be one of"):
        tangent_spectrum(objective, thetas, 0.1, 2, method="qr")


def test_a_diverging_trajectory_ends_the_estimate():
    objective = Quadratic(np.diag([1.0, 3.0]))  # 1 - eta a = 0.5 and -0.5
    thetas = _gd(objective, np.ones(2), 0.5, 20)
    thetas[12:] = np.nan
    spectrum = tangent_spectrum(objective, thetas, 0.5, 2)
    assert spectrum.diverged_at == 12 and spectrum.n_steps == 12 and spectrum.steps[-1] == 12
    np.testing.assert_allclose(spectrum.exponents, np.log([0.5, 0.5]), atol=1e-9)  # over the 12 finite steps


def test_an_independent_implementation_on_the_default_networks():
    """Measured with a separate implementation (finite-difference Hessian, QR every step, the
    authors' initial networks, which seeds 0 and 1 draw here): eta = 1, 100 steps, k = 5."""
    config = RunConfig(learning_rate=1.0, n_steps=100)
    network_0 = run_spectrum(config, 5).spectrum.sorted
    network_1 = run_spectrum(RunConfig(learning_rate=1.0, n_steps=100, seed=1), 5).spectrum.sorted
    np.testing.assert_allclose(network_0[:3], [0.0100, 0.0066, 0.0056], atol=6e-5)
    np.testing.assert_allclose(network_1[:3], [0.297, 0.041, 0.035], atol=1e-3)


def test_the_start_vectors_are_the_first_unit_vectors_the_loss_moves():
    """Iris: every parameter counts, the first k unit vectors. Digits: the weights out of pixels
    blank in every training image come last (started there, the leading exponent was 0 exactly:
    their direction never moves)."""
    from core.analysis.tangent import start_vectors
    from core.experiments.spectrum import run_leading_exponent

    iris = RunConfig()
    data = dataset_for(iris, None)
    objective = network_for(iris, data).objective(data.x_train, data.y_train)
    for dim, k in ((83, 1), (83, 5), (83, 83), (166, 10)):
        np.testing.assert_array_equal(start_vectors(objective, dim, k), np.eye(dim, k))
    digits = RunConfig.for_dataset("digits", learning_rate=0.5, n_steps=60)
    data = dataset_for(digits, None)
    mlp = network_for(digits, data)
    objective = mlp.objective(data.x_train, data.y_train)
    blank = np.flatnonzero(np.all(data.x_train == 0.0, axis=0))
    assert blank.size and blank[0] == 0  # pixel 0 is blank in every image: W1[0, :] are idle
    first = np.flatnonzero(start_vectors(objective, mlp.n_params, 1)[:, 0])
    assert first.tolist() == [64]  # W1[1, 0], the first weight out of a pixel that is ever inked
    lead = run_leading_exponent(digits)
    assert lead.exponents[0] != 0.0
    np.testing.assert_allclose(lead.exponents, run_spectrum(digits, 1, method="hvp").spectrum.exponents, atol=1e-12)
