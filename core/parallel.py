"""Large jobs over worker processes.

BLAS is pinned to one thread inside the engine (two threads measured 4-70x slower on
these small matrices), so parallelism comes from processes: one per core by default.
Workers start with the "forkserver" method, safe inside a threaded web server.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import TypeVar

from core.validate import check_int

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """The number of cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_chunks(
    fn: Callable[[T], R],
    chunks: Sequence[T],
    *,
    workers: int | None = None,
    sizes: Sequence[int] | None = None,
    on_progress: Callable[[int, int, None], object] | None = None,
    on_result: Callable[[int, R], object] | None = None,
) -> tuple[list[R], bool]:
    """``[fn(c) for c in chunks]`` over ``workers`` processes (in-process for 1; with more,
    chunk 0 runs in this process while the worker processes start on the others).

    ``on_result(i, result)`` is called in this process as chunk i finishes (in any order),
    before ``on_progress(done, total, None)``, which counts ``sizes`` (default 1 per chunk);
    returning False from it cancels the rest. Returns the results of the leading chunks
    that finished, in order, and whether the job was cancelled.
    """
    workers = default_workers() if workers is None else check_int("workers", workers, low=1, high=1024)
    sizes = [1] * len(chunks) if sizes is None else list(sizes)
    total = sum(sizes)
    results: dict[int, R] = {}

    def finished(i: int, result: R) -> bool:
        results[i] = result
        if on_result is not None:
            on_result(i, result)
        done = sum(sizes[i] for i in results)
        return on_progress is None or on_progress(done, total, None) is not False

    if workers == 1 or len(chunks) <= 1:
        for i, chunk in enumerate(chunks):
            if not finished(i, fn(chunk)):
                return _leading(results), True
        return _leading(results), False

    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks) - 1), mp_context=context) as pool:
        pending = {pool.submit(fn, c): i for i, c in enumerate(chunks) if i > 0}
        # chunk 0 here while the workers start (~0.75 s to import the engine): the first result
        # comes that much sooner (a live map draws its first cells), and no core stays idle
        if not finished(0, fn(chunks[0])):
            for future in pending:
                future.cancel()
            return _leading(results), True
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            if not all([finished(pending.pop(future), future.result()) for future in done]):
                for future in pending:
                    future.cancel()
                return _leading(results), True
    return _leading(results), False


def _leading(results: dict[int, R]) -> list[R]:
    """Results 0, 1, 2, ... up to the first chunk that did not finish."""
    out = []
    while len(out) in results:
        out.append(results[len(out)])
    return out
