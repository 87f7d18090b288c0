"""The cells' test accuracy, computed a block of steps at a time, equals the formula it replaced:
``MLP.accuracy`` of the reference rows once a step, bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.config import RunConfig
from core.engine.training import NEVER, descend
from core.experiments import cells
from core.experiments.cells import _WithTestAccuracy, train_cells
from core.experiments.stability import dataset_for, network_for, start_and_directions

CONFIGS = {
    "tanh": RunConfig(activation="tanh", n_steps=40),
    "sigmoid, 6 units": RunConfig(hidden=6, n_steps=40),
    "relu, two layers": RunConfig(hidden=(10, 10), activation="relu", n_steps=40),
    "digits": RunConfig.for_dataset("digits", hidden=16, activation="tanh", n_steps=12),
}
ETAS = np.array([0.01, 0.5, 3.0, 400.0])


def _one_call_a_step(mlp, data, thetas, rows):  # the formula of the code before: (T + 1, c)
    return np.array([mlp.accuracy(theta[rows], data.x_test, data.y_test) for theta in thetas])


def _trajectory(config, scale=1.0):
    """Every step's parameters (T + 1, K, P) of K = 4 networks, one per learning rate, on the
    data's features times ``scale``."""
    data = dataset_for(config, None)
    data = dataclasses.replace(data, x_train=data.x_train * scale, x_test=data.x_test * scale)
    mlp = network_for(config, data)
    starts = np.stack([start_and_directions(dataclasses.replace(config, seed=s), mlp, None)[0] for s in range(4)])
    objective = mlp.objective(data.x_train, data.y_train)
    traj = descend(objective, starts, ETAS, config.n_steps, save_every=1)
    return data, mlp, objective, traj


@pytest.mark.parametrize("name", CONFIGS)
def test_blocks_of_steps_equal_one_call_a_step(name, monkeypatch):
    config = CONFIGS[name]
    data, mlp, objective, traj = _trajectory(config)
    thetas = traj.theta.copy()
    thetas[9:, 2, :3], thetas[17:, 0, -1] = np.inf, np.nan  # non-finite networks too
    rows = np.array([3, 0, 2])
    monkeypatch.setattr(cells, "ACCURACY_NETWORKS", 5 * rows.size)  # blocks of 5 steps, the last one partial
    observed = _WithTestAccuracy(objective, mlp, data, rows, config.n_steps)
    assert observed.block == 5 and (config.n_steps + 1) % 5
    for theta in thetas:
        observed(theta)
    np.testing.assert_array_equal(observed.finish(), _one_call_a_step(mlp, data, thetas, rows))


def test_steps_not_called_stay_nan():
    data, mlp, objective, traj = _trajectory(CONFIGS["tanh"])
    observed = _WithTestAccuracy(objective, mlp, data, np.arange(4), 40)
    for theta in traj.theta[:7]:
        observed(theta)
    got = observed.finish()
    np.testing.assert_array_equal(got[:7], _one_call_a_step(mlp, data, traj.theta[:7], np.arange(4)))
    assert np.isnan(got[7:]).all()


@pytest.mark.parametrize(("name", "scale"), [("tanh", 1.0), ("relu, two layers", 1.0), ("relu, two layers", 1e60)])
def test_cells_test_accuracy_equals_each_run_scored_every_step(name, scale):
    """End to end: a cell's test accuracy at every step is the old formula on the same network
    trained alone, NaN from the step it diverged (features x 1e60: every network, at step 2 or 3)."""
    config = CONFIGS[name]
    data, mlp, _, traj = _trajectory(config, scale)
    assert (traj.diverged_at != NEVER).all() == (scale > 1)
    got = train_cells(config, data, ETAS, np.arange(4), workers=1).test_accuracy  # (4, T + 1)
    want = _one_call_a_step(mlp, data, traj.theta, np.arange(4)).T
    for k, at in enumerate(traj.diverged_at):
        if at != NEVER:
            want[k, at:] = np.nan
    assert np.isfinite(want[:, :2]).all()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("with_leading", [False, True], ids=["plain", "leading exponent carried"])
@pytest.mark.parametrize("name", ["tanh", "relu, two layers", "digits"])
def test_descend_through_the_reusing_form_gives_the_same_cells(name, with_leading, monkeypatch):
    """descend calls the objective through ``_WithTestAccuracy.reusing`` (arrays kept across
    steps): every result of the cells is the one a call a step gives, bit for bit, diverging
    rows (eta 400) included."""
    config = dataclasses.replace(CONFIGS[name], n_perturbations=2)
    data = dataset_for(config, None)
    used = []
    real = _WithTestAccuracy.reusing
    monkeypatch.setattr(_WithTestAccuracy, "reusing", lambda self, k: used.append(k) or real(self, k))

    def train():
        return train_cells(config, data, ETAS, np.arange(4), eps=np.array([1e-6]), n_copies=2, workers=1,
                           with_leading=with_leading)  # fmt: skip

    reused = train()
    assert used, "descend did not take the reusing form"
    monkeypatch.setattr(_WithTestAccuracy, "reusing", None)  # descend then calls the wrapper each step
    called = train()
    for field in dataclasses.fields(reused):
        np.testing.assert_array_equal(getattr(reused, field.name), getattr(called, field.name), err_msg=field.name)
