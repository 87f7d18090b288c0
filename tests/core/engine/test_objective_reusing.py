"""Objective.reusing: the objective's numbers, bit for bit, in arrays kept across calls; and
descend, which calls the objective through it, equal to descend on a plain callable (which it
calls as it comes) for every engine, optimizer, batch size and thread count."""

import numpy as np
import pytest

from core.data import load_iris
from core.engine.model import MLP
from core.engine.objective import Objective
from core.engine.optimizers import Optimizer
from core.engine.training import BatchOrder, MiniBatches, descend

FIELDS = ("steps", "theta", "loss", "accuracy", "distance", "theta_norm", "path_length", "diverged_at")


class _Plain:
    """An objective without ``reusing`` (nor its batches): descend takes its fresh arrays."""

    def __init__(self, objective: Objective) -> None:
        self.objective = objective

    def __call__(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.objective(theta)

    def on_rows(self, rows: np.ndarray) -> "_Plain":
        return _Plain(self.objective.on_rows(rows))


def _networks(mlp: MLP, k: int, *, with_nan: bool = True) -> np.ndarray:
    """``k`` networks: row 1 scaled up 1e300 times (its logits overflow), row 2 with a NaN
    weight (``with_nan``)."""
    theta = mlp.init(np.random.default_rng(7), k)
    theta[1] *= 1e300
    theta[2, 0] = np.nan if with_nan else theta[2, 0]
    return theta


@pytest.mark.parametrize(
    ("engine", "hidden", "l2", "threads"),
    [
        ("compiled", 10, 0.0, 1),
        ("compiled", 10, 0.0, 2),
        ("compiled", 10, 0.01, 1),
        ("compiled", (6, 5), 0.0, 2),
        ("numpy", 10, 0.01, 1),
        ("blas", (6, 5), 0.0, 2),
    ],
)
def test_reusing_gives_the_calls_numbers_in_the_same_arrays(engine, hidden, l2, threads):
    data = load_iris()
    mlp = MLP(hidden=hidden)
    with mlp.objective(data.x_train, data.y_train, l2, threads=threads, engine=engine) as objective:
        reused = objective.reusing(9)
        first, second = _networks(mlp, 9), mlp.init(np.random.default_rng(8), 9)
        got = reused(first)
        for fresh, kept in zip(objective(first), got, strict=True):
            assert fresh.tobytes() == kept.tobytes()  # NaN included, bit for bit
        again = reused(second)
        assert all(a is b for a, b in zip(got, again, strict=True))  # the same arrays, overwritten
        for fresh, kept in zip(objective(second), again, strict=True):
            assert fresh.tobytes() == kept.tobytes()


def test_reusing_refuses_another_number_of_rows():
    data = load_iris()
    mlp = MLP()
    reused = mlp.objective(data.x_train, data.y_train).reusing(3)
    with pytest.raises(ValueError, match=r"theta must have shape \(3, 83\), got \(4, 83\)"):
        reused(mlp.init(np.random.default_rng(0), 4))
    with pytest.raises(ValueError, match=r"theta must have shape \(3, 83\), got \(3, 82\)"):
        reused(np.zeros((3, 82)))


# Adam's g * g overflows on a diverging row's gradient (core/engine/optimizers.py; so before too)
ADAM_OVERFLOWS = pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")


@pytest.mark.parametrize("optimizer", ["gd", "momentum", pytest.param("adam", marks=ADAM_OVERFLOWS)])
@pytest.mark.parametrize(("engine", "threads"), [("compiled", 1), ("compiled", 2), ("numpy", 1), ("blas", 2)])
@pytest.mark.parametrize(("batch_size", "l2"), [(None, 0.0), (None, 0.001), (12, 0.001)])
def test_descend_through_reusing_equals_descend_on_a_plain_callable(optimizer, engine, threads, batch_size, l2):
    """The kept arrays are read before the next call overwrites them: the step's gradient, the
    optimizer's buffers and the mini-batch's gradient beside the full loss's are not mixed up.
    With the L2 term row 1 diverges (row 3 too, but with Adam) (and no RuntimeWarning: pytest makes it an error)."""
    data = load_iris()
    mlp = MLP()
    eta = np.array([0.01, 0.5, 0.5, 1e100, 1.0, 0.1])
    runs = []
    for plain in (False, True):
        objective = mlp.objective(data.x_train, data.y_train, l2, threads=threads, engine=engine)
        called = _Plain(objective) if plain else objective
        batches = None if batch_size is None else MiniBatches(called, BatchOrder(len(data.y_train), batch_size, 3))
        theta0 = _networks(mlp, 6, with_nan=False)
        runs.append(descend(called, theta0, eta, 25, save_every=6, optimizer=Optimizer(optimizer), batches=batches))
        objective.close()
    reused, plain_run = runs
    assert reused.diverged[1] == bool(l2) and not reused.diverged[[0, 2, 4, 5]].any()
    for field in FIELDS:
        assert getattr(reused, field).tobytes() == getattr(plain_run, field).tobytes(), field
