"""A ``concurrent.futures.Executor`` whose calls run as Celery tasks on any worker.

``core.parallel.map_chunks(fn, chunks, executor=CeleryExecutor(app))`` sends every chunk at
once; the workers take them as they free up, and the results are handed back in any order
and assembled in order by ``map_chunks``. A chunk computes the same numbers wherever it
runs, so a distributed map equals the local one (on hosts of one CPU type).

Cancelling a future revokes its task; a running one is stopped (SIGTERM to its process).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor, Future

from celery import Celery
from celery.states import READY_STATES

from cluster.celery_app import CHUNK_TASK, seal, unseal

POLL_SECONDS = 0.05  # how often the results of pending tasks are looked at


class _TaskFuture(Future):
    """A future of one Celery task; cancelling it revokes the task."""

    def __init__(self, app: Celery) -> None:
        super().__init__()
        self.app, self.task_id = app, None

    def cancel(self) -> bool:
        if self.task_id is not None and not self.done():
            self.app.control.revoke(self.task_id, terminate=True)
        return super().cancel()


class CeleryExecutor(Executor):
    """Runs ``fn(*args)`` on the Celery workers of ``app`` (made by ``cluster.make_celery``).

    ``fn`` and its arguments must pickle (a module-level function; plain data); the workers
    must run the same code.
    """

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._pending: dict[str, tuple[_TaskFuture, object]] = {}
        self._lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self._closed = False

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if kwargs:
            raise TypeError("CeleryExecutor.submit takes positional arguments only")
        if self._closed:
            raise RuntimeError("cannot submit to a CeleryExecutor after shutdown")
        future = _TaskFuture(self.app)
        result = self.app.send_task(CHUNK_TASK, args=(seal((fn, args), self.app.wsd_secret),))
        future.task_id = result.id
        with self._lock:
            self._pending[result.id] = (future, result)
            if self._poller is None or not self._poller.is_alive():
                self._poller = threading.Thread(target=self._poll, name="celery-results", daemon=True)
                self._poller.start()
        return future

    def _poll(self) -> None:
        """Until nothing is pending: hand each finished task's answer to its future. All
        pending tasks are looked up in one round trip to Redis (MGET of their result keys)."""
        backend = self.app.backend
        while True:
            with self._lock:
                pending = list(self._pending.items())
                if not pending:
                    self._poller = None
                    return
            keys = [backend.get_key_for_task(task_id) for task_id, _ in pending]
            for (task_id, (future, result)), raw in zip(pending, backend.mget(keys), strict=True):
                if future.cancelled():
                    self._forget(task_id)
                elif raw is not None and (meta := backend.decode_result(raw))["status"] in READY_STATES:
                    self._forget(task_id)
                    self._settle(future, result, meta)
            time.sleep(POLL_SECONDS)

    def _forget(self, task_id: str) -> None:
        with self._lock:
            self._pending.pop(task_id, None)

    def _settle(self, future: _TaskFuture, result, meta: dict) -> None:
        try:
            if meta["status"] != "SUCCESS":  # the task failed outside fn (worker error, bad signature)
                raise self.app.backend.exception_to_python(meta["result"])
            ok, value = unseal(meta["result"], self.app.wsd_secret)
        except Exception as exc:
            ok, value = False, exc
        finally:
            result.forget()  # its answer has been read: free it in Redis
        if future.set_running_or_notify_cancel():
            (future.set_result if ok else future.set_exception)(value)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        if cancel_futures:
            with self._lock:
                futures = [f for f, _ in self._pending.values()]
            for future in futures:
                future.cancel()
        if wait and self._poller is not None:
            self._poller.join()
