"""The compiled engine (core.engine.kernel) against NumPy: exp, loss, gradient, accuracy, steps."""

import numpy as np
import pytest

from core.engine import kernel, losses
from core.engine.model import MLP
from core.engine.training import descend


def test_exp_is_within_two_ulp_of_numpy_and_keeps_special_values():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-745, 709.7, 300_001), rng.standard_normal(100_000) * 10])
    out = np.empty_like(x)
    kernel.exp_array(x, out)
    ref = np.exp(x)
    normal = ref > np.finfo(float).tiny
    ulps = np.abs(out[normal] - ref[normal]) / np.spacing(ref[normal])
    assert ulps.max() <= 2.0
    subnormal = ~normal & (ref > 0)
    assert subnormal.any() and (np.abs(out[subnormal] - ref[subnormal]) <= 5e-324).all()
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 709.79, 710.0, 1e300, -746.0, -1e300])
    got = np.empty_like(special)
    kernel.exp_array(special, got)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, np.exp(special))  # NaN, inf, 0, 1, 1, inf, inf, inf, 0, 0


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_compiled_loss_gradient_and_accuracy_match_numpy(iris, activation):
    mlp = MLP(activation=activation)
    theta = mlp.init(np.random.default_rng(1), 40) * np.linspace(0.1, 4.0, 40)[:, None]
    compiled = mlp.objective(iris.x_train, iris.y_train, 0.01)(theta)
    reference = mlp.objective(iris.x_train, iris.y_train, 0.01, engine="numpy")(theta)
    for got, want in zip(compiled, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_compiled_engine_on_other_data_shapes():
    """D and C are compiled in: a 7-feature, 5-class problem gets its own kernel."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((50, 7)), rng.integers(0, 5, 50)
    mlp = MLP(n_inputs=7, hidden=6, n_classes=5)
    theta = mlp.init(rng, 4)
    compiled = mlp.objective(x, y)(theta)
    reference = mlp.objective(x, y, engine="numpy")(theta)
    for got, want in zip(compiled, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_overflowing_rows_stay_nonfinite_in_the_compiled_engine(iris):
    """No fastmath shortcut hides an overflow: the same rows are non-finite in both engines."""
    mlp = MLP()
    theta = mlp.init(np.random.default_rng(0), 5)
    theta[1] = 1e300
    theta[2, 5] = np.nan
    theta[3, 60:83] = 1e308  # W2 and b2 at the edge of float64: the logits overflow
    theta[4, :40] = np.inf  # saturates the sigmoids: a finite loss, which descend still stops on
    compiled = mlp.objective(iris.x_train, iris.y_train)(theta)
    reference = mlp.objective(iris.x_train, iris.y_train, engine="numpy")(theta)
    loss, grad, _ = compiled
    assert np.isfinite(loss[0]) and np.isfinite(grad[0]).all()
    assert np.isnan(loss[2]) and not np.isfinite(loss[3])
    for got, want in zip(compiled, reference, strict=True):
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))


def test_threads_give_bit_identical_rows(iris):
    mlp = MLP()
    theta = mlp.init(np.random.default_rng(4), 37)
    one = mlp.objective(iris.x_train, iris.y_train)(theta)
    three = mlp.objective(iris.x_train, iris.y_train, threads=3)(theta)
    for a, b in zip(one, three, strict=True):
        assert np.array_equal(a, b)


def test_descent_with_either_engine_follows_the_same_trajectory(iris):
    """At a small learning rate rounding differences stay at rounding level (at eta ~ 1
    they grow exponentially, as the paper's FTLE says, so the engines part ways there)."""
    mlp = MLP()
    theta0 = mlp.init(np.random.default_rng(5), 6)
    runs = [
        descend(mlp.objective(iris.x_train, iris.y_train, engine=engine), theta0, 0.01, 1000, save_every=None)
        for engine in ("compiled", "numpy")
    ]
    np.testing.assert_allclose(runs[0].final_theta, runs[1].final_theta, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(runs[0].loss, runs[1].loss, rtol=1e-9)
    np.testing.assert_allclose(runs[0].path_length, runs[1].path_length, rtol=1e-9)


def test_objective_rejects_theta_of_the_wrong_width(iris):
    objective = MLP().objective(iris.x_train, iris.y_train)
    with pytest.raises(ValueError, match=r"theta must have shape \(K, 83\), got \(2, 84\)"):
        objective(np.zeros((2, 84)))


def test_objective_rejects_unknown_engine_and_thread_counts(iris):
    with pytest.raises(ValueError, match="engine must be one of compiled, numpy"):
        MLP().objective(iris.x_train, iris.y_train, engine="cuda")
    with pytest.raises(ValueError, match="threads"):
        MLP().objective(iris.x_train, iris.y_train, threads=0)


def test_the_shared_softmax_block_matches_numpy_on_its_own():
    """``_softmax_cross_entropy``, the output block both kernels inline: loss, accuracy (a tie
    with the true class counts as right), d loss / d z over z and the bias's gradient."""
    rng = np.random.default_rng(5)
    c, n = 4, 70  # n not a multiple of the products of 32 the log is taken over
    labels = rng.integers(0, c, n)
    onehots = tuple(np.ascontiguousarray(labels == m, dtype=np.float64) for m in range(c))
    z = rng.standard_normal((c, n)) * 30.0
    z[:, :5] = 2.5  # five rows with every class tied
    logits = z.copy()
    want_loss, want_accuracy, want_dz = losses.softmax_ce_one(z.copy(), labels * n + np.arange(n))
    bias_grad = np.empty(c)
    loss, accuracy = kernel._softmax_cross_entropy(z, onehots, np.empty(n), np.empty(n), bias_grad)
    assert loss == pytest.approx(want_loss, rel=1e-13) and accuracy == want_accuracy
    assert want_accuracy == ((labels == logits.argmax(axis=0)).sum() + 4) / n  # ties count (argmax took 1 of 5)
    np.testing.assert_allclose(z, want_dz, rtol=1e-12, atol=1e-17)
    np.testing.assert_allclose(bias_grad, want_dz.sum(axis=1), rtol=1e-12, atol=1e-15)
