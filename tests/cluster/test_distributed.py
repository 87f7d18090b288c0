"""Regime maps on Celery workers: the same numbers as on this machine, whatever the number
of workers, and no chunk lost when a worker process is killed mid-map."""

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable

import numpy as np
import psutil
import pytest

from cluster import CeleryExecutor, make_celery
from cluster.celery_app import seal, unseal
from core.config import RunConfig
from core.experiments.maps import run_map
from core.experiments.regimes import run_sweep


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
    spread = run_sweep(
        config, [0.01, 0.5, 5.0], 3, executor=_executor(cluster), on_progress=lambda d, t, _: seen.append(d)
    )
    np.testing.assert_array_equal(local.cells.loss, spread.cells.loss)
    np.testing.assert_array_equal(local.cells.sharpness, spread.cells.sharpness)
    assert seen[-1] == 9 and seen == sorted(seen)


def test_a_worker_killed_mid_map_loses_no_chunk(cluster):
    """SIGKILL to the process computing a chunk: Celery puts that chunk back in the queue
    (late acknowledgement) and the map completes with the same numbers. Eight one-cell chunks
    of 15,000 steps (about a quarter of a second each here): a thread asks the workers for their active
    tasks from the start and kills the first process it sees computing one, while that chunk
    is still unfinished (the answer comes as soon as both workers have replied, not after the
    whole inspect timeout, in which the chunk could finish and the kill hit an idle process)."""
    workers = cluster.workers
    config = RunConfig(n_steps=15_000)
    etas, seeds = np.geomspace(0.1, 5.0, 4), np.arange(2)
    local = run_map("eta-seed", config, etas, seeds, workers=2)
    children = set(workers.child_pids())
    # the process computing the task (taken before the kill: its pid may be reused)
    with _killing(workers.app, len(workers.processes), lambda _, task: [psutil.Process(task["worker_pid"])]) as killed:
        spread = run_map("eta-seed", config, etas, seeds, executor=_executor(cluster))
    assert killed and killed[0].pid in children, (killed, children)
    assert _gone(killed[0])  # it is gone (the worker made a new process and took the chunk again)
    _same(local, spread)


@contextlib.contextmanager
def _killing(app, n_workers: int, victims_of: Callable[[str, dict], list[psutil.Process]]):
    """While the block runs, a thread watches the workers from the start and, the first time
    one computes an unfinished task, SIGKILLs ``victims_of(worker name, task)``; yields the
    list of the killed processes (empty if none was seen busy)."""
    killed: list[psutil.Process] = []
    finished = threading.Event()

    def kill_once() -> None:
        while not finished.is_set():
            for name, task in _unfinished_tasks(app, n_workers):
                victims = victims_of(name, task)
                for victim in victims:
                    os.kill(victim.pid, signal.SIGKILL)
                killed.extend(victims)
                return

    killer = threading.Thread(target=kill_once, daemon=True)
    killer.start()
    try:
        yield killed
    finally:
        finished.set()
        killer.join(60)


def _unfinished_tasks(app, n_workers: int) -> list[tuple[str, dict]]:
    """(worker name, task) for each task a worker is computing and whose result is not in:
    ``limit``, so that the answer comes as soon as every worker has replied."""
    active = app.control.inspect(timeout=5.0, limit=n_workers).active() or {}
    return [
        (name, task)
        for name, tasks in active.items()
        for task in tasks
        if app.AsyncResult(task["id"]).state != "SUCCESS"
    ]


def _gone(process: psutil.Process, timeout: float = 30.0) -> bool:
    """Whether the killed ``process`` has ended (a zombie counts): ``is_running`` also tells a
    new process that was given its pid (pids wrap around at 32768 here, and a whole test run
    starts thousands of processes)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if not process.is_running() or process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def test_a_cancelled_map_stops_and_frees_the_workers(cluster):
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


def test_a_worker_host_that_vanishes_mid_map_loses_no_chunk(tmp_path):
    """SIGKILL to a whole worker (its main process and its pool): its chunk, never
    acknowledged, goes back to the queue after the visibility timeout (5 s here) and the
    other worker computes it; the map equals the local one. The worker is killed from a
    thread that watches the workers from the start (from a progress callback, a whole inspect
    timeout after the first chunk, the 24 short chunks could all be done), the first time
    one is computing an unfinished chunk; 4,000 steps a chunk (about 0.1 s each here)."""
    from cluster.local import celery_workers, redis_server

    secret = "v" * 32
    config = RunConfig(n_steps=4000)
    etas, seeds = np.geomspace(0.1, 5.0, 6), np.arange(4)
    local = run_map("eta-seed", config, etas, seeds, workers=2)
    with redis_server() as url, celery_workers(url, secret, n=2, WSD_CELERY_VISIBILITY_SECONDS="5") as workers:
        app = make_celery(url, secret)

        def whole_worker(name: str, _task: dict) -> list[psutil.Process]:
            main = psutil.Process(workers.processes[int(name.split("-")[0][1:])].pid)  # w<i>-<pid>@host
            return [main, *main.children(recursive=True)]

        with _killing(app, len(workers.processes), whole_worker) as killed:
            spread = run_map("eta-seed", config, etas, seeds, executor=CeleryExecutor(app))
    assert killed and all(_gone(victim) for victim in killed)
    _same(local, spread)


def test_an_error_on_a_worker_reaches_the_caller(cluster):
    import math

    future = _executor(cluster).submit(math.sqrt, -1.0)
    with pytest.raises(ValueError, match="math domain error"):
        future.result(timeout=30)
    wrong_key = CeleryExecutor(make_celery(cluster.url, "another key, not the workers'"))
    with pytest.raises(ValueError, match="not signed with this server's key"):
        wrong_key.submit(math.sqrt, 4.0).result(timeout=30)
