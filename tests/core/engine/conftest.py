"""What several engine tests share: the gradient against central differences of the loss."""

import numpy as np
import pytest


def _check_gradient(mlp, objective, rng, n_rows: int, *, atol_scale: float = 1.0) -> np.ndarray:
    """``n_rows`` networks of ``mlp`` (initial weights, biases ~N(0, 0.01)): the objective's
    gradient equals central differences of its loss (step 1e-6) to 1e-7 of the largest
    component (or of ``atol_scale``, if larger), which must not be vanishing (the check is
    then not vacuous). Returns the gradient (n_rows, P)."""
    theta = mlp.init(rng, n_rows)
    theta[:, ~mlp.weight_mask] = 0.1 * rng.standard_normal((n_rows, (~mlp.weight_mask).sum()))
    _, grad, _ = objective(theta)
    h = 1e-6
    numeric = np.empty_like(theta)
    for p in range(mlp.n_params):
        step = np.zeros(mlp.n_params)
        step[p] = h
        numeric[:, p] = (objective.loss(theta + step) - objective.loss(theta - step)) / (2 * h)
    scale = np.abs(grad).max()
    assert scale > 1e-3
    np.testing.assert_allclose(grad, numeric, atol=1e-7 * max(atol_scale, scale), rtol=0)
    return grad


@pytest.fixture
def check_gradient():
    """``check_gradient(mlp, objective, rng, n_rows)``: see :func:`_check_gradient`."""
    return _check_gradient
