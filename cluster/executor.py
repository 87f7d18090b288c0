"""A ``concurrent.futures.Executor`` whose calls run as Celery tasks on any worker.

``core.engine.parallel.map_chunks(fn, chunks, executor=CeleryExecutor(app))`` sends every chunk at
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

A worker lost. A worker process killed alone is Celery's business: its chunk goes back to the
queue at once (``task_reject_on_worker_lost``). A whole worker gone (its host, or its main
process killed) leaves its chunk unacknowledged, and Redis hands it out again only after the
visibility timeout (``cluster.celery_app``, 300 s), while a map would read "112 of 120 cells
· ~1 s left". So the thread also watches the clock: a task counts as taken by a worker when
it is seen STARTED (its result names the worker), or when a task sent after it is (the queue
is first in, first out); one taken more than ``OVERDUE_FACTOR`` times as long ago as the
longest this executor has seen finish, plus ``OVERDUE_SLACK_SECONDS``, is overdue. Its worker
is then pinged (one Celery control ping, ``PING_SECONDS``); if it does not answer, or no
worker is named, the task is sent again and the future takes whichever copy answers first
(a chunk computes the same numbers wherever it runs). The copy that lost is revoked: a
message handed out again later is dropped by the worker that gets it. The future says so
(``sent_again``: why), for ``core.engine.parallel`` to tell the page.

Why the clock and a ping rather than worker heartbeats: heartbeats need an event receiver (a
consumer thread and a queue of its own in Redis) for every map, and say nothing of a worker
that is alive but lost its chunk; the clock needs nothing the thread does not already read
(one MGET), and the ping, sent only for an overdue task, keeps a slow but living worker's
chunk from being computed twice. A map whose chunks all run on the lost worker, with none
finished yet, has nothing to compare with and waits for the visibility timeout as before.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

import redis.exceptions
from celery.states import PENDING, READY_STATES, REVOKED
from kombu.exceptions import OperationalError

from cluster.celery_app import CHUNK_TASK, LabCelery, seal, unseal
from cluster.compat import queued_and_held, result_metas

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
# A task taken by a worker this many times as long ago as the longest one seen to finish, plus
# the slack, is overdue: its worker is pinged, and the task sent again if it does not answer.
OVERDUE_FACTOR = 3.0
OVERDUE_SLACK_SECONDS = 2.0
PING_SECONDS = 1.0  # how long an overdue task's worker has to answer a ping
WORKER_STOPPED = "a worker stopped"  # why a chunk was sent again (_TaskFuture.sent_again)
WORKER_SILENT = "a worker went silent"  # it took the task and never started it
LOST_CONNECTION = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError)

P = ParamSpec("P")
T = TypeVar("T")
Call = tuple[Callable[..., Any], tuple[Any, ...]]  # (fn, args): what a task computes, fn(*args)
Pending = list[tuple[str, "_TaskFuture"]]  # (task id, its future), as _snapshot took them


class RedisLost(redis.exceptions.ConnectionError):
    """The results of pending tasks cannot come: Redis stayed unreachable, or came back without them."""


class _TaskFuture(Future[Any]):
    """A future of one Celery task, or of its copies once sent again (``task_ids``, the first
    is ``task_id``; ``sent_again``: why, or None); cancelling it revokes them all."""

    def __init__(self, executor: CeleryExecutor, call: Call) -> None:
        super().__init__()
        self.executor = executor
        self.call: Call | None = call  # None once settled: no copy will be sent
        self.task_id: str | None = None
        self.task_ids: list[str] = []
        self.sent_again: str | None = None

    def cancel(self) -> bool:
        if not self.done():
            for task_id in list(self.task_ids):
                self.executor._revoke(task_id)
        return super().cancel()


class CeleryExecutor(Executor):
    """Runs ``fn(*args)`` on the Celery workers of ``app`` (made by ``cluster.make_celery``).

    ``fn`` and its arguments must pickle (a module-level function; plain data); the workers
    must run the same code. ``outage_seconds``: how long a lost Redis is waited for before
    the pending futures fail with :class:`RedisLost`.
    """

    def __init__(self, app: LabCelery, *, outage_seconds: float = OUTAGE_SECONDS) -> None:
        if not outage_seconds >= 0:
            raise ValueError(f"outage_seconds must be a number >= 0, got {outage_seconds!r}")
        self.app, self.outage_seconds = app, outage_seconds
        self._pending: dict[str, _TaskFuture] = {}  # by task id
        self._lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self._closed = False
        self._unreachable = False  # the last round trip to Redis failed: a revoke would too
        self._run_id: str | None | object = _UNASKED  # the Redis server process the tasks went to
        # a worker lost (module docstring): by task id, when it was sent (a count) and when it
        # was first seen taken by a worker (monotonic) and by which one; the longest finished task
        self._order = itertools.count()
        self._sent: dict[str, int] = {}
        self._taken: dict[str, float] = {}
        self._host: dict[str, str] = {}
        self._latest_taken = -1  # the latest sent task seen taken or finished
        self._longest: float | None = None

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if kwargs:
            raise TypeError("CeleryExecutor.submit takes positional arguments only")
        if self._closed:
            raise RuntimeError("cannot submit to a CeleryExecutor after shutdown")
        if self._run_id is _UNASKED:
            self._run_id = self._server_run_id()
        future = _TaskFuture(self, (fn, args))
        future.task_id = self._send(future)
        with self._lock:
            if self._poller is None or not self._poller.is_alive():
                self._poller = threading.Thread(target=self._poll, name="celery-results", daemon=True)
                self._poller.start()
        return future

    def _send(self, future: _TaskFuture) -> str:
        """Send ``future``'s call as a task (again, for a copy) and wait for it; its id."""
        # Only the id is kept. The AsyncResult subscribes to its task's channel in Redis and
        # leaves it when dropped: now, Redis being there; dropped later without Redis, it
        # would retry for ~6 s (measured), in whichever thread dropped it.
        task_id = self.app.send_task(CHUNK_TASK, args=(seal(future.call, self.app.chunk_key),)).id
        with self._lock:
            future.task_ids.append(task_id)
            self._pending[task_id], self._sent[task_id] = future, next(self._order)
        return task_id

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

    def _snapshot(self) -> Pending:
        """The pending tasks whose futures still wait (a cancelled one needs no answer, and
        without Redis it would keep the poller trying); with none, the poller is marked gone
        (under the same lock as submit)."""
        with self._lock:
            for task_id in [task_id for task_id, future in self._pending.items() if future.done()]:
                self._drop(task_id)
            pending = list(self._pending.items())
            if not pending:
                self._poller = None
            return pending

    def _collect(self, pending: Pending) -> None:
        """Settle the futures of the finished tasks: all looked up in one round trip (MGET);
        note which are taken by a worker, and send again those overdue."""
        if not pending:
            return
        now = time.monotonic()
        waiting: Pending = []
        metas = result_metas(self.app, [task_id for task_id, _ in pending])
        for (task_id, future), meta in zip(pending, metas, strict=True):
            if future.done():  # cancelled, or answered by another copy
                self._forget(future)
            elif meta is not None and meta["status"] == REVOKED and task_id != future.task_ids[-1]:
                # a copy this executor replaced and revoked, handed to a worker after all: the
                # future waits for its newest copy (settling it here failed a chunk that was
                # still being computed)
                with self._lock:
                    self._drop(task_id)
            elif meta is not None and meta["status"] in READY_STATES:
                self._finished(task_id, now)
                self._forget(future)
                self._settle(future, meta, task_id)
            elif meta is not None and meta["status"] != PENDING:  # STARTED: {"hostname": ..., "pid": ...}
                self._seen_taken(task_id, now, (meta.get("result") or {}).get("hostname"))
                waiting.append((task_id, future))
            else:
                waiting.append((task_id, future))
        for task_id, _ in waiting:  # sent before one that a worker took: taken too (first in, first out)
            if self._sent.get(task_id, -1) < self._latest_taken:
                self._taken.setdefault(task_id, now)
        self._send_overdue_again(waiting, now)

    def _seen_taken(self, task_id: str, now: float, host: object) -> None:
        self._taken.setdefault(task_id, now)
        if isinstance(host, str):
            self._host[task_id] = host
        self._latest_taken = max(self._latest_taken, self._sent.get(task_id, -1))

    def _finished(self, task_id: str, now: float) -> None:
        self._latest_taken = max(self._latest_taken, self._sent.get(task_id, -1))
        took = now - self._taken.get(task_id, now)  # 0 for one that finished between two looks
        self._longest = took if self._longest is None else max(self._longest, took)

    def _send_overdue_again(self, waiting: Pending, now: float) -> None:
        """Send again the overdue tasks (the latest copy of each future) whose worker does not
        answer a ping, or that no worker is named for; a worker that answers gets another
        overdue period."""
        if self._longest is None:
            return  # nothing finished yet: nothing to compare with
        limit = OVERDUE_FACTOR * self._longest + OVERDUE_SLACK_SECONDS
        overdue = [
            (task_id, future)
            for task_id, future in waiting
            if task_id == future.task_ids[-1] and now - self._taken.get(task_id, now) > limit
        ]
        if not overdue:
            return
        hosts = sorted({self._host[task_id] for task_id, _ in overdue if task_id in self._host})
        answered: set[str] = set()
        if hosts:
            replies = self.app.control.ping(destination=hosts, timeout=PING_SECONDS) or []
            answered = {name for reply in replies for name in reply}
        for task_id, future in overdue:
            host = self._host.get(task_id)
            if host in answered:
                log.info("task %s is overdue but its worker %s answers: it is given more time", task_id, host)
                self._taken[task_id] = time.monotonic()
                continue
            if future.done():
                continue
            copy = self._send(future)
            future.sent_again = WORKER_STOPPED if host is not None else WORKER_SILENT
            log.warning(
                "task %s was taken %.0f s ago by %s, which does not answer (the longest task took %.1f s): "
                "sent again as %s",
                task_id, now - self._taken[task_id], host or "a worker", self._longest, copy,
            )  # fmt: skip
            self._revoke(task_id, terminate=False)  # its message, handed out again later, is dropped

    def _check_restart(self, pending: Pending, *, after_outage: bool) -> None:
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

    def _fail_forgotten(self, pending: Pending) -> None:
        """Fail the futures of the tasks Redis holds nothing of, looked for twice."""
        missing = self._missing([task_id for task_id, future in pending if not future.done()])
        if missing:
            time.sleep(RECHECK_SECONDS)
            missing = self._missing(missing)
        # a future sent again is lost only if every copy is
        gone = {future for _, future in pending if set(future.task_ids) <= set(missing)}
        if missing and gone:
            lost = [(task_id, future) for task_id, future in pending if future in gone]
            words = (
                f"Redis at {self._where()} came back without {len(gone)} of the pending tasks (no result, "
                "not queued, not taken by a worker: it restarted empty, or from an older snapshot): "
                f"{'it' if len(gone) == 1 else 'they'} can never finish"
            )
            self._fail(lost, RedisLost(words))

    def _missing(self, task_ids: list[str]) -> list[str]:
        """Those of ``task_ids`` of which Redis has no result, no queued message and no message
        taken by a worker (kombu's unacknowledged ones). Broker and results share one Redis."""
        if not task_ids:
            return []
        metas = result_metas(self.app, task_ids)
        known: set[str | None] = {task_id for task_id, meta in zip(task_ids, metas, strict=True) if meta is not None}
        known |= queued_and_held(self.app)  # kombu's queue and unacked hash (cluster.compat)
        return [task_id for task_id in task_ids if task_id not in known]

    def _fail(self, entries: Pending, exc: BaseException) -> None:
        """Fail the futures of ``entries`` still pending (one settled meanwhile keeps its result)."""
        with self._lock:
            failing = list(dict.fromkeys(self._pending[task_id] for task_id, _ in entries if task_id in self._pending))
            for future in failing:
                for task_id in future.task_ids:
                    self._drop(task_id)
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

    def _forget(self, future: _TaskFuture) -> None:
        """No longer wait for any copy of ``future``'s task."""
        with self._lock:
            for task_id in future.task_ids:
                self._drop(task_id)

    def _drop(self, task_id: str) -> None:
        """Forget ``task_id`` here. Under ``_lock``."""
        self._pending.pop(task_id, None)
        self._sent.pop(task_id, None)
        self._taken.pop(task_id, None)
        self._host.pop(task_id, None)

    def _settle(self, future: _TaskFuture, meta: dict[str, Any], task_id: str) -> None:
        """Settle ``future`` with the answer of its copy ``task_id``; revoke the other copies."""
        try:
            if meta["status"] != "SUCCESS":  # the task failed outside fn (worker error, bad signature)
                raise self._worker_error(self.app.backend.exception_to_python(meta["result"]))
            ok, value = unseal(meta["result"], self.app.chunk_key)
        except Exception as exc:
            ok, value = False, exc
        if future.set_running_or_notify_cancel():
            (future.set_result if ok else future.set_exception)(value)
        future.call = None  # the chunk need not be kept for a copy any more
        for other in future.task_ids:
            if other != task_id:
                self._revoke(other)  # a copy that lost the race: it computes for nobody
        try:
            self.app.backend.forget(task_id)  # its answer has been read: free it in Redis
        except LOST_CONNECTION as exc:  # it expires on its own (result_expires)
            log.warning("could not forget the result of task %s: %s", task_id, exc)

    def _worker_error(self, exc: BaseException) -> BaseException:
        """The error a worker stored for a task that failed outside ``fn``. Its worker having lost
        Redis (it computed the chunk, then could not store the answer: Redis restarted under
        it, and it stored this failure once back) is :class:`RedisLost`, as the executor's own
        outages are: the chunk's answer can never come."""
        if not isinstance(exc, LOST_CONNECTION):
            return exc
        return RedisLost(
            f"the worker computing a chunk lost the connection to Redis at {self._where()} before it "
            f"could store the answer ({exc}): the chunk is lost"
        )

    def _revoke(self, task_id: str, *, terminate: bool = True) -> None:
        """Ask the workers to drop or (``terminate``) stop the task. Without Redis the request cannot go out
        (each try costs ~0.6 s of kombu's retries, measured): the task, if Redis kept it,
        then runs for nobody and its result expires."""
        if self._unreachable:
            log.debug("Redis is unreachable: task %s is not revoked", task_id)
            return
        try:
            self.app.control.revoke(task_id, terminate=terminate)
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
