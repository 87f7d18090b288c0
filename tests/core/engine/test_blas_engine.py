"""The BLAS engine (core.engine.objective, engine="blas") against the NumPy reference and the kernel;
its rows independent of their batch; the automatic choice; digits trains."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from core.config import RunConfig
from core.data import load_digits
from core.engine.model import MLP
from core.engine.objective import BLAS_MIN_FLOPS, resolve_engine
from core.engine.speed import DigitsSpeed, dgemm_gflops
from core.experiments.stability import run_stability


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _digits_theta(mlp, k, seed=0):
    """k digits networks at several weight scales, biases non-zero: saturated and linear units."""
    rng = np.random.default_rng(seed)
    theta = mlp.init(rng, k) * np.linspace(0.05, 1.5, k)[:, None]
    theta[:, ~mlp.weight_mask] = 0.1 * rng.standard_normal((k, (~mlp.weight_mask).sum()))
    return theta


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("output", ["softmax", "legacy_sigmoid"])
def test_blas_matches_numpy_reference_on_digits(digits, activation, output):
    mlp = MLP(64, 64, 10, activation, output)
    theta = _digits_theta(mlp, 4)
    blas = mlp.objective(digits.x_train, digits.y_train, 0.01, engine="blas")
    assert blas.engine == "blas"
    reference = mlp.objective(digits.x_train, digits.y_train, 0.01, engine="numpy")(theta)
    for got, want in zip(blas(theta), reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15 * np.abs(want).max())


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_blas_matches_compiled_kernel_on_iris(iris, activation):
    mlp = MLP(activation=activation)
    theta = mlp.init(np.random.default_rng(1), 12) * np.linspace(0.1, 4.0, 12)[:, None]
    blas = mlp.objective(iris.x_train, iris.y_train, 0.01, engine="blas")(theta)
    compiled = mlp.objective(iris.x_train, iris.y_train, 0.01, engine="compiled")(theta)
    for got, want in zip(blas, compiled, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_blas_gradient_matches_central_differences(check_gradient):
    """Independent of both other engines: the gradient against the loss it computes."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((300, 9)), rng.integers(0, 4, 300)
    mlp = MLP(9, 7, 4, "tanh")
    check_gradient(mlp, mlp.objective(x, y, 0.02, engine="blas"), rng, 2, atol_scale=0.0)


def _at_odd_address(row):
    """A copy of ``row`` (P,) that starts 8 bytes past an aligned buffer, as (1, P)."""
    buffer = np.empty(row.size + 1)
    copy = buffer[1:]
    copy[:] = row
    return copy[None]


@pytest.mark.parametrize(
    ("d", "h", "c", "n"),
    [(64, 64, 10, None), (7, 13, 5, 333), (30, 17, 4, 1001)],  # None: the digits rows
)
def test_rows_are_bit_identical_however_they_are_batched(digits, d, h, c, n):
    """A row's loss, gradient and accuracy do not depend on its batch-mates, its position,
    its address in memory or the number of threads: the property that keeps a sweep's
    result identical for any number of worker processes. It holds because no product ever
    mixes networks; stacked in one GEMM, OpenBLAS rounds them differently with their count."""
    rng = np.random.default_rng(3)
    if n is None:
        x, y = digits.x_train, digits.y_train
    else:
        x, y = rng.random((n, d)), rng.integers(0, c, n)
    mlp = MLP(d, h, c, "tanh")
    theta = mlp.init(rng, 9)
    objective = mlp.objective(x, y, engine="blas")
    full = objective(theta)
    batches = [objective(theta[lo:hi]) for lo, hi in ((0, 4), (4, 5), (5, 9))]
    threaded = mlp.objective(x, y, engine="blas", threads=3)(theta)
    for got in (tuple(np.concatenate(parts) for parts in zip(*batches, strict=True)), threaded):
        for a, b in zip(got, full, strict=True):
            assert np.array_equal(a, b)
    for k in (0, 5, 8):
        alone = objective(_at_odd_address(theta[k]))
        assert alone[0][0] == full[0][k] and alone[2][0] == full[2][k]
        assert np.array_equal(alone[1][0], full[1][k])
    copies = objective(np.repeat(theta[2:3], 4, axis=0))  # identical rows: distance exactly 0
    assert (copies[0] == full[0][2]).all() and (copies[1] == full[1][2]).all()


def test_rows_do_not_depend_on_the_callers_blas_threads(digits):
    """OpenBLAS on two threads rounds a (64, 1438) @ (1438, 64) product differently (seen
    here), so the engine pins BLAS to one thread itself, as descend does."""
    mlp = MLP(64, 64, 10, "tanh")
    theta = _digits_theta(mlp, 3)
    objective = mlp.objective(digits.x_train, digits.y_train, engine="blas")
    with threadpool_limits(limits=1, user_api="blas"):
        one = objective(theta)
    with threadpool_limits(limits=2, user_api="blas"):
        two = objective(theta)
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(a, b)


def test_blas_rows_with_overflow_stay_nonfinite_in_their_row(digits):
    """As in the reference: row 1 saturates every unit (a finite loss), row 2 holds a NaN,
    row 3 has W2 and b2 at the edge of float64 so the logits overflow; row 0 is untouched."""
    mlp = MLP(64, 64, 10, "tanh")
    theta = _digits_theta(mlp, 4)
    theta[1] = 1e300
    theta[2, 5] = np.nan
    theta[3, mlp.n_params - 650 :] = 1e308
    blas = mlp.objective(digits.x_train, digits.y_train, engine="blas", threads=2)(theta)
    reference = mlp.objective(digits.x_train, digits.y_train, engine="numpy")(theta)
    loss, grad, _ = blas
    assert np.isfinite(loss[0]) and np.isfinite(grad[0]).all()
    assert np.isnan(loss[2]) and not np.isfinite(loss[3])
    for got, want in zip(blas, reference, strict=True):
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))


def test_auto_engine_is_chosen_by_data_shape_only(iris, digits):
    iris_mlp, digits_mlp = MLP(), MLP(64, 64, 10, "tanh")
    assert iris_mlp.step_flops(120) == 40_800 < BLAS_MIN_FLOPS
    assert resolve_engine("auto", MLP(hidden=64), 120) == "compiled"  # 4 inputs, sigmoid: the kernel's case
    assert resolve_engine("auto", MLP(hidden=10, activation="tanh"), 480) == "blas"  # tanh, 163k FLOPs
    assert resolve_engine("auto", MLP(hidden=10, activation="tanh"), 120) == "compiled"  # tanh, 41k FLOPs
    assert resolve_engine("auto", MLP(16, 10, 3), 120) == "blas"  # 16 inputs
    assert digits_mlp.step_flops(1438) == 4 * 1438 * 64 * 64 + 6 * 1438 * 64 * 10
    assert iris_mlp.objective(iris.x_train, iris.y_train).engine == "compiled"
    assert digits_mlp.objective(digits.x_train, digits.y_train).engine == "blas"
    assert resolve_engine("auto", MLP(output="legacy_sigmoid"), 120) == "numpy"
    assert resolve_engine("compiled", digits_mlp, 1438) == "compiled"  # an explicit engine is kept
    assert resolve_engine("blas", digits_mlp, 0) == "numpy"  # no rows: the reference's NaN loss


def test_digits_trains_to_test_accuracy_above_ninety_percent():
    config = RunConfig.for_dataset("digits", learning_rate=1.0, n_steps=300, n_perturbations=1)
    result = run_stability(config)
    assert result.mlp.objective(result.data.x_train, result.data.y_train).engine == "blas"
    assert not result.trajectory.diverged.any()
    assert (result.test_accuracy > 0.9).all()


def test_dgemm_speed_and_the_flop_limited_rate():
    gflops = dgemm_gflops([(64, 64, 256)], seconds=0.02, repeats=2)
    assert 0.1 < gflops < 10_000  # a measurement, not a constant
    speed = DigitsSpeed("blas", 6, 2, rate=500.0, median_rate=450.0, step_flops=10**7, dgemm_gflops=20.0)
    assert speed.flop_limited_rate == 4000.0  # 2 threads x 2e10 / 1e7
    assert speed.ratio == 8.0 and speed.to_dict()["ratio"] == 8.0
