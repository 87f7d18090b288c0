"""A run with its reference's leading tangent exponent carried along its own training
(core.experiments.spectrum.run_stability_with_leading): the run's trajectory bit for bit
run_stability's, the exponent run_leading_exponent's (a second training of the reference)."""

import dataclasses

import numpy as np
import pytest

from core.config import RunConfig
from core.experiments.spectrum import run_leading_exponent, run_stability_with_leading
from core.experiments.stability import run_stability

SHORT = RunConfig(learning_rate=1.0, n_steps=150, seed=1, n_perturbations=3)
CASES = {
    "gd": SHORT,
    "momentum": dataclasses.replace(SHORT, optimizer="momentum", learning_rate=0.3),
    "sgd": dataclasses.replace(SHORT, batch_size=20),
    "adam": dataclasses.replace(SHORT, optimizer="adam", learning_rate=0.05),  # (theta, m, v)
    # the BLAS engine: the run's rows bit for bit (its exponent is 0 here: pixel 0 of digits is
    # always 0, so the first unit vector, where q starts, is a flat direction; the BLAS engine's
    # exponents are checked on Iris in tests/core/analysis/test_leading_tangents.py)
    "blas": RunConfig.for_dataset("digits", n_steps=20, n_perturbations=1, save_every=10),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_carried_exponent_leaves_the_run_bit_identical(name):
    config = CASES[name]
    bare = run_stability(config, threads=1).trajectory
    result, lead = run_stability_with_leading(config, threads=1)
    traj = result.trajectory
    for field in ("steps", "theta", "loss", "accuracy", "distance", "theta_norm", "path_length", "diverged_at"):
        np.testing.assert_array_equal(getattr(traj, field), getattr(bare, field), err_msg=field)
    alone = run_leading_exponent(config, threads=1)
    assert lead.n_steps == alone.n_steps == config.n_steps
    assert lead.exponents[0] == pytest.approx(alone.exponents[0], abs=1e-12)


def test_the_gd_exponent_is_the_known_one():
    """eta = 1, network 1, 100 steps: 0.297 (tests/core/analysis/test_tangent.py, an independent
    implementation), so the number carried is the exponent and not only self-consistent."""
    _, lead = run_stability_with_leading(dataclasses.replace(SHORT, n_steps=100), threads=1)
    assert lead.exponents[0] == pytest.approx(0.297, abs=1e-3)
