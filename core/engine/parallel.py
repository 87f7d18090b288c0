"""Large jobs over worker processes.

BLAS is pinned to one thread inside the engine (two threads measured 4-70x slower on
these small matrices), so parallelism comes from processes: one per core by default.
Workers start with the "forkserver" method, safe inside a threaded web server. Given an
``executor`` instead (``concurrent.futures.Executor``, e.g. one that sends each chunk to a
Celery worker on another host: ``cluster.executor``), the chunks run there; ``with
use_executor(executor):`` gives it to every ``map_chunks`` called inside the block (as
joblib's ``parallel_backend`` does), so a caller several layers up can choose where a
job's chunks run. In the same way ``with stop_when(check):`` lets such a caller stop the
job while it waits for chunks (a dashboard job's Cancel, or its page gone).

Starting worker processes costs ~0.75 s (5 s under load: the engine's imports), so a job made
of several ``map_chunks`` calls one after another (a setting map: one per setting value) runs
them ``with shared_workers():``, on one set of processes started by the first and kept warm for
the next; each call's results are those of its own pool (a chunk's numbers do not depend on
the process that computes it).

An executor may send a chunk again (``cluster.executor``: its worker stopped answering) and
say so on the chunk's future (a ``sent_again`` attribute: why). While :func:`map_chunks`
waits, :func:`sent_again_news` (called from its ``on_progress``, e.g. to build a page's
label) tells how much is being computed again and why; when that news changes,
``on_progress`` is called although no chunk finished, so that it reaches the page.

A script that calls the API at its top level, without ``if __name__ == "__main__":``, gets
its chunks run in its own process, with one warning (:func:`_script_line_workers_rerun`).
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import functools
import inspect
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from core.engine.forkserver import start_with_main
from core.validate import check_int

T = TypeVar("T")
R = TypeVar("R")

# While no chunk finishes, the check of stop_when is asked this often, so a job waiting on
# slow or lost chunks stops within it (its page polls every 0.2 s); a dashboard job's check
# is two look-ups (dashboard.jobs.runner.Control: ~15 us on files; with Celery one Redis MGET).
STOP_CHECK_SECONDS = 0.5
# How long a stopped pool's manager thread is waited for (its workers are terminated: it ends
# within milliseconds, measured; the bound only keeps a stuck one from holding the exit).
MANAGER_JOIN_SECONDS = 10.0
# What the workers' fork server loads before it forks any: the main script, the engine, the kernels
WORKER_PRELOAD = "core.experiments.worker_preload"


_EXECUTOR: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("chunk_executor", default=None)
_STOP_CHECK: contextvars.ContextVar[Callable[[], object] | None] = contextvars.ContextVar("stop_check", default=None)
_SENT_AGAIN: contextvars.ContextVar[_SentAgain | None] = contextvars.ContextVar("sent_again", default=None)
_SHARED: contextvars.ContextVar[_SharedPool | None] = contextvars.ContextVar("shared_pool", default=None)


@contextlib.contextmanager
def use_executor(executor: Executor | None) -> Iterator[None]:
    """Inside the block, :func:`map_chunks` runs its chunks on ``executor`` unless told otherwise."""
    token = _EXECUTOR.set(executor)
    try:
        yield
    finally:
        _EXECUTOR.reset(token)


@contextlib.contextmanager
def stop_when(check: Callable[[], object]) -> Iterator[None]:
    """Inside the block, :func:`map_chunks` asks ``check()`` every ``STOP_CHECK_SECONDS``
    while it waits and no chunk finishes; a true answer (e.g. why the job must stop) stops
    it as a False from ``on_progress`` does, and an exception is raised there.

    Why not call ``on_progress`` meanwhile: a caller's may build a whole partial result
    (run_map's does: 0.6 s a call for the dashboard's default eta x eps map, measured), too
    dear to repeat while nothing has changed."""
    token = _STOP_CHECK.set(check)
    try:
        yield
    finally:
        _STOP_CHECK.reset(token)


@contextlib.contextmanager
def shared_workers() -> Iterator[None]:
    """Inside the block, the worker processes that :func:`map_chunks` starts are kept for the
    next ``map_chunks`` of the block (one ``workers`` count at a time: another count starts
    others), and ended with the block. The stops stay as without it: a cancelled or failed
    ``map_chunks``, Ctrl-C or SIGTERM end the processes at once (the next call starts new
    ones), and so does an exception that leaves the block between two calls. An executor
    (``use_executor``) is used as is: no process starts here."""
    shared = _SharedPool()
    token = _SHARED.set(shared)
    try:
        yield
    except BaseException:
        shared.stop()
        raise
    else:
        shared.close()
    finally:
        _SHARED.reset(token)


class _SharedPool:
    """The pool of a :func:`shared_workers` block, started by the first call that needs it."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.workers = 0

    def get(self, workers: int) -> ProcessPoolExecutor:
        """The pool of ``workers`` processes (each started when a chunk first waits for one)."""
        if self.pool is not None and self.workers != workers:
            self.close()
        if self.pool is None:
            self.pool, self.workers = _new_pool(workers), workers
        return self.pool

    def stop(self) -> None:
        """End the processes now, whatever they compute."""
        if self.pool is not None:
            pool, self.pool = self.pool, None
            _stop_workers(pool)

    def close(self) -> None:
        """End the processes once idle (they are: no ``map_chunks`` runs)."""
        if self.pool is not None:
            pool, self.pool = self.pool, None
            try:
                pool.shutdown(wait=True)
            except BaseException:  # SIGTERM meanwhile
                _stop_workers(pool)
                raise


def sent_again_news(unit: str = "cell") -> str:
    """Inside the ``on_progress`` of a :func:`map_chunks` on an executor: '8 cells sent again
    (a worker stopped)', counted in ``sizes`` (plural by adding "s"); "" if none was."""
    news = _SENT_AGAIN.get()
    if news is None or not (counted := news.counted()):
        return ""
    n, why = counted
    return f"{n:,} {unit if n == 1 else unit + 's'} sent again ({why})"


class _SentAgain:
    """The chunks of one map_chunks that its executor sent again: their size and why."""

    def __init__(self, futures: dict[Future[Any], int], sizes: Sequence[int]) -> None:
        self.futures, self.sizes = futures, sizes

    def counted(self) -> tuple[int, str] | None:
        """(total size of the chunks sent again, why: the reasons, joined) or None."""
        whys = {f: why for f in self.futures if (why := getattr(f, "sent_again", None))}
        if not whys:
            return None
        return sum(self.sizes[self.futures[f]] for f in whys), "; ".join(sorted(set(whys.values())))


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
    chunk 0, and the next chunks until the worker processes have started, run in this process,
    the others on the workers), or all of
    them on ``executor`` if given, or on the one of :func:`use_executor` (``workers`` is
    then ignored). Inside :func:`shared_workers`, the processes are the block's.

    ``on_result(i, result)`` is called in this process as chunk i finishes (in any order),
    before ``on_progress(done, total, None)``, which counts ``sizes`` (default 1 per chunk);
    returning False from it cancels the rest, as does the check of an enclosing
    :func:`stop_when`, asked while no chunk finishes; the worker processes are then ended at
    once. Returns the results of the leading chunks that finished, in order, and whether the
    job was cancelled.
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

    check = _STOP_CHECK.get()

    def still_wanted() -> bool:
        return check is None or not check()

    executor = chosen_executor(executor)
    if executor is not None:
        pending = {executor.submit(fn, c): i for i, c in enumerate(chunks)}
        news, told = _SentAgain(dict(pending), sizes), None
        repeats = 0

        def still_wanted_and_told() -> bool:
            """still_wanted(); first, news of chunks sent again goes to ``on_progress``,
            twice, a check apart: a caller that reports at most that often (the dashboard's
            Control) may drop the first, coming too soon after a chunk's."""
            nonlocal told, repeats
            if (counted := news.counted()) != told:
                told, repeats = counted, 2
            if repeats and on_progress is not None:
                repeats -= 1
                if on_progress(sum(sizes[i] for i in results), total, None) is False:
                    return False
            return still_wanted()

        token = _SENT_AGAIN.set(news)
        try:
            completed = _gather(pending, finished, still_wanted_and_told)
        finally:
            _SENT_AGAIN.reset(token)
        return _leading(results), not completed

    if workers > 1 and len(chunks) > 1 and (line := _script_line_workers_rerun()) is not None:
        _warn_in_process(line, len(chunks), workers)
        workers = 1
    if workers == 1 or len(chunks) <= 1:
        for i, chunk in enumerate(chunks):
            if not finished(i, fn(chunk)):
                return _leading(results), True
        return _leading(results), False

    shared = _SHARED.get()
    if shared is None:
        with _new_pool(min(workers, len(chunks) - 1)) as pool:
            cancelled = _on_pool(pool, fn, chunks, finished, still_wanted)
    else:
        cancelled = _on_pool(shared.get(workers), fn, chunks, finished, still_wanted, shared.stop)
    return _leading(results), cancelled


def _new_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes forked from this process's fork server, started (once) with the main
    script and the engine loaded (WORKER_PRELOAD): each worker computes at once."""
    import multiprocessing.forkserver
    import multiprocessing.spawn

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([WORKER_PRELOAD])  # read only by a fork server not yet running
    start_with_main(multiprocessing.spawn, multiprocessing.forkserver.ensure_running)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _on_pool(
    pool: ProcessPoolExecutor,
    fn: Callable[[T], R],
    chunks: Sequence[T],
    finished: Callable[[int, R], bool],
    still_wanted: Callable[[], bool],
    stop: Callable[[], None] | None = None,
) -> bool:
    """Chunk 0 here (and, while a new pool starts, the chunks after chunk 1), the others on
    ``pool``; whether the job was cancelled. Cancelled or
    failed (Ctrl-C, SIGTERM: cli.py), the pool's processes are ended at once (``stop``, default
    :func:`_stop_workers`): no worker computes on for nobody, and none is left running.

    Chunk 0 is computed here while the others go out: the first result comes at once (a live
    map draws its first cells), and no core stays idle. A new pool's first submit waits while
    its fork server loads the main script and the engine (~1 s here, ~1.2 s under the app's
    imports); until it returns, this thread goes on with the next chunks not yet sent (a
    chunk's numbers do not depend on the process that computes it)."""
    end = stop if stop is not None else functools.partial(_stop_workers, pool)
    submitter = _Submitter(pool, fn, chunks)
    submitter.start()
    try:
        completed = finished(0, fn(chunks[0]))
        while completed and not submitter.first_sent.is_set() and (i := submitter.take()) is not None:
            completed = finished(i, fn(chunks[i]))
        completed = _gather(submitter.sent(), finished, still_wanted) if completed else False
    except BaseException:
        _stop_then(submitter, end)
        raise
    if not completed:
        _stop_then(submitter, end, submitter.pending)
    return not completed


def _stop_then(submitter: _Submitter, end: Callable[[], None], pending: dict[Future[Any], int] | None = None) -> None:
    """Stop ``submitter``, then cancel ``pending`` and ``end`` the pool, even if a second Ctrl-C
    interrupts the wait. The wait: a submit under way returns first, so that no process it
    starts outlives ``end``; in a new pool's first second that is the rest of its fork server's
    preload (~1 s here, the main script and the engine), by which Ctrl-C is that much slower."""
    try:
        submitter.stop()
    finally:
        if pending:
            _cancel(pending)
        end()


class _Submitter(threading.Thread):
    """Submits chunks 1, 2, ... to the pool, beside the calling thread, which computes chunk 0
    and, until the first submit has returned, takes the next chunks not yet sent (``take``).
    A new pool's submit starts a worker, which waits for the workers' fork server (it loads
    the main script and the engine first: ~1 s, WORKER_PRELOAD)."""

    def __init__(self, pool: ProcessPoolExecutor, fn: Callable[[T], R], chunks: Sequence[T]) -> None:
        super().__init__(name="chunk-submitter", daemon=True)
        self.pool, self.fn, self.chunks = pool, fn, chunks
        self.pending: dict[Future[Any], int] = {}
        self.error: BaseException | None = None
        self.stopping = False
        self.first_sent = threading.Event()  # the pool has taken a chunk: its workers run
        self._next, self._lock = 1, threading.Lock()
        self._first = self.take()  # chunk 1 is the pool's whatever the threads' timing

    def take(self) -> int | None:
        """The next chunk not yet sent or taken, now the taker's; None once there is none."""
        with self._lock:
            if self.stopping or self._next >= len(self.chunks):
                return None
            self._next += 1
            return self._next - 1

    def run(self) -> None:
        try:
            i = self._first
            while i is not None and not self.stopping:
                self.pending[self.pool.submit(self.fn, self.chunks[i])] = i
                self.first_sent.set()
                i = self.take()
        except BaseException as exc:  # the pool broke or was shut down: the caller raises it
            self.error = exc
        finally:
            self.first_sent.set()

    def sent(self) -> dict[Future[Any], int]:
        """Every chunk's future, once all are submitted (the submits' error raised here)."""
        self.join()
        if self.error is not None:
            raise self.error
        return self.pending

    def stop(self) -> None:
        """Submit no more, and return once the submit under way (if any) has returned."""
        self.stopping = True
        self.join()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End ``pool``'s worker processes now, not after the chunks they are computing (which
    shutting down the pool would wait for). Python 3.14 has ``terminate_workers``; before it,
    the pool's process table is the only handle on them."""
    manager = getattr(pool, "_executor_manager_thread", None)
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
    else:
        for process in list((getattr(pool, "_processes", None) or {}).values()):  # None once shut down
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
    # The pool's manager thread closes its wake-up pipe as it ends. Left running (shutdown(wait=
    # False) forgets it, so the ``with`` block's own shutdown does not join it), it raced the
    # interpreter's exit, which writes to that pipe: "OSError: [Errno 9] Bad file descriptor"
    # after "cli.py sweep: terminated" (seen once in CI). Its workers are gone: it ends at once.
    if manager is not None:
        _join_manager(manager)


def _join_manager(manager: threading.Thread) -> None:
    """Join the stopped pool's manager thread, within MANAGER_JOIN_SECONDS. Ctrl-C may come while
    the pool's first ``submit`` starts it (seen in tests/test_cli_signals.py under load: "cannot
    join thread before it is started"); the thread starts all the same, so it is waited for."""
    deadline = time.monotonic() + MANAGER_JOIN_SECONDS
    while True:
        try:
            manager.join(max(0.0, deadline - time.monotonic()))
            return
        except RuntimeError:  # not started yet
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)


def _script_line_workers_rerun() -> tuple[str, int] | None:
    """(file, line) of the top-level statement of the ``__main__`` script that led to this call,
    if the worker processes would run that statement again; else None.

    A "forkserver" (or "spawn") worker runs the parent's script again, as ``__mp_main__``, to
    find what it may unpickle (``multiprocessing.spawn.prepare``): every top-level statement
    runs except those under ``if __name__ == "__main__":``. A pool started from an unguarded
    statement would be started again in each worker, after all the work above it, which
    multiprocessing refuses (a RuntimeError in the worker, BrokenProcessPool here).

    Why run the chunks here rather than fail: a scientific script without the guard is common,
    and joblib's default backend (loky) runs it, because its workers never import the script.
    Ours need not either (the chunks are functions of ``core``), but the standard library has
    no switch for that, and "fork", which skips the import, is unsafe once BLAS or numba
    threads run. So the script runs, on one core, with the same numbers (they do not depend
    on the number of workers, tested), and a warning names the line to guard. Which scripts
    the workers run again follows ``spawn.get_preparation_data`` and ``spawn._fixup_main_*``.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    name = getattr(getattr(main, "__spec__", None), "name", None)  # set by python -m
    if path is None or name == "__main__" or (name or "").endswith(".__main__"):
        return None  # an interactive session, python -c, a package's __main__.py: not imported again
    if name is None and os.path.splitext(os.path.basename(path))[0] == "ipython":
        return None
    frame = inspect.currentframe()
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None or os.path.abspath(frame.f_code.co_filename) != os.path.abspath(path):
        return None  # called from elsewhere (a thread, a notebook cell): the script's import does not reach here
    line = frame.f_lineno
    return None if _under_main_guard(path, line) else (path, line)


def _under_main_guard(path: str, line: int) -> bool:
    """Whether ``line`` of the script ``path`` lies in the body of a top-level
    ``if __name__ == "__main__":`` (True too if the script cannot be read: then the workers
    cannot run it again either)."""
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return True
    for statement in tree.body:
        if statement.lineno <= line <= (statement.end_lineno or statement.lineno):
            if not (isinstance(statement, ast.If) and statement.body[0].lineno <= line):
                return False
            return line <= (statement.body[-1].end_lineno or line) and _is_main_test(statement.test)
    return False


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = (test.left, test.comparators[0])
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


def _warn_in_process(line: tuple[str, int], n_chunks: int, workers: int) -> None:
    """One warning at the script's line (once per line, as ``warnings.warn`` would)."""
    warnings.warn_explicit(
        f"this line runs at the top level of the script, where worker processes would run it again: "
        f"its {n_chunks} chunks run in this process instead (same numbers, one core); "
        f'put it under `if __name__ == "__main__":` to use {workers} processes',
        UserWarning,
        *line,
        module="__main__",
        registry=vars(sys.modules["__main__"]).setdefault("__warningregistry__", {}),
    )


def _gather(
    pending: dict[Future[R], int],
    finished: Callable[[int, R], bool],
    still_wanted: Callable[[], bool] = lambda: True,
    check_seconds: float = STOP_CHECK_SECONDS,
) -> bool:
    """Hand each future's result to ``finished(i, result)`` as it comes; False (and the rest
    cancelled) as soon as one of those calls returns False, or ``still_wanted()``, asked
    every ``check_seconds`` while none finishes. If a chunk fails or the wait is interrupted
    (Ctrl-C), the rest are cancelled too (on an executor's workers they would otherwise go
    on computing for nobody). The wait is never unbounded: a future that never finishes
    (its worker or its Redis lost) cannot keep the caller from stopping."""
    try:
        while pending:
            done, _ = wait(pending, timeout=check_seconds, return_when=FIRST_COMPLETED)
            if done:
                wanted = all([finished(pending.pop(future), future.result()) for future in done])
            else:
                wanted = still_wanted()
            if not wanted:
                _cancel(pending)
                return False
    except BaseException:
        _cancel(pending)
        raise
    return True


def _cancel(pending: dict[Future[R], int]) -> None:
    for future in pending:
        future.cancel()


def _leading(results: dict[int, R]) -> list[R]:
    """Results 0, 1, 2, ... up to the first chunk that did not finish."""
    out: list[R] = []
    while len(out) in results:
        out.append(results[len(out)])
    return out
