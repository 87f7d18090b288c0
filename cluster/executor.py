"""A ``concurrent.futures.Executor`` whose calls run as Celery tasks on any worker.

``core.parallel.map_chunks(fn, chunks, executor=CeleryExecutor(app))`` sends every chunk at
once; the workers take them as they free up, and the results are handed back in any order
and assembled in order by ``map_chunks``. A chunk computes the same numbers wherever it
runs, so a distributed map equals the local one (on hosts of one CPU type).

Cancelling a future revokes its task; a running one is stopped (SIGTERM to its process).

Redis lost. One thread reads the results (one MGET of the pending tasks' result keys every
``POLL_SECONDS``). A round trip that fails for want of Redis is tried again, with a growing
pause, for up to ``outage_seconds``; past that, every pending future fails with
:class:`RedisLost`, so that the caller gets an error rather than a wait without end.

A restart need not show as a failed round trip at all (redis-py reconnects a dropped
connection by itself, and redis-server listens again ~10 ms after it starts, measured: a map
waited for good that way in the tests), so the thread also asks, every
``RESTART_CHECK_SECONDS`` and after any failure, which server process answers (its
``run_id``). The same one has lost nothing. Another one (a restart) may have kept all, part
or none of the tasks, as its persistence allows, so each pending task is looked for: its
result (a worker writes STARTED when it takes a task), its message in the queue, or that
message in a worker's hands (kombu's ``unacked`` hash, where it stays until the task is
acknowledged at its end). A task found nowhere, twice, can never finish and its future
fails with :class:`RedisLost`; the others carry on. (A task a worker was computing across
the restart may still write its answer; it is failed all the same: nothing in Redis says
that it will, and the queued tasks beside it are gone anyway.)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Executor, Future

import redis.exceptions
from celery import Celery
from celery.states import READY_STATES
from kombu.exceptions import OperationalError

from cluster.celery_app import CHUNK_TASK, seal, unseal

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05  # how often the results of pending tasks are looked at
# How long a lost Redis is waited for before the pending tasks are given up. A restart comes
# back well within it (redis-server listens ~10 ms after it starts; a container restart takes
# a few seconds), and it equals the dashboard's default WSD_ABANDON_SECONDS, the longest a
# job goes on without a word from its page.
OUTAGE_SECONDS = 30.0
RETRY_SECONDS = (0.05, 2.0)  # the first and the longest pause between tries to reach a lost Redis
RESTART_CHECK_SECONDS = 1.0  # how often the server's run_id is asked for (one INFO, ~0.1 ms)
# A task not found after a restart is looked for once more this much later: a worker takes a
# message off the queue (BRPOP) and then files it as unacknowledged, two round trips apart.
RECHECK_SECONDS = 1.0
LOST_CONNECTION = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError)


class RedisLost(redis.exceptions.ConnectionError):
    """The results of pending tasks cannot come: Redis stayed unreachable, or came back without them."""


class _TaskFuture(Future):
    """A future of one Celery task; cancelling it revokes the task."""

    def __init__(self, executor: CeleryExecutor) -> None:
        super().__init__()
        self.executor, self.task_id = executor, None

    def cancel(self) -> bool:
        if self.task_id is not None and not self.done():
            self.executor._revoke(self.task_id)
        return super().cancel()


class CeleryExecutor(Executor):
    """Runs ``fn(*args)`` on the Celery workers of ``app`` (made by ``cluster.make_celery``).

    ``fn`` and its arguments must pickle (a module-level function; plain data); the workers
    must run the same code. ``outage_seconds``: how long a lost Redis is waited for before
    the pending futures fail with :class:`RedisLost`.
    """

    def __init__(self, app: Celery, *, outage_seconds: float = OUTAGE_SECONDS) -> None:
        if not outage_seconds >= 0:
            raise ValueError(f"outage_seconds must be a number >= 0, got {outage_seconds!r}")
        self.app, self.outage_seconds = app, outage_seconds
        self._pending: dict[str, _TaskFuture] = {}  # by task id
        self._lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self._closed = False
        self._unreachable = False  # the last round trip to Redis failed: a revoke would too
        self._run_id: str | None | object = _UNASKED  # the Redis server process the tasks went to

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if kwargs:
            raise TypeError("CeleryExecutor.submit takes positional arguments only")
        if self._closed:
            raise RuntimeError("cannot submit to a CeleryExecutor after shutdown")
        if self._run_id is _UNASKED:
            self._run_id = self._server_run_id()
        future = _TaskFuture(self)
        # Only the id is kept. The AsyncResult subscribes to its task's channel in Redis and
        # leaves it when dropped: now, Redis being there; dropped later without Redis, it
        # would retry for ~6 s (measured), in whichever thread dropped it.
        future.task_id = self.app.send_task(CHUNK_TASK, args=(seal((fn, args), self.app.wsd_secret),)).id
        with self._lock:
            self._pending[future.task_id] = future
            if self._poller is None or not self._poller.is_alive():
                self._poller = threading.Thread(target=self._poll, name="celery-results", daemon=True)
                self._poller.start()
        return future

    def _poll(self) -> None:
        """Until nothing is pending: hand each finished task's answer to its future, through
        outages of Redis as the module says. Ends only when it finds nothing pending, so a
        future submitted meanwhile is never left without a poller."""
        lost_since, pause, cause, checked = None, RETRY_SECONDS[0], None, time.monotonic()
        while pending := self._snapshot():
            try:
                if lost_since is not None or time.monotonic() - checked >= RESTART_CHECK_SECONDS:
                    self._check_restart(pending, after_outage=lost_since is not None)
                    checked, pending = time.monotonic(), self._snapshot()
                self._collect(pending)
            except LOST_CONNECTION as exc:
                self._unreachable, cause = True, exc
                now = time.monotonic()
                lost_since = now if lost_since is None else lost_since
                if now - lost_since >= self.outage_seconds:
                    self._fail(pending, RedisLost(self._lost_words(len(pending), cause)))
                    lost_since = None
                time.sleep(pause)
                pause = min(2 * pause, RETRY_SECONDS[1])
                continue
            except Exception as exc:  # e.g. an answer that does not decode: the caller hears of it
                self._fail(pending, exc)
            if lost_since is not None:
                log.warning("Redis at %s answers again after %.1f s", self._where(), time.monotonic() - lost_since)
            self._unreachable, lost_since, pause = False, None, RETRY_SECONDS[0]
            time.sleep(POLL_SECONDS)

    def _snapshot(self) -> list[tuple[str, _TaskFuture]]:
        """The pending tasks whose futures still wait (a cancelled one needs no answer, and
        without Redis it would keep the poller trying); with none, the poller is marked gone
        (under the same lock as submit)."""
        with self._lock:
            for task_id in [task_id for task_id, future in self._pending.items() if future.cancelled()]:
                del self._pending[task_id]
            pending = list(self._pending.items())
            if not pending:
                self._poller = None
            return pending

    def _collect(self, pending) -> None:
        """Settle the futures of the finished tasks: all looked up in one round trip (MGET)."""
        if not pending:
            return
        backend = self.app.backend
        keys = [backend.get_key_for_task(task_id) for task_id, _ in pending]
        for (task_id, future), raw in zip(pending, backend.mget(keys), strict=True):
            if future.cancelled():
                self._forget(task_id)
            elif raw is not None and (meta := backend.decode_result(raw))["status"] in READY_STATES:
                self._forget(task_id)
                self._settle(future, meta)

    def _check_restart(self, pending, *, after_outage: bool) -> None:
        """If another Redis server process answers now, fail the tasks it does not hold.
        Without a run_id (INFO disabled on the server) only an outage prompts the look."""
        run_id = self._server_run_id()
        if run_id == self._run_id and run_id is not None:
            return
        if run_id is not None or after_outage:
            self._fail_forgotten(pending)
        self._run_id = run_id

    def _server_run_id(self) -> str | None:
        try:
            return self.app.backend.client.info("server").get("run_id")
        except redis.exceptions.ResponseError:  # INFO renamed or disabled on the server
            return None

    def _fail_forgotten(self, pending) -> None:
        """Fail the futures of the tasks Redis holds nothing of, looked for twice."""
        missing = self._missing([task_id for task_id, future in pending if not future.done()])
        if missing:
            time.sleep(RECHECK_SECONDS)
            missing = self._missing(missing)
        if missing:
            lost = [(task_id, future) for task_id, future in pending if task_id in missing]
            words = (
                f"Redis at {self._where()} came back without {len(lost)} of the pending tasks (no result, "
                "not queued, not taken by a worker: it restarted empty, or from an older snapshot): "
                f"{'it' if len(lost) == 1 else 'they'} can never finish"
            )
            self._fail(lost, RedisLost(words))

    def _missing(self, task_ids: list[str]) -> list[str]:
        """Those of ``task_ids`` of which Redis has no result, no queued message and no message
        taken by a worker (kombu's unacknowledged ones). Broker and results share one Redis."""
        if not task_ids:
            return []
        backend, client = self.app.backend, self.app.backend.client
        raws = backend.mget([backend.get_key_for_task(task_id) for task_id in task_ids])
        known = {task_id for task_id, raw in zip(task_ids, raws, strict=True) if raw is not None}
        unacked_key = (self.app.conf.broker_transport_options or {}).get("unacked_key", "unacked")
        known |= {_task_id(raw) for raw in client.lrange(self.app.conf.task_default_queue, 0, -1)}
        known |= {_task_id(raw, unacked=True) for raw in client.hvals(unacked_key)}
        return [task_id for task_id in task_ids if task_id not in known]

    def _fail(self, entries, exc: BaseException) -> None:
        """Fail the futures of ``entries`` still pending (one settled meanwhile keeps its result)."""
        with self._lock:
            failing = [self._pending.pop(task_id) for task_id, _ in entries if task_id in self._pending]
        for future in failing:
            if not future.done() and future.set_running_or_notify_cancel():
                future.set_exception(exc)
        if failing:
            log.error("%d Celery tasks failed: %s", len(failing), exc)

    def _lost_words(self, n: int, cause: BaseException) -> str:
        return (
            f"lost the connection to Redis at {self._where()} for over {self.outage_seconds:g} s ({cause}): "
            f"the {n} pending chunks of cells are lost"
        )

    def _where(self) -> str:
        return self.app.backend.as_uri()  # its password masked

    def _forget(self, task_id: str) -> None:
        with self._lock:
            self._pending.pop(task_id, None)

    def _settle(self, future: _TaskFuture, meta: dict) -> None:
        try:
            if meta["status"] != "SUCCESS":  # the task failed outside fn (worker error, bad signature)
                raise self.app.backend.exception_to_python(meta["result"])
            ok, value = unseal(meta["result"], self.app.wsd_secret)
        except Exception as exc:
            ok, value = False, exc
        if future.set_running_or_notify_cancel():
            (future.set_result if ok else future.set_exception)(value)
        try:
            self.app.backend.forget(future.task_id)  # its answer has been read: free it in Redis
        except LOST_CONNECTION as exc:  # it expires on its own (result_expires)
            log.warning("could not forget the result of task %s: %s", future.task_id, exc)

    def _revoke(self, task_id: str) -> None:
        """Ask the workers to drop or stop the task. Without Redis the request cannot go out
        (each try costs ~0.6 s of kombu's retries, measured): the task, if Redis kept it,
        then runs for nobody and its result expires."""
        if self._unreachable:
            log.debug("Redis is unreachable: task %s is not revoked", task_id)
            return
        try:
            self.app.control.revoke(task_id, terminate=True)
        except LOST_CONNECTION as exc:
            self._unreachable = True
            log.warning("could not revoke task %s (nor, while Redis is unreachable, the others): %s", task_id, exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        if cancel_futures:
            with self._lock:
                futures = list(self._pending.values())
            for future in futures:
                future.cancel()
        if wait and self._poller is not None:
            self._poller.join()


_UNASKED = object()


def _task_id(raw: bytes, *, unacked: bool = False) -> str | None:
    """The task id of a Celery message as kombu keeps it in Redis: JSON with ``headers``, or
    in the unacked hash ``[message, exchange, routing key]``; None for anything else."""
    try:
        message = json.loads(raw)
        message = message[0] if unacked else message
        return message["headers"]["id"]
    except (ValueError, TypeError, LookupError):
        return None
