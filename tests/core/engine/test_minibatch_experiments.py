"""Mini-batches through the experiments (docs/method.md §13): the tangent spectrum of SGD on a
quadratic whose batch Hessians are known, the leading exponent carried along training, the
orbital copies continuing the reference's batches, the eps sweep and diagnostics on the same
batches as a run, and the experiments over many networks refusing what they cannot do yet."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from core.analysis.tangent import LeadingTangent, tangent_spectrum
from core.config import RunConfig
from core.engine.training import BatchOrder, MiniBatches, descend
from core.experiments.diagnostics import run_diagnostics
from core.experiments.eps_sweep import run_eps_sweep
from core.experiments.lyapunov_sweep import run_lyapunov
from core.experiments.maps import run_map
from core.experiments.orbit import run_orbit
from core.experiments.orbital_stability import run_orbital
from core.experiments.regimes import run_sweep
from core.experiments.spectrum import run_leading_exponent, run_spectrum
from core.experiments.stability import run_stability


class RowQuadratic:
    """L_B(theta) = mean over rows i of B of (a_i theta_0^2 + c_i theta_1^2) / 2: the batch
    Hessian is diag(mean a_B, mean c_B), so SGD multiplies theta_j by 1 - eta (that mean)."""

    def __init__(self, a, c):
        self.a, self.c = np.asarray(a, dtype=float), np.asarray(c, dtype=float)
        self.mlp = SimpleNamespace(n_params=2)

    def curvatures(self):
        return np.array([self.a.mean(), self.c.mean()])

    def __call__(self, theta):
        h = self.curvatures()
        return 0.5 * (theta * theta) @ h, theta * h, np.full(len(theta), np.nan)

    def on_rows(self, rows):
        return RowQuadratic(self.a[rows], self.c[rows])


def _quadratic():
    rng = np.random.default_rng(11)
    return RowQuadratic(rng.uniform(0.5, 3.0, 12), rng.uniform(0.1, 1.0, 12))


def test_sgd_on_the_quadratic_multiplies_by_the_batch_curvature():
    objective, order, eta = _quadratic(), BatchOrder(12, 5, 3), 0.6
    traj = descend(objective, np.array([[1.0, 1.0]]), eta, 8, save_every=1, batches=MiniBatches(objective, order))
    expected = np.ones(2)
    for t in range(8):
        expected = expected * (1.0 - eta * objective.on_rows(order.rows(t)).curvatures())
    np.testing.assert_allclose(traj.final_theta[0], expected, rtol=1e-13)


def test_the_tangent_spectrum_of_sgd_uses_each_steps_batch_hessian():
    objective, order, eta, n_steps = _quadratic(), BatchOrder(12, 5, 3), 0.6, 30
    batches = MiniBatches(objective, order)
    traj = descend(objective, np.array([[1.0, 1.0]]), eta, n_steps, save_every=1, batches=batches)
    spectrum = tangent_spectrum(objective, traj.theta[:, 0], eta, 2, method="exact", batches=batches)
    curv = np.array([objective.on_rows(order.rows(t)).curvatures() for t in range(n_steps)])  # (T, 2)
    known = np.mean(np.log(np.abs(1.0 - eta * curv)), axis=0)
    np.testing.assert_allclose(spectrum.sorted, np.sort(known)[::-1], rtol=1e-6)
    # the full-batch Hessian gives other exponents: the test can fail
    full = tangent_spectrum(objective, traj.theta[:, 0], eta, 2, method="exact")
    assert np.abs(full.sorted - spectrum.sorted).max() > 1e-3


def test_the_leading_exponent_carried_along_sgd_is_the_batch_ones():
    objective, order, eta, n_steps = _quadratic(), BatchOrder(12, 4, 0), 0.6, 30
    batches = MiniBatches(objective, order)
    carrier = LeadingTangent(objective, eta, n_steps, batches=batches)
    descend(carrier, np.array([[1.0, 1.0]]), eta, n_steps, save_every=None, batches=batches)
    curv = np.array([objective.on_rows(order.rows(t)).curvatures() for t in range(n_steps)])
    # q starts on the first unit vector, which the diagonal Jacobians never turn
    np.testing.assert_allclose(
        carrier.spectrum().exponents[0], np.mean(np.log(np.abs(1.0 - eta * curv[:, 0]))), rtol=1e-6
    )


def test_run_spectrum_and_the_carried_exponent_agree_with_batches():
    config = RunConfig(learning_rate=1.0, n_steps=60, batch_size=20, optimizer="momentum")
    qr = run_spectrum(config, 1, method="hvp").spectrum.exponents[0]
    carried = run_leading_exponent(config).exponents[0]
    assert carried == pytest.approx(qr, abs=1e-6)
    full = run_spectrum(dataclasses.replace(config, batch_size=None), 1, method="hvp").spectrum.exponents[0]
    assert abs(full - qr) > 1e-3


def test_the_spectrum_refuses_a_batch_too_large_before_training():
    with pytest.raises(ValueError, match="from 1 to 120 .the training rows., got 500"):
        run_spectrum(RunConfig(n_steps=10, batch_size=500), 2)


def test_the_orbital_copies_continue_the_references_batches():
    config = RunConfig(learning_rate=0.5, n_steps=80, n_perturbations=3, batch_size=16)
    reference = run_stability(config, threads=1).trajectory.loss[:, 0]
    orbital = run_orbital(config, 30, threads=1)
    np.testing.assert_array_equal(orbital.before.loss[:, 0], reference[:31])
    np.testing.assert_array_equal(orbital.after.loss[:, 0], reference[30:])


def test_the_eps_sweep_and_diagnostics_train_on_the_runs_batches():
    config = RunConfig(learning_rate=0.5, n_steps=60, n_perturbations=2, batch_size=16, batch_seed=4)
    reference = run_stability(config, threads=1).trajectory.loss[:, 0]
    np.testing.assert_array_equal(run_eps_sweep(config, [1e-8, 1e-6], threads=1).loss, reference)
    diag = run_diagnostics(config, transient=10, max_lag=5, n_shuffles=10, n_top=2)
    np.testing.assert_array_equal(diag.loss, reference)


def test_the_experiments_over_many_networks_train_on_the_same_batches_as_a_run():
    """core/experiments/cells.py hands the batches to descend: network g of an FTLE sweep, a
    regime sweep's networks and a map's cells are the runs of seed s + g, bit for bit, on the
    same batch order (which is not the full batch's trajectory)."""
    config = RunConfig(learning_rate=1.0, n_steps=80, n_perturbations=2, batch_size=16, batch_seed=3)
    sweep = run_lyapunov(config, [1e-8], 2, workers=2)
    for g in range(2):
        run = run_stability(dataclasses.replace(config, seed=g), threads=1)
        np.testing.assert_array_equal(sweep.mean_distance[g, 0], run.mean_distance)
    regimes = run_sweep(config, [1.0], 2, workers=1)
    np.testing.assert_array_equal(regimes.ftle.slope[0], sweep.fits.slope[:, 0])
    full = run_lyapunov(dataclasses.replace(config, batch_size=None), [1e-8], 2, workers=1)
    assert not np.array_equal(full.mean_distance, sweep.mean_distance)
    orbit = run_orbit(config, [0.1, 1.0], n_last=2, workers=1)
    mapped = run_map("eta-seed", config, [0.1, 1.0], [0, 1], workers=1)
    assert np.isfinite(orbit.losses).all() and np.isfinite(mapped.value).all()
