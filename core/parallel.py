"""Large jobs over worker processes.

BLAS is pinned to one thread inside the engine (two threads measured 4-70x slower on
these small matrices), so parallelism comes from processes: one per core by default.
Workers start with the "forkserver" method, safe inside a threaded web server. Given an
``executor`` instead (``concurrent.futures.Executor``, e.g. one that sends each chunk to a
Celery worker on another host: ``cluster.executor``), the chunks run there; ``with
use_executor(executor):`` gives it to every ``map_chunks`` called inside the block (as
joblib's ``parallel_backend`` does), so a caller several layers up can choose where a
job's chunks run.
"""

from __future__ import annotations

import contextlib
import contextvars
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from typing import TypeVar

from core.validate import check_int

T = TypeVar("T")
R = TypeVar("R")


_EXECUTOR: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("chunk_executor", default=None)


@contextlib.contextmanager
def use_executor(executor: Executor | None) -> Iterator[None]:
    """Inside the block, :func:`map_chunks` runs its chunks on ``executor`` unless told otherwise."""
    token = _EXECUTOR.set(executor)
    try:
        yield
    finally:
        _EXECUTOR.reset(token)


def chosen_executor(executor: Executor | None = None) -> Executor | None:
    """``executor`` if given, else the one of the enclosing :func:`use_executor` (or None)."""
    return executor if executor is not None else _EXECUTOR.get()


def default_workers() -> int:
    """The number of cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_chunks(
    fn: Callable[[T], R],
    chunks: Sequence[T],
    *,
    workers: int | None = None,
    executor: Executor | None = None,
    sizes: Sequence[int] | None = None,
    on_progress: Callable[[int, int, None], object] | None = None,
    on_result: Callable[[int, R], object] | None = None,
) -> tuple[list[R], bool]:
    """``[fn(c) for c in chunks]`` over ``workers`` processes (in-process for 1; with more,
    chunk 0 runs in this process while the worker processes start on the others), or all of
    them on ``executor`` if given, or on the one of :func:`use_executor` (``workers`` is
    then ignored).

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

    executor = chosen_executor(executor)
    if executor is not None:
        pending = {executor.submit(fn, c): i for i, c in enumerate(chunks)}
        completed = _gather(pending, finished)
        return _leading(results), not completed

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
            _cancel(pending)
            return _leading(results), True
        cancelled = not _gather(pending, finished)
    return _leading(results), cancelled


def _gather(pending: dict[Future, int], finished: Callable[[int, R], bool]) -> bool:
    """Hand each future's result to ``finished(i, result)`` as it comes; False (and the rest
    cancelled) as soon as one of those calls returns False. If a chunk fails or the wait is
    interrupted (Ctrl-C), the rest are cancelled too (on an executor's workers they would
    otherwise go on computing for nobody)."""
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            if not all([finished(pending.pop(future), future.result()) for future in done]):
                _cancel(pending)
                return False
    except BaseException:
        _cancel(pending)
        raise
    return True


def _cancel(pending: dict[Future, int]) -> None:
    for future in pending:
        future.cancel()


def _leading(results: dict[int, R]) -> list[R]:
    """Results 0, 1, 2, ... up to the first chunk that did not finish."""
    out = []
    while len(out) in results:
        out.append(results[len(out)])
    return out
