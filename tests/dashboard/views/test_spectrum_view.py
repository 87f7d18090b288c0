"""The tangent spectrum on the page (docs/method.md §10): the run's leading exponent, the Chaos
view's spectrum job and its words, the FTLE sweep's leading exponent, as plain functions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.config import RunConfig
from core.experiments.spectrum import run_leading_exponent, run_spectrum
from dashboard.jobs import compute, plans
from dashboard.state.rules import Limits, default_values
from dashboard.views import chaos, divergence, lyapunov

# eta = 1 over 100 steps: network 1's three largest exponents are 0.297, 0.041, 0.035
# (tests/core/analysis/test_tangent.py: an independent implementation)
SHORT = RunConfig(learning_rate=1.0, n_steps=100, seed=1, n_perturbations=2)


@pytest.fixture(scope="module")
def spectrum():
    return compute.spectrum(SHORT, plans.spectrum_k(SHORT))


@pytest.fixture(scope="module")
def run():
    return compute.stability(SHORT)


def test_the_run_carries_its_reference_networks_leading_exponent(run, spectrum):
    """The k = 1 exponent carried along the run's second training is the tangent spectrum's
    first QR column (Hessian-vector products against the dense Hessian: to 1e-6), and here the
    largest exponent too. The carrier's product is a central difference of the gradient, the
    spectrum's "hvp" the exact R-operator's: they agree to the difference's error (~1e-10)."""
    assert run.leading_steps == 100
    hvp = run_spectrum(SHORT, 1, method="hvp").spectrum.exponents[0]
    assert run.leading_exponent == pytest.approx(hvp, abs=1e-9)
    assert run.leading_exponent == pytest.approx(spectrum.running[-1, 0], abs=1e-6)
    assert run.leading_exponent == pytest.approx(0.297, abs=1e-3)


def test_the_spectrum_record_holds_the_known_exponents_and_its_summaries(spectrum):
    assert spectrum.k == spectrum.dim == 83 and spectrum.n_steps == 100 and not spectrum.cancelled
    np.testing.assert_allclose(spectrum.exponents[:3], [0.297, 0.041, 0.035], atol=1e-3)
    assert np.all(np.diff(spectrum.exponents) <= 0)  # largest first
    assert spectrum.n_positive == int((spectrum.exponents > 0).sum()) and 26 <= spectrum.n_positive <= 35
    assert spectrum.total == pytest.approx(spectrum.exponents.sum()) and spectrum.total < 0
    partial = np.cumsum(spectrum.exponents)
    j = int((partial >= 0).sum())
    assert spectrum.kaplan_yorke == pytest.approx(j + partial[j - 1] / abs(spectrum.exponents[j]))
    assert spectrum.running.shape == (100, 83) and spectrum.running_steps[-1] == 100


def test_the_chaos_views_words_are_the_records_numbers(spectrum):
    text = chaos.spectrum_text(spectrum)
    e = spectrum.exponents
    positive = int((e > 0).sum())
    assert e.size == 83 and spectrum.total < 0  # 83 exponents whose sum is negative: volumes shrink
    assert text == (
        f"The reference network at η = 1 (seed 1), over 100 iterations: all 83 exponents, from λ₁ = {e[0]:.4g} "
        f"to λ83 = {e[-1]:.4g} per iteration. {positive} of 83 are positive; the sum of all 83 is {e.sum():.4g} "
        f"(a 83-dimensional volume shrinks on average at that rate); Kaplan-Yorke dimension "
        f"{spectrum.kaplan_yorke:.4g}. A positive λ₁ means nearby networks separate exponentially (chaos needs "
        "it, over a long run); a negative sum means the training contracts volumes in weight space."
    )
    stopped = chaos.spectrum_text(dataclasses.replace(spectrum, n_steps=40, cancelled=True))
    assert "over 40 iterations (stopped before 100)" in stopped


def test_the_divergence_summary_puts_the_exponent_beside_the_ftle(run):
    text = divergence.summary_text(run)
    assert f"λ₁ {run.leading_exponent:.4f} per iteration, over all 100 iterations" in text
    if run.ftle.found:
        assert f"over iterations {run.ftle.start:.0f}-{run.ftle.start + run.ftle.length:.0f}" in text
    adam = dataclasses.replace(run, config=dataclasses.replace(SHORT, optimizer="adam"), leading_steps=0)
    assert "No tangent exponent: the reference was not finite at its first step." in divergence.summary_text(adam)


def test_an_adam_run_has_its_exponent_and_its_preconditioned_sharpness_and_a_spectrum_job():
    adam = dataclasses.replace(SHORT, optimizer="adam", learning_rate=0.05, n_steps=20)
    record = compute.stability(adam)
    assert record.leading_steps == 20
    assert record.leading_exponent == pytest.approx(run_leading_exponent(adam).exponents[0], abs=1e-12)
    assert record.preconditioned_sharpness is not None and np.isfinite(record.preconditioned_sharpness).all()
    assert plans.spectrum_k(adam) == 3 * 83  # (theta, m, v)
    plans.plan("spectrum", _values(optimizer="adam"), {"eta": 1, "steps": 1200}, Limits(rate=2e5), 1)


def _values(**changes) -> dict:
    return {**default_values(), **changes}


def test_the_spectrum_plan_is_keyed_by_the_long_runs_settings():
    limits = Limits(rate=2e5)
    first = plans.plan("spectrum", _values(), {"eta": 5, "steps": 1200}, limits, 1)
    again = plans.plan("spectrum", _values(), {"eta": "5.0", "steps": 1200}, limits, 1)
    other = plans.plan("spectrum", _values(), {"eta": 3, "steps": 1200}, limits, 1)
    assert first.key == again.key != other.key and first.key.startswith("spectrum:") and first.key.endswith(":k83")
    assert plans.spectrum_k(dataclasses.replace(SHORT, optimizer="momentum")) == 166  # (theta, buffer)
    assert plans.spectrum_k(dataclasses.replace(SHORT, dataset="digits")) == compute.SPECTRUM_K_LARGE
    with pytest.raises(ValueError, match="iterations of the long run"):
        plans.plan("spectrum", _values(), {"eta": 5, "steps": 10}, limits, 1)


def test_the_ftle_sweep_carries_its_first_networks_leading_exponent():
    config = RunConfig(learning_rate=1.0, seed=1)
    record = compute.ftle_sweep(config, 2, 60, eps_values=np.array([1e-8]))
    short = dataclasses.replace(config, n_steps=60, n_perturbations=compute.FTLE_COPIES)
    assert record.seed == 1 and record.leading_steps == 60
    assert record.leading_exponent == pytest.approx(run_leading_exponent(short).exponents[0], abs=1e-15)
    sentence = lyapunov.leading_sentence(record)
    assert f"network 0 (seed 1) over its first 60 iterations: {record.leading_exponent:.4f}" in sentence


def test_a_stopped_spectrum_covers_the_steps_before_the_stop():
    reports: list[tuple[int, int]] = []

    def control(done: int, total: int, *_) -> bool:
        reports.append((done, total))
        return done < 50  # stop at the report of step 50 (the training reports 0 done)

    record = compute.spectrum(dataclasses.replace(SHORT, n_steps=120), 5, control)
    assert record.cancelled and record.n_steps == 50 and record.running_steps[-1] == 50
    assert (50, 120) in reports and all(done in (0, 50) for done, _ in reports)
    assert "over 50 iterations (stopped before 120)" in chaos.spectrum_text(record)


def test_a_diverging_run_has_the_exponent_of_its_finite_steps():
    """With L2 = 10 at eta = 1 every weight is multiplied by about 1 - 10 = -9 a step: the
    network overflows, and over its finite steps lambda_1 is ln 9 (the loss's curvature adds
    less than 1e-3)."""
    wild = dataclasses.replace(SHORT, l2=10.0, n_steps=400)
    record = compute.stability(wild)
    with np.errstate(over="ignore"):  # core.analysis.hessian_vector_product squares a huge finite theta
        lead = run_spectrum(wild, 1, method="hvp").spectrum
    assert lead.diverged_at is not None and record.leading_steps == lead.n_steps < 400
    assert record.leading_exponent == pytest.approx(lead.exponents[0], rel=1e-9)
    assert record.leading_exponent == pytest.approx(np.log(9.0), abs=1e-3)
    assert f"over its first {record.leading_steps:,} iterations (then it diverged)" in divergence.summary_text(record)
