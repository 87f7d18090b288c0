"""The optimizers' stability thresholds (docs/method.md §11): known values, and the boundary of
each rule's own step on a quadratic."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.optimizers import OPTIMIZERS, Optimizer, stability_threshold


def test_the_known_thresholds():
    assert stability_threshold("gd", 0.01).value == pytest.approx(200.0)  # 2/eta
    assert stability_threshold("gd", 1.0).label == "2/η"
    assert stability_threshold("momentum", 1.0, 0.9).value == pytest.approx(3.8)  # (2 + 2 beta)/eta
    assert stability_threshold("momentum", 0.5, 0.5).value == pytest.approx(6.0)
    assert stability_threshold("nesterov", 1.0, 0.9).value == pytest.approx(3.8 / 2.8)  # 1.357/eta, below GD's 2
    assert stability_threshold("nesterov", 2.0, 0.0).value == pytest.approx(1.0)  # no momentum: GD's 2/eta
    adam = stability_threshold("adam", 1.0, 0.9)
    assert adam.value is None and "= 38 bounds the preconditioned sharpness" in adam.note  # (2 + 2b)/((1 - b) eta)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "nesterov"])
def test_a_multiplier_of_the_rules_own_step_reaches_one_at_the_threshold(optimizer):
    """On a x^2 / 2 at a = threshold the step's map (built from the optimizer's state, t >= 1)
    has spectral radius 1; just below it is inside the unit circle."""
    eta, beta = 0.3, 0.7
    a = stability_threshold(optimizer, eta, beta).value
    assert a is not None

    def radius(curvature: float) -> float:
        size = 1 if optimizer == "gd" else 2
        columns = []
        for unit in np.eye(size):
            state = Optimizer(optimizer, beta).state(1, 1)
            if size == 2:
                state.first[...] = unit[1]
            x = np.array([[unit[0]]])
            x_next = x - eta * state.direction(1, curvature * x)
            columns.append([x_next[0, 0]] + ([state.first[0, 0]] if size == 2 else []))
        return float(np.max(np.abs(np.linalg.eigvals(np.array(columns).T))))

    assert radius(a) == pytest.approx(1.0, abs=1e-9)
    assert radius(0.999 * a) < 1.0 < radius(1.001 * a)


def test_bad_settings_are_named():
    assert set(OPTIMIZERS) == {"gd", "momentum", "nesterov", "adam"}
    with pytest.raises(ValueError, match="optimizer must be one of gd, momentum, nesterov, adam; got 'sgd'"):
        stability_threshold("sgd", 1.0)
    with pytest.raises(ValueError, match="eta"):
        stability_threshold("gd", 0.0)
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        stability_threshold("momentum", 1.0, 1.0)
