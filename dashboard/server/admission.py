"""Admission of background jobs on one server: a fixed number of slots, a queue, stop
requests and the pages' heartbeats, shared by every worker through files in the cache
directory (no process keeps state in memory).

- Slots: ``slots/<i>.lock``, held with ``flock`` by the job computing in it.
- Queue: ``queue/<time>-<pid>``, one file per waiting job, held with ``flock`` while it
  waits. Jobs take slots in the order they arrived.
  The kernel releases both locks when a job exits in any way, killed included, so a file
  whose lock nobody holds is stale (whatever became of its process id) and is removed.
- Stop requests: ``stop/<token>`` holds why the page wants the job with that token stopped
  (Cancel pressed, settings changed). Jobs look at it between steps and end early.
- Heartbeats: ``polls/<pid>`` is touched each time the job's page asks for news. A job
  whose page has gone quiet for ``abandon_seconds`` stops itself.

With Celery (``redis_url`` set) a job may run on another host than the page's web server,
so stop requests and heartbeats go through Redis instead (keys ``wsd:stop:<token>`` and
``wsd:poll:<task id>``, each expiring); the slots and the queue stay on the host that
computes, in its own cache directory.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import psutil

from dashboard.state.rules import quoted

if TYPE_CHECKING:
    from redis import Redis

TOKEN = re.compile(r"[0-9a-f]{32}")
# a job handle: a process id, or a Celery task id
JOB = re.compile(r"[0-9]{1,10}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
WAIT_SECONDS = 0.1  # how often a queued job looks for a free slot
SERVER_QUEUE, VISITOR_QUEUE = "queue", "visitor-queue"  # jobs waiting for a slot / for their visitor's turn
# A map's coordinator with Celery only waits for its cells, which run on the workers: it takes
# no compute slot (the workers' jobs take those, in the same directory when the cache is
# shared, as compose.yaml sets it up). Holding them made the workers that run the cells' queue
# neighbours wait for slots held by work that waited for those workers: a deadlock. The
# coordinators have their own pool and queue, twice the compute slots, so a class's maps
# wait in order without taking the workers' turn.
COORDINATOR_QUEUE = "coordinator-queue"
QUEUES = (SERVER_QUEUE, VISITOR_QUEUE, COORDINATOR_QUEUE)
STALE_STOP_SECONDS = 3600  # a stop request older than this found no job (it had ended)

# why a job stops early, as the job's label says it
CANCELLED = "cancelled"
SETTINGS_CHANGED = "the settings changed"
REPLACED = "a new run replaced it"
ABANDONED = "its page stopped asking for news"

ShouldStop = Callable[[], str | None]  # why the waiting job should stop now, or None
OnWait = Callable[[int, float], None]  # (jobs ahead, seconds waited)


class Busy(Exception):
    """The queue is full: the job is refused rather than left waiting."""


class Stopped(Exception):
    """The job was asked to stop (or its page left) before it could start."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Admission:
    directory: Path
    slots: int
    max_queued: int
    abandon_seconds: float
    redis_url: str | None = None  # set: stop requests and heartbeats go through Redis
    per_visitor: int = 2  # jobs one visitor may compute at once

    @property
    def _redis(self) -> Redis:
        return _redis_client(self.redis_url, os.getpid())

    # ---- the web server's side -------------------------------------------------
    def heartbeat(self, job: object, *, new: bool = False) -> None:
        """The page of ``job`` (a process id, or a Celery task id) has just asked for news
        (``new``: started it)."""
        handle = check_job(job)
        if self.redis_url:
            self._redis.set(f"wsd:poll:{handle}", repr(time.time()), ex=int(10 * self.abandon_seconds) + 60)
        elif new:
            (self._dir("polls") / handle).touch()
        else:
            with suppress(FileNotFoundError):  # a finished job's file is gone: leave it so
                os.utime(self.directory / "polls" / handle)

    def request_stop(self, token: str, reason: str) -> None:
        """Ask the job started with ``token`` to stop, for ``reason``."""
        if self.redis_url:
            self._redis.set(f"wsd:stop:{check_token(token)}", reason, ex=STALE_STOP_SECONDS)
        else:
            _write_whole(self._dir("stop") / check_token(token), reason)

    # ---- the job's side ---------------------------------------------------------
    def stop_reason(self, token: str, started: float) -> str | None:
        """Why this job (``token``, this process or Celery task, started at ``started`` on
        the monotonic clock) should stop now, or None. Two look-ups: it runs between steps."""
        stop, polled = self._redis_signals(token) if self.redis_url else self._file_signals(token)
        if stop is not None:
            return stop or CANCELLED
        quiet = time.monotonic() - started if polled is None else time.time() - polled  # not polled yet
        return ABANDONED if quiet > self.abandon_seconds else None

    def _file_signals(self, token: str) -> tuple[str | None, float | None]:
        """(the stop request's reason, the last heartbeat's time), each None if absent."""
        try:
            return (self.directory / "stop" / token).read_text(), None
        except FileNotFoundError:
            pass
        try:
            return None, (self.directory / "polls" / current_job()).stat().st_mtime
        except FileNotFoundError:
            return None, None

    def _redis_signals(self, token: str) -> tuple[str | None, float | None]:
        # bytes: the client is made without decode_responses (_redis_client)
        reply = cast(list[bytes | None], self._redis.mget(f"wsd:stop:{token}", f"wsd:poll:{current_job()}"))
        stop, polled = reply
        return (None if stop is None else stop.decode()), (None if polled is None else float(polled))

    @contextmanager
    def slot(
        self,
        n_slots: int,
        should_stop: ShouldStop,
        on_wait: OnWait,
        *,
        visitor: str | None = None,
        coordinator: bool = False,
    ) -> Iterator[int]:
        """Hold ``n_slots`` slots (at most all of them) for the ``with`` block, waiting in the
        queue for them; ``on_wait(jobs_ahead, seconds_waited)`` reports the wait (once a
        second, or when the queue moves). A job of a ``visitor`` who already computes
        ``per_visitor`` jobs first waits for one of them to end. A ``coordinator`` (a job
        whose work runs elsewhere, on Celery workers) holds one coordinator slot instead and
        is handed ``n_slots`` for its chunking. Raises :class:`Busy` if the queue is full and
        :class:`Stopped` if ``should_stop()`` says why while waiting."""
        pool = self._coordinators if coordinator else self._compute
        with (
            self._visitor_slot(visitor, should_stop, on_wait),
            self._server_slot(n_slots, should_stop, on_wait, pool) as n,
        ):
            yield n_slots if coordinator else n

    @property
    def _compute(self) -> _Pool:
        return _Pool("slots", self.slots, SERVER_QUEUE)

    @property
    def _coordinators(self) -> _Pool:
        return _Pool("coordinators", 2 * self.slots, COORDINATOR_QUEUE)

    @contextmanager
    def _visitor_slot(self, visitor: str | None, should_stop: ShouldStop, on_wait: OnWait) -> Iterator[None]:
        """One of the visitor's ``per_visitor`` lock files, held for the block."""
        if visitor is None:
            yield
            return
        held = self._visitor_lock(visitor)
        if held is None:  # waits among the server's queued jobs: bounded by max_queued with them
            waiting = len(self._visitor_waiting(visitor))
            if waiting >= self.per_visitor:  # one visitor cannot fill the shared queue
                raise Busy(
                    f"you have {waiting} job{'s' * (waiting != 1)} waiting already (at most {self.per_visitor} "
                    f"besides the {self.per_visitor} computing): wait for one to finish, or cancel one"
                )
            ticket, ticket_fd = self._enqueue(VISITOR_QUEUE, free_slots_help=False, tag=visitor)
            try:
                held = self._wait_for_visitor_lock(visitor, ticket, should_stop, on_wait)
            finally:
                ticket.unlink(missing_ok=True)
                os.close(ticket_fd)
        try:
            yield
        finally:
            _release([held])

    def _wait_for_visitor_lock(self, visitor: str, ticket: Path, should_stop: ShouldStop, on_wait: OnWait) -> int:
        """The visitor's next lock, in the order the visitor's jobs arrived."""
        started, told = time.monotonic(), None
        while True:
            reason = should_stop()
            if reason:
                raise Stopped(reason)
            mine = self._visitor_waiting(visitor)
            position = mine.index(ticket) if ticket in mine else 0
            held = self._visitor_lock(visitor) if position == 0 else None
            if held is not None:
                return held
            waited = time.monotonic() - started
            ahead = self.per_visitor + position  # the visitor's computing jobs, then its earlier ones
            if (ahead, int(waited)) != told:
                told = (ahead, int(waited))
                on_wait(ahead, waited)
            time.sleep(WAIT_SECONDS)

    def _visitor_waiting(self, visitor: str) -> list[Path]:
        """The visitor's tickets in the visitor queue, oldest first."""
        return [path for path in self._waiting(VISITOR_QUEUE) if path.name.endswith(f"-{visitor}")]

    def _visitor_lock(self, visitor: str) -> int | None:
        for i in range(self.per_visitor):
            fd = _lock(self._dir("visitors") / f"{visitor}-{i}.lock")
            if fd is not None:
                return fd
        return None

    @contextmanager
    def _server_slot(self, n_slots: int, should_stop: ShouldStop, on_wait: OnWait, pool: _Pool) -> Iterator[int]:
        n_slots = 1 if pool.queue == COORDINATOR_QUEUE else max(1, min(n_slots, pool.size))
        ticket, ticket_fd = self._enqueue(pool.queue, pool=pool)
        started, told = time.monotonic(), None
        try:
            while True:
                reason = should_stop()  # first: a job stopped while queued does not start
                if reason:
                    raise Stopped(reason)
                ahead = self._ahead(ticket, pool.queue)
                held = self._take(n_slots, pool) if ahead == 0 else []
                if held:
                    break
                waited = time.monotonic() - started
                if (ahead, int(waited)) != told:
                    told = (ahead, int(waited))
                    on_wait(ahead, waited)
                time.sleep(WAIT_SECONDS)
        finally:
            ticket.unlink(missing_ok=True)
            os.close(ticket_fd)
        try:
            yield len(held)
        finally:
            _release(held)

    def finished(self, token: str) -> None:
        """Forget what the job with ``token`` (this process or task) left behind."""
        if self.redis_url:
            self._redis.delete(f"wsd:stop:{token}", f"wsd:poll:{current_job()}")
            return
        (self.directory / "stop" / token).unlink(missing_ok=True)
        (self.directory / "polls" / current_job()).unlink(missing_ok=True)

    def running(self) -> int:
        """Compute slots held right now."""
        free = self._lock_free(self.slots, self._compute)
        _release(free)
        return self.slots - len(free)

    # ---- files --------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        path = self.directory / name
        path.mkdir(parents=True, exist_ok=True)  # made again if the cache directory was deleted
        return path

    def _waiting(self, queue: str = SERVER_QUEUE) -> list[Path]:
        """Queue files of waiting jobs, oldest first (stale ones removed)."""
        waiting = []
        for path in sorted(self._dir(queue).glob("[!.]*")):
            fd = _lock(path)
            if fd is None:  # its job holds it: still waiting
                waiting.append(path)
            else:
                path.unlink(missing_ok=True)
                os.close(fd)
        return waiting

    def _enqueue(
        self, queue: str = SERVER_QUEUE, *, free_slots_help: bool = True, pool: _Pool | None = None, tag: str = ""
    ) -> tuple[Path, int]:
        """A ticket in ``queue``; Busy if max_queued jobs wait already, in every queue together
        (unless a slot of ``pool`` is free and ``free_slots_help``: then this one starts)."""
        self._forget_the_dead()
        waiting = sum(len(self._waiting(q)) for q in QUEUES)
        if waiting >= self.max_queued and not (free_slots_help and self._free_slots(pool or self._compute)):
            raise Busy(f"the server is busy: {waiting} jobs are waiting already; try again in a minute")
        name = f"{time.time_ns():020d}-{os.getpid()}" + (f"-{tag}" if tag else "")
        draft = self._dir(queue) / f".{name}"  # locked before it shows: nobody takes it for stale
        fd = _lock(draft)
        assert fd is not None, f"a new ticket's lock is free: its name {name} is this process's alone"
        ticket = draft.with_name(name)
        draft.rename(ticket)
        return ticket, fd

    def _forget_the_dead(self) -> None:
        """Heartbeat files of jobs that were killed (the others remove their own), and stop
        requests that found no job."""
        for path in self._dir("polls").iterdir():
            if not (path.name.isdigit() and _alive(int(path.name))):
                path.unlink(missing_ok=True)
        old = time.time() - STALE_STOP_SECONDS
        for path in self._dir("stop").iterdir():
            with suppress(FileNotFoundError):
                if path.stat().st_mtime < old:
                    path.unlink()

    def _ahead(self, ticket: Path, queue: str = SERVER_QUEUE) -> int:
        waiting = self._waiting(queue)
        return waiting.index(ticket) if ticket in waiting else 0

    def _lock_free(self, limit: int, pool: _Pool) -> list[int]:
        """Locks on up to ``limit`` free slots of ``pool`` (open file descriptors)."""
        held: list[int] = []
        for i in range(pool.size):
            if len(held) == limit:
                break
            fd = _lock(self._dir(pool.directory) / f"{i}.lock")
            if fd is not None:
                held.append(fd)
        return held

    def _take(self, n_slots: int, pool: _Pool) -> list[int]:
        """Locks on ``n_slots`` free slots of ``pool``, or none."""
        held = self._lock_free(n_slots, pool)
        if len(held) < n_slots:
            _release(held)
            return []
        return held

    def _free_slots(self, pool: _Pool) -> int:
        free = self._lock_free(1, pool)
        _release(free)
        return len(free)


@dataclass(frozen=True)
class _Pool:
    """Slots of one kind: their lock files' directory, how many, and the queue that waits for them."""

    directory: str
    size: int
    queue: str


def _write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees no file or all of it: a job that read
    a stop file between its creation and its write took the empty reason for a Cancel."""
    part = path.with_name(f".{path.name}.{os.getpid()}")
    part.write_text(text)
    os.replace(part, path)


def _lock(path: Path) -> int | None:
    """An open descriptor of ``path`` (made if missing) holding its exclusive lock, or None
    if another open file holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _release(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)  # closing releases the lock


def check_token(token: object) -> str:
    """A job token as the page sends it: 32 hex digits (it becomes a file name)."""
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        raise ValueError(f"the job token must be 32 hexadecimal digits, got {quoted(token)}")
    return token


@functools.cache
def _redis_client(url: str, pid: int) -> Redis:
    """One client per process (``pid`` is part of the key): a client's connections must not
    cross a fork into a job process."""
    import redis

    return redis.Redis.from_url(url)


def check_job(job: object) -> str:
    """A job handle as Dash gives it (a process id or a Celery task id), as text."""
    text = str(job)
    if not JOB.fullmatch(text):
        raise ValueError(f"a job handle must be a process id or a Celery task id, got {quoted(job)}")
    return text


def current_job() -> str:
    """The handle of the job running here: the Celery task's id inside a Celery task (then
    the worker process serves many jobs in turn), else this process's id."""
    return _celery_task_id() or str(os.getpid())


def in_celery_task() -> bool:
    return _celery_task_id() is not None


def _celery_task_id() -> str | None:
    celery = sys.modules.get("celery")  # imported only where Celery is in use
    task = celery.current_task if celery is not None else None
    task_id = getattr(getattr(task, "request", None), "id", None)
    return str(task_id) if task_id else None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
