"""Deeper networks (docs/method.md §12): the config's `hidden`, the flat layout of 2 to 4 hidden
layers, and the three engines held to an independent forward pass and to finite differences."""

import dataclasses
import json

import numpy as np
import pytest

from core.config import RunConfig
from core.engine import kernel
from core.engine.model import MLP
from core.engine.training import descend

DEPTHS = [(10, 10), (5, 7, 3), (3, 4, 5, 6)]  # 2, 3 and 4 hidden layers


# ---- the config ---------------------------------------------------------------------------
def test_one_layer_config_is_stored_as_before():
    config = RunConfig(hidden=(10,))
    assert config.hidden == 10 and type(config.hidden) is int and config.widths == (10,)
    assert config == RunConfig() and config.to_dict() == RunConfig().to_dict()
    # the key of the default config, as computed before depth came: caches stay valid
    assert RunConfig().key() == "b063d9f9a73978070a3db0c73f234a48"
    assert RunConfig(hidden=[64], learning_rate=1.0).key() == "4a7cd153863707f694aad90735c3f3ef"


def test_deep_config_round_trips_through_json():
    config = RunConfig(hidden=[10, 10])
    assert config.hidden == (10, 10) and config.widths == (10, 10)
    again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.key() == config.key() != RunConfig().key()
    assert dataclasses.replace(config, learning_rate=1.0).widths == (10, 10)


@pytest.mark.parametrize("bad", [(10, 0), (1, 2, 3, 4, 5), (), 1025, (10, 1025), (10, 2.5), (10, True), "10", None])
def test_bad_widths_are_one_line_naming_the_value_and_rule(bad):
    with pytest.raises(ValueError) as info:
        RunConfig(hidden=bad)
    message = str(info.value)
    assert message.startswith("hidden must be 1 to 4 hidden layers of 1 to 1024 units")
    assert repr(bad) in message and "\n" not in message
    with pytest.raises(ValueError, match="hidden must be"):
        MLP(4, bad, 3)


# ---- the layout ---------------------------------------------------------------------------
def test_parameter_count_formula():
    # P = sum over the weight matrices of (fan_in + 1) fan_out
    assert MLP(4, (10, 10), 3).n_params == 5 * 10 + 11 * 10 + 11 * 3 == 193
    assert MLP(4, (10, 10), 3).n_weights == 40 + 100 + 30
    assert MLP(4, (3, 4, 5, 6), 3).n_params == 5 * 3 + 4 * 4 + 5 * 5 + 6 * 6 + 7 * 3
    assert (MLP().n_params, MLP().n_weights) == (83, 70)


def test_step_flops():
    # 4 N sum(a b) + 2 N sum over the matrices above W1 of a b; one layer: 4 N D H + 6 N H C
    assert MLP().step_flops(120) == 4 * 120 * 4 * 10 + 6 * 120 * 10 * 3 == 40_800
    assert MLP(4, (10, 10), 3).step_flops(120) == 4 * 120 * (40 + 100 + 30) + 2 * 120 * (100 + 30)


@pytest.mark.parametrize("widths", DEPTHS)
def test_views_tile_theta_in_order(widths):
    mlp = MLP(4, widths, 3)
    parts = mlp.views(np.arange(mlp.n_params))
    assert len(parts) == 2 * (len(widths) + 1) == len(mlp.layer_names)
    np.testing.assert_array_equal(np.concatenate([p.ravel() for p in parts]), np.arange(mlp.n_params))
    sizes = (4, *widths, 3)
    assert [p.shape for p in parts[0::2]] == list(zip(sizes[:-1], sizes[1:], strict=True))
    assert mlp.weight_mask.sum() == mlp.n_weights
    np.testing.assert_array_equal(np.flatnonzero(mlp.weight_mask), np.concatenate([p.ravel() for p in parts[0::2]]))
    for block, w, b in zip(mlp.blocks(np.arange(mlp.n_params)), parts[0::2], parts[1::2], strict=True):
        np.testing.assert_array_equal(block, np.vstack([w, b]))


def test_one_layer_views_are_the_papers_layout():
    w1, b1, w2, b2 = MLP().views(np.arange(83))
    assert (w1[0, 0], w1[2, 7], b1[0], w2[0, 0], w2[9, 2], b2[2]) == (0, 27, 40, 50, 79, 82)


def test_normal_init_draws_the_weights_in_flat_order():
    mlp = MLP(4, (10, 10), 3)
    theta = mlp.init(np.random.default_rng(4), 3)
    expected = np.random.default_rng(4).standard_normal((3, mlp.n_weights))
    np.testing.assert_array_equal(theta[:, mlp.weight_mask], expected)
    assert not theta[:, ~mlp.weight_mask].any()


def test_glorot_init_respects_each_layers_limit():
    mlp = MLP(4, (10, 20), 3)
    parts = mlp.views(mlp.init(np.random.default_rng(0), 200, "glorot"))
    for w, (fan_in, fan_out) in zip(parts[0::2], [(4, 10), (10, 20), (20, 3)], strict=True):
        limit = np.sqrt(6 / (fan_in + fan_out))
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit


# ---- the engines ----------------------------------------------------------------------------
def _direct_loss(mlp: MLP, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Mean softmax cross-entropy of one network, written from the definition."""
    act = {"sigmoid": lambda u: 1 / (1 + np.exp(-u)), "tanh": np.tanh, "relu": lambda u: np.maximum(u, 0)}
    parts = mlp.views(theta)
    a = x
    for w, b in zip(parts[0:-2:2], parts[1:-2:2], strict=True):
        a = act[mlp.activation](a @ w + b)
    z = a @ parts[-2] + parts[-1]
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


@pytest.mark.parametrize("widths", DEPTHS)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_engines_agree_with_the_numpy_reference(iris, widths, activation):
    mlp = MLP(4, widths, 3, activation)
    theta = mlp.init(np.random.default_rng(1), 5)
    theta[:, ~mlp.weight_mask] = 0.1  # biases in play
    reference = mlp.objective(iris.x_train, iris.y_train, 0.02, engine="numpy")(theta)
    for x in range(2):
        assert reference[0][x] == pytest.approx(
            _direct_loss(mlp, theta[x], iris.x_train, iris.y_train) + 0.01 * np.sum(theta[x, mlp.weight_mask] ** 2),
            rel=1e-12,
        )
    for engine in ("compiled", "blas"):
        objective = mlp.objective(iris.x_train, iris.y_train, 0.02, engine=engine)
        assert objective.engine == engine
        loss, grad, accuracy = objective(theta)
        np.testing.assert_allclose(loss, reference[0], rtol=1e-13, atol=0)
        np.testing.assert_allclose(grad, reference[1], rtol=0, atol=1e-13 * np.abs(reference[1]).max())
        np.testing.assert_array_equal(accuracy, reference[2])


@pytest.mark.parametrize("widths", [(6, 5), (4, 5, 3)])
@pytest.mark.parametrize("engine", ["numpy", "compiled", "blas"])
@pytest.mark.parametrize("output", ["softmax", "legacy_sigmoid"])
def test_gradient_matches_central_differences(iris, widths, engine, output, check_gradient):
    mlp = MLP(4, widths, 3, "tanh", output)
    objective = mlp.objective(iris.x_train, iris.y_train, 0.03, engine=engine)
    grad = check_gradient(mlp, objective, np.random.default_rng(7), 2)
    # every layer's gradient is exercised, not only the output's
    assert all(np.abs(g).max() > 1e-6 for g in mlp.views(grad[0])[0::2])


def test_the_deep_kernel_at_depth_one_is_the_one_layer_kernel(iris):
    mlp = MLP()
    objective = mlp.objective(iris.x_train, iris.y_train, engine="compiled")
    theta = mlp.init(np.random.default_rng(3), 4)
    theta[:, ~mlp.weight_mask] = 0.2
    loss, grad, accuracy = objective(theta)
    out = np.empty(4), np.empty_like(theta), np.empty(4)
    widths = np.array([10], dtype=np.int64)
    kernel.deep_softmax_loss_grad(theta, objective._xs, objective._onehots, widths, kernel.SIGMOID, *out)
    np.testing.assert_allclose(out[0], loss, rtol=1e-14)
    np.testing.assert_allclose(out[1], grad, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(out[2], accuracy)


@pytest.mark.parametrize("engine", ["compiled", "blas", "numpy"])
def test_rows_are_bit_identical_however_they_are_batched(iris, engine):
    mlp = MLP(4, (10, 10), 3)
    objective = mlp.objective(iris.x_train, iris.y_train, engine=engine)
    theta = mlp.init(np.random.default_rng(2), 9)
    together = objective(theta)
    for k in (0, 4, 8):
        alone = objective(theta[k : k + 1])
        for a, b in zip(together, alone, strict=True):
            np.testing.assert_array_equal(a[k], b[0])


@pytest.mark.parametrize("engine", ["compiled", "blas", "numpy"])
def test_overflow_stays_in_its_row(iris, engine):
    mlp = MLP(4, (8, 8), 3, "relu")
    objective = mlp.objective(iris.x_train, iris.y_train, engine=engine)
    theta = mlp.init(np.random.default_rng(0), 3)
    theta[1, mlp.weight_mask] = 1e200
    loss, grad, _ = objective(theta)
    assert not np.isfinite(loss[1]) or not np.isfinite(grad[1]).all()
    assert np.isfinite(loss[[0, 2]]).all() and np.isfinite(grad[[0, 2]]).all()


def test_gradient_descent_trains_a_deep_network(iris):
    mlp = MLP(4, (10, 10), 3)
    objective = mlp.objective(iris.x_train, iris.y_train)
    traj = descend(objective, mlp.init(np.random.default_rng(0), 2), 0.5, 300, save_every=None)
    assert (traj.loss[-1] < 0.6 * traj.loss[0]).all() and not traj.diverged.any()
    assert (traj.accuracy[-1] > 0.8).all()


def test_cost_model_prices_a_deep_network_by_its_flops():
    from core.engine.speed import DEEP_KERNEL_PER_FLOP, KERNEL_ROW, row_cost

    assert row_cost(MLP(), 120) == pytest.approx(KERNEL_ROW)  # the one-layer price is unchanged
    deep = MLP(4, (10, 10), 3)
    assert row_cost(deep, 120) == pytest.approx(KERNEL_ROW * DEEP_KERNEL_PER_FLOP * 112_800 / 40_800)
