"""Regime maps on Celery workers: the same numbers as on this machine, whatever the number
of workers, and no chunk lost when a worker process is killed mid-map."""

import os
import signal
import threading

import numpy as np
import pytest

from cluster import CeleryExecutor, make_celery
from cluster.celery_app import seal, unseal
from core.config import RunConfig
from core.maps import run_map
from core.regimes import run_sweep

def _executor(cluster) -> CeleryExecutor:
    return CeleryExecutor(make_celery(cluster.url, cluster.secret))


def _same(a, b) -> None:
    for name in ("value", "share", "diverged", "done"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_a_distributed_map_equals_the_local_one(cluster):
    config = RunConfig(n_steps=200, n_perturbations=3)
    etas, eps = np.geomspace(0.05, 8.0, 6), np.array([1e-6, 1e-3])
    local = run_map("eta-eps", config, etas, eps, n_inits=2, workers=1)
    spread = run_map("eta-eps", config, etas, eps, n_inits=2, executor=_executor(cluster))
    _same(local, spread)
    assert np.isfinite(local.value).any() and not spread.cancelled


def test_a_distributed_sweep_equals_the_local_one_and_reports_progress(cluster):
    config = RunConfig(n_steps=150)
    seen = []
    local = run_sweep(config, [0.01, 0.5, 5.0], 3, workers=2)
    spread = run_sweep(config, [0.01, 0.5, 5.0], 3, executor=_executor(cluster), on_progress=lambda d, t, _: seen.append(d))
    np.testing.assert_array_equal(local.cells.loss, spread.cells.loss)
    np.testing.assert_array_equal(local.cells.sharpness, spread.cells.sharpness)
    assert seen[-1] == 9 and seen == sorted(seen)


def test_a_worker_killed_mid_map_loses_no_chunk(cluster):
    """SIGKILL to the process computing a chunk: Celery puts that chunk back in the queue
    (late acknowledgement) and the map completes with the same numbers."""
    workers = cluster.workers
    config = RunConfig(n_steps=2000)
    etas, seeds = np.geomspace(0.1, 5.0, 8), np.arange(4)
    local = run_map("eta-seed", config, etas, seeds, workers=2)
    killed = []

    def kill_one_busy_process(done, total, _partial):
        if killed:
            return None
        for tasks in (workers.app.control.inspect(timeout=1.0).active() or {}).values():
            for task in tasks:
                os.kill(task["worker_pid"], signal.SIGKILL)
                killed.append(task["worker_pid"])
                return None
        return None

    children = set(workers.child_pids())
    spread = run_map("eta-seed", config, etas, seeds, executor=_executor(cluster), on_progress=kill_one_busy_process)
    assert killed and killed[0] in children, (killed, children)
    assert killed[0] not in workers.child_pids()  # it is gone; the worker made a new process
    _same(local, spread)


def test_a_cancelled_map_stops_and_frees_the_workers(cluster):
    workers = cluster.workers
    config = RunConfig(n_steps=3000)
    result = run_map(
        "eta-seed", config, np.geomspace(0.1, 5.0, 8), np.arange(8), executor=_executor(cluster),
        on_progress=lambda done, total, _: False,
    )  # fmt: skip
    assert result.cancelled and not result.done.all()
    # the revoked chunks do not keep the workers: a new small map runs at once
    small = run_map("eta-seed", RunConfig(n_steps=50), [0.1, 1.0], [0, 1], executor=_executor(cluster))
    assert small.done.all()


def test_a_chunk_is_unpickled_only_with_the_right_key():
    sealed = seal({"theta": np.arange(3.0)}, b"right key")
    np.testing.assert_array_equal(unseal(sealed, b"right key")["theta"], np.arange(3.0))
    with pytest.raises(ValueError, match="not signed with this server's key"):
        unseal(sealed, b"wrong key")
