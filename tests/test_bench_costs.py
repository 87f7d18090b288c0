"""``cli.py bench --costs``'s measurement of the workers' start (commands.bench_costs)."""

import itertools

from commands import bench_costs
from core.engine import speed


def test_the_pool_start_is_timed_to_the_first_result_of_a_worker(monkeypatch):
    """Chunk 1 is always a worker's; chunks 0 and 2 may be computed in the calling process
    while the workers start, and come first. Timing the second result to arrive (whichever chunk)
    measured the calling process's own chunk 2: 0.01 s instead of ~0.7 s."""
    clock = itertools.count(start=0.0, step=0.25)  # each reading a quarter second later
    monkeypatch.setattr(bench_costs.time, "perf_counter", lambda: next(clock))

    def map_chunks(fn, chunks, *, workers, on_result):
        for i in (0, 2, 1):  # here, here, then the worker's
            on_result(i, fn(chunks[i]))
        return [], False

    monkeypatch.setattr(bench_costs, "map_chunks", map_chunks)
    # started at 0; results at 0.25 (chunk 0), 0.5 (chunk 2), 0.75 (chunk 1)
    assert bench_costs._pool_start(speed.REFERENCE_RATE) == 0.75


def test_each_estimated_job_starts_its_workers_cold():
    """bench --estimates runs its jobs in one process; each must start its worker processes as
    a job in a process of its own does, not find the first job's fork server loaded."""
    import multiprocessing.forkserver

    from core.engine.parallel import map_chunks

    server = multiprocessing.forkserver._forkserver
    map_chunks(abs, [-1, -2, -3], workers=2)
    first = server._forkserver_pid
    assert first is not None  # the workers' fork server runs on after the job
    bench_costs._cold_workers()
    assert server._forkserver_pid is None
    assert map_chunks(abs, [-1, -2, -3], workers=2)[0] == [1, 2, 3]  # and the next job starts its own
    assert server._forkserver_pid not in (None, first)
