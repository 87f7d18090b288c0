"""The objective's threads: stopped by close() or a with block, not left to __del__; a closed
objective still computes, and the same numbers (its threads start again)."""

import gc
import threading

import numpy as np

from core.engine.model import MLP


def _objective_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("objective")]


def _objective(rng):
    mlp = MLP(n_inputs=4, hidden=6, n_classes=3)
    x, y = rng.normal(size=(30, 4)), rng.integers(0, 3, size=30)
    theta = rng.normal(scale=0.5, size=(16, mlp.n_params))  # (K, P): 4 groups of 4 rows
    return mlp.objective(x, y, threads=4, engine="compiled"), theta


def _wait_gone(timeout: float = 10.0) -> bool:
    for thread in _objective_threads():
        thread.join(timeout)
    return not _objective_threads()


def test_a_with_block_stops_the_threads_and_a_closed_objective_computes_the_same(rng):
    objective, theta = _objective(rng)
    with objective:
        loss, grad, _ = objective(theta)
        assert _objective_threads()  # the rows were split over threads
    assert _wait_gone()
    again, grad_again, _ = objective(theta)  # threads made again
    objective.close()
    assert _wait_gone()
    np.testing.assert_array_equal(loss, again)
    np.testing.assert_array_equal(grad, grad_again)


def test_an_objective_never_closed_stops_its_threads_when_collected(rng):
    objective, theta = _objective(rng)
    objective(theta)
    assert _objective_threads()
    del objective
    gc.collect()
    assert _wait_gone()
