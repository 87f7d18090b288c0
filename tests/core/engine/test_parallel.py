"""map_chunks on an executor: results in order, the executor of use_executor, and the chunks
not started cancelled when the caller stops (a False from on_progress, Ctrl-C, or the check
of stop_when, asked while no chunk finishes). On worker processes: the calls inside
shared_workers share one pool, and a stop ends the workers at once, shared or not."""

import contextlib
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import pytest

from core.engine.parallel import (
    STOP_CHECK_SECONDS,
    map_chunks,
    sent_again_news,
    shared_workers,
    stop_when,
    use_executor,
)


def _slow_square(x: int) -> int:
    time.sleep(0.05)
    return x * x


def test_an_executor_runs_every_chunk_and_the_results_come_in_order():
    with ThreadPoolExecutor(max_workers=3) as pool:
        results, cancelled = map_chunks(_slow_square, list(range(7)), executor=pool)
    assert results == [x * x for x in range(7)] and not cancelled


def test_use_executor_reaches_map_chunks_inside_its_block_only():
    ran_on = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            ran_on.append(self)
            return super().submit(fn, *args, **kwargs)

    with Recording(max_workers=1) as pool:
        with use_executor(pool):
            map_chunks(_slow_square, [1, 2])
        map_chunks(_slow_square, [3, 4], workers=1)
    assert ran_on == [pool, pool]


@pytest.mark.parametrize("stop", ["progress returns False", "Ctrl-C"])
def test_stopping_cancels_the_chunks_not_started(stop):
    started = []

    def square(x):
        started.append(x)
        return _slow_square(x)

    def on_progress(done, total, _):
        if stop == "Ctrl-C":
            raise KeyboardInterrupt
        return False

    with ThreadPoolExecutor(max_workers=1) as pool:
        if stop == "Ctrl-C":
            with pytest.raises(KeyboardInterrupt):
                map_chunks(square, list(range(20)), executor=pool, on_progress=on_progress)
        else:
            results, cancelled = map_chunks(square, list(range(20)), executor=pool, on_progress=on_progress)
            assert cancelled and results == [0]
    assert len(started) <= 2  # the first, and perhaps the one already running


class _Never(Executor):
    """An executor whose chunks never finish (their worker, or their Redis, was lost)."""

    def __init__(self) -> None:
        self.futures: list[Future] = []

    def submit(self, fn, /, *args, **kwargs) -> Future:
        self.futures.append(Future())
        return self.futures[-1]


@pytest.mark.parametrize("stop", ["the check says why", "Ctrl-C"])
def test_a_stop_is_seen_while_no_chunk_finishes(stop):
    """Cancel pressed (or Ctrl-C) while every chunk hangs: the check of stop_when is asked
    meanwhile and the wait ends within STOP_CHECK_SECONDS, the chunks cancelled (it waited
    for the first chunk to finish, for ever if none did). on_progress is not called for
    nothing: a caller's may build a whole partial result."""
    executor, pressed, asked, asked_twice = _Never(), threading.Event(), [], threading.Event()

    def check():
        asked.append(time.monotonic())
        if len(asked) >= 2:
            asked_twice.set()
        if pressed.is_set():
            if stop == "Ctrl-C":
                raise KeyboardInterrupt
            return "cancelled"
        return None

    answer, progress = [], []

    def run():
        with stop_when(check):
            try:
                answer.append(map_chunks(_slow_square, [1, 2, 3], executor=executor, on_progress=progress.append))
            except KeyboardInterrupt as exc:
                answer.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert asked_twice.wait(10 * STOP_CHECK_SECONDS), "the stop check was not asked while no chunk finished"
    assert thread.is_alive()
    pressed.set()
    pressed_at = time.monotonic()
    assert _joined(thread, 10.0), "map_chunks did not return after the stop"
    assert time.monotonic() - pressed_at < STOP_CHECK_SECONDS + 1.0  # 1 s of slack on a busy machine
    if stop == "Ctrl-C":
        assert isinstance(answer[0], KeyboardInterrupt)
    else:
        assert answer == [([], True)]
    assert all(future.cancelled() for future in executor.futures) and progress == []


def _joined(thread: threading.Thread, timeout: float) -> bool:
    thread.join(timeout)
    return not thread.is_alive()


def test_chunks_sent_again_are_news_that_reaches_on_progress_though_none_finishes():
    """An executor sends a chunk again (cluster.executor: its worker stopped) and marks its
    future: on_progress hears it while no chunk finishes (twice, a check apart, for a caller
    that drops a report too soon after the last), and sent_again_news() counts its cells."""
    executor, heard, told_twice = _Never(), [], threading.Event()

    def on_progress(done, total, _):
        heard.append((done, total, sent_again_news("cell")))
        if len(heard) >= 2:
            told_twice.set()

    answer = []

    def run():
        answer.append(map_chunks(_slow_square, [1, 2, 3], executor=executor, sizes=[2, 3, 1], on_progress=on_progress))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while len(executor.futures) < 3:
        assert time.monotonic() < deadline, "map_chunks did not submit its chunks"
        time.sleep(0.01)
    executor.futures[1].sent_again = "a worker stopped"
    assert told_twice.wait(10 * STOP_CHECK_SECONDS + 10.0), f"the news did not reach on_progress: {heard}"
    assert heard == [(0, 6, "3 cells sent again (a worker stopped)")] * 2
    for future, x in zip(executor.futures, [1, 2, 3], strict=True):
        future.set_result(x * x)
    assert _joined(thread, 10.0), "map_chunks did not return once its chunks finished"
    assert answer == [([1, 4, 9], False)]
    assert heard[-1] == (6, 6, "3 cells sent again (a worker stopped)")
    assert sent_again_news() == ""  # outside a map_chunks


def test_no_chunk_sent_again_is_no_news():
    heard = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        map_chunks(_slow_square, [1, 2], executor=pool, on_progress=lambda *_: heard.append(sent_again_news()))
    assert heard == ["", ""]


def test_stopped_workers_leave_no_thread_to_race_the_exit():
    """A pool stopped mid-chunk (Ctrl-C, SIGTERM) has no worker and no manager thread left when
    _stop_workers returns: a manager thread still running closed its wake-up pipe while the
    interpreter's exit wrote to it ("OSError: Bad file descriptor" after "cli.py sweep:
    terminated")."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from core.engine.parallel import _stop_workers

    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("forkserver"))
    futures = [pool.submit(time.sleep, 60) for _ in range(2)]
    processes = list(pool._processes.values())
    manager = pool._executor_manager_thread
    _stop_workers(pool)
    assert not manager.is_alive()
    for process in processes:
        process.join(10)
        assert not process.is_alive()
    for future in futures:
        assert future.done()


def _pid(_: object) -> int:
    import os

    return os.getpid()


def test_the_calls_inside_shared_workers_run_on_one_set_of_processes_ended_with_the_block(pools):
    """Two map_chunks in the block: one pool, its processes computing the chunks of both (chunk 0
    of each here, and any this process took while the pool's first submit had not returned),
    ended when the block ends. Outside the block, each call starts its own."""
    import os

    import psutil

    with shared_workers():
        first, _ = map_chunks(_pid, range(6), workers=2)
        assert len(pools) == 1
        second, _ = map_chunks(_pid, range(6), workers=2)
        # after both calls: the pool starts a process when it has no idle one, so its second
        # may come during the second call
        processes = [psutil.Process(pid) for pid in list(pools[0]._processes)]
    assert len(pools) == 1 and 1 <= len(processes) <= 2
    assert first[0] == second[0] == os.getpid()
    assert set(first[1:]) | set(second[1:]) <= {p.pid for p in processes} | {os.getpid()}
    assert (set(first[1:]) | set(second[1:])) & {p.pid for p in processes}  # the workers computed
    _, alive = psutil.wait_procs(processes, timeout=15)
    assert not alive, "the block's worker processes outlived it"
    map_chunks(_pid, range(3), workers=2)
    map_chunks(_pid, range(3), workers=2)
    assert len(pools) == 3


def _hold(chunk: tuple[str, int]) -> int:
    """Chunk 0 (here) returns once the test says "go" (every other chunk is computing: their
    processes are known); the others write their pid to ``<folder>/<i>`` and sleep for 10
    minutes (stopped long before, or the test fails)."""
    import os
    from pathlib import Path

    folder, i = Path(chunk[0]), chunk[1]
    if i == 0:
        _wait_for((folder / "go").exists, "the workers to start their chunks")
        return 0
    (folder / f"{i}.tmp").write_text(str(os.getpid()))
    (folder / f"{i}.tmp").rename(folder / str(i))
    time.sleep(600)
    return i


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("shared", [False, True], ids=["own pool", "shared_workers"])
@pytest.mark.parametrize("stop", ["progress returns False", "the check says why", "Ctrl-C"])
def test_a_stopped_call_ends_its_computing_workers_at_once(tmp_path, stop, shared):
    """Stopped while both workers compute a chunk that would take 10 minutes: map_chunks
    returns (or raises) without waiting for them, and their processes end. (A False from
    on_progress waited for the running chunks when the pool shut down.)"""
    import psutil

    def on_progress(done, total, _):
        if stop == "Ctrl-C":
            raise KeyboardInterrupt
        return stop != "progress returns False"

    answer = []

    def run():
        with contextlib.ExitStack() as blocks:
            if shared:
                blocks.enter_context(shared_workers())
            blocks.enter_context(stop_when(lambda: stop == "the check says why"))
            try:
                answer.append(
                    map_chunks(_hold, [(str(tmp_path), i) for i in range(3)], workers=2, on_progress=on_progress)
                )
            except KeyboardInterrupt as exc:
                answer.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    _wait_for(lambda: len(list(tmp_path.glob("[12]"))) == 2, "the workers to start their chunks")
    workers = [psutil.Process(int((tmp_path / name).read_text())) for name in ("1", "2")]
    (tmp_path / "go").touch()
    try:
        assert _joined(thread, 60.0), "map_chunks waited for the chunks it no longer wants"
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, "the workers computed on after the stop"
    finally:
        for process in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
    if stop == "Ctrl-C":
        assert isinstance(answer[0], KeyboardInterrupt)
    else:
        assert answer == [([0], True)]


def test_a_manager_thread_whose_start_was_interrupted_is_joined_once_it_runs(monkeypatch):
    """Ctrl-C while the pool's first submit started its manager thread (inside Thread.start):
    _stop_workers then joined a thread not yet started, a RuntimeError instead of the exit
    "interrupted". The thread starts all the same; it is waited for."""
    import core.engine.parallel as parallel

    ran = threading.Event()
    manager = threading.Thread(target=ran.set)

    class Clock:  # the join's first wait is when the interrupted start() goes on
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(seconds: float) -> None:
            if manager.ident is None:
                manager.start()

    monkeypatch.setattr(parallel, "time", Clock)
    parallel._join_manager(manager)
    assert ran.is_set() and not manager.is_alive()
