"""map_chunks on an executor: results in order, the executor of use_executor, and the chunks
not started cancelled when the caller stops (a False from on_progress, or Ctrl-C)."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.parallel import map_chunks, use_executor


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
