"""The leading tangent vectors of several rows carried by one objective call per step
(core.analysis.tangent.LeadingTangents): the training rows are untouched bit for bit, and each
carried row's exponent is the one its training alone gives."""

import dataclasses

import numpy as np
import pytest

from core.analysis.tangent import LeadingTangent, LeadingTangents
from core.config import RunConfig
from core.engine.perturb import with_copies
from core.engine.training import descend
from core.experiments.stability import dataset_for, network_for, start_and_directions

CONFIG = RunConfig(learning_rate=1.0, n_steps=80, seed=1, n_perturbations=2, l2=1e-3)
ETAS = np.array([1.0, 1.0, 1.0, 0.3, 0.3, 0.3])  # two cells: a reference and two copies each
CARRIED = np.array([0, 3])  # the references


def _batch(engine: str, optimizer: str = "gd"):
    config = dataclasses.replace(CONFIG, optimizer=optimizer)
    data = dataset_for(config, None)
    mlp = network_for(config, data)
    start, unit = start_and_directions(config, mlp, None)
    other, _ = start_and_directions(RunConfig(seed=2), mlp, None)
    theta0 = np.vstack([with_copies(start, unit, 1e-6), with_copies(other, unit, 1e-6)])  # (6, P)
    return config, mlp.objective(data.x_train, data.y_train, config.l2, engine=engine), theta0


def _alone(objective, theta0, eta, config) -> float:
    carrier = LeadingTangent(objective, eta, config.n_steps, config.update_rule())
    descend(carrier, theta0[None, :], eta, config.n_steps, save_every=None, optimizer=config.update_rule())
    return float(carrier.spectrum().exponents[0])


def test_the_compiled_engine_computes_each_row_alone():
    """The premise of stacking: a call's first K rows do not change with the rows after them."""
    _, objective, theta0 = _batch("compiled")
    extra = theta0[[0, 3, 0, 3]] + 1e-6
    alone = objective(theta0)
    stacked = objective(np.concatenate([theta0, extra]))
    for a, b in zip(alone, stacked, strict=True):
        np.testing.assert_array_equal(a, b[: len(theta0)])


@pytest.mark.parametrize(("engine", "optimizer"), [("compiled", "gd"), ("blas", "gd"), ("compiled", "momentum")])
def test_carried_rows_leave_the_training_bit_identical_and_match_each_row_alone(engine, optimizer):
    config, objective, theta0 = _batch(engine, optimizer)
    rule = config.update_rule()
    bare = descend(objective, theta0, ETAS, config.n_steps, save_every=10, optimizer=rule)
    carrier = LeadingTangents(objective, ETAS[CARRIED], config.n_steps, CARRIED, rule)
    assert carrier.stacked == (engine == "compiled")
    carried = descend(carrier, theta0, ETAS, config.n_steps, save_every=10, optimizer=rule)
    for name in ("theta", "loss", "accuracy", "distance", "path_length"):
        np.testing.assert_array_equal(getattr(carried, name), getattr(bare, name))
    assert carrier.done.tolist() == [80, 80] and carrier.calls == 81  # descend evaluates theta_T too
    expected = [_alone(objective, theta0[r], ETAS[r], config) for r in CARRIED]
    np.testing.assert_allclose(carrier.exponents, expected, rtol=0, atol=1e-12)
    assert abs(expected[0] - expected[1]) > 0.05  # two learning rates, two exponents: the test can fail
    spectrum = carrier.spectrum(row=1)
    assert spectrum.n_steps == 80 and spectrum.diverged_at is None
    assert spectrum.exponents[0] == pytest.approx(np.mean(spectrum.local), abs=1e-15)


def test_a_diverging_carried_row_ends_alone():
    """At eta = 1 with L2 = 10 the weights grow about 9-fold a step (ln 9: the test of the run's
    exponent in tests/dashboard/views/test_spectrum_view.py); the row beside it goes on."""
    config, _, theta0 = _batch("compiled")
    data = dataset_for(config, None)
    wild = network_for(config, data).objective(data.x_train, data.y_train, 10.0)
    etas = np.array([1.0, 0.01])
    carrier = LeadingTangents(wild, etas, 400, np.array([0, 1]))
    with np.errstate(over="ignore", invalid="ignore"):
        descend(carrier, theta0[[0, 3]], etas, 400, save_every=None)
    first, second = carrier.spectrum(row=0), carrier.spectrum(row=1)
    assert first.diverged_at is not None and first.n_steps < 400
    assert first.exponents[0] == pytest.approx(np.log(9.0), abs=1e-3)
    assert second.diverged_at is None and second.n_steps == 400
    alone = _alone(wild, theta0[3], 0.01, dataclasses.replace(config, n_steps=400))
    assert second.exponents[0] == pytest.approx(alone, abs=1e-12)


def test_bad_rows_are_named():
    _, objective, _ = _batch("compiled")
    with pytest.raises(ValueError, match="rows must be 1 or more"):
        LeadingTangents(objective, 1.0, 10, np.zeros(0, dtype=int))
