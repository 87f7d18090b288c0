"""Admission of background jobs on one server: a fixed number of slots, a queue, stop
requests and the pages' heartbeats, shared by every worker through files in the cache
directory (no process keeps state in memory).

- Slots: ``slots/<i>.lock``, held with ``flock`` by the job computing in it. The kernel
  releases a slot when its job exits in any way, killed included.
- Queue: ``queue/<time>-<pid>``, one file per waiting job. Jobs take slots in the order
  they arrived; a file whose process is gone is removed by whoever sees it.
- Stop requests: ``stop/<token>`` holds why the page wants the job with that token stopped
  (Cancel pressed, settings changed). Jobs look at it between steps and end early.
- Heartbeats: ``polls/<pid>`` is touched each time the job's page asks for news. A job
  whose page has gone quiet for ``abandon_seconds`` stops itself.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

TOKEN = re.compile(r"[0-9a-f]{32}")
WAIT_SECONDS = 0.1  # how often a queued job looks for a free slot

# why a job stops early, as the job's label says it
CANCELLED = "cancelled"
SETTINGS_CHANGED = "the settings changed"
ABANDONED = "its page stopped asking for news"


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

    # ---- the web server's side -------------------------------------------------
    def heartbeat(self, job, *, new: bool = False) -> None:
        """The page of ``job`` (a process id) has just asked for news (``new``: started it)."""
        path = self._dir("polls") / str(int(job))
        if new:
            path.touch()
        else:
            with suppress(FileNotFoundError):  # a finished job's file is gone: leave it so
                os.utime(path)

    def request_stop(self, token: str, reason: str) -> None:
        """Ask the job started with ``token`` to stop, for ``reason``."""
        check_token(token)
        (self._dir("stop") / token).write_text(reason)

    # ---- the job's side ---------------------------------------------------------
    def stop_reason(self, token: str, started: float) -> str | None:
        """Why this job (``token``, this process, started at ``started`` on the monotonic
        clock) should stop now, or None."""
        try:
            return (self._dir("stop") / token).read_text() or CANCELLED
        except FileNotFoundError:
            pass
        try:
            quiet = time.time() - (self._dir("polls") / str(os.getpid())).stat().st_mtime
        except FileNotFoundError:
            quiet = time.monotonic() - started  # not polled yet
        return ABANDONED if quiet > self.abandon_seconds else None

    @contextmanager
    def slot(self, n_slots: int, should_stop: Callable[[], str | None], on_wait: Callable[[int, float], None]):
        """Hold ``n_slots`` slots (at most all of them) for the ``with`` block, waiting in the
        queue for them; ``on_wait(jobs_ahead, seconds_waited)`` reports the wait. Raises
        :class:`Busy` if the queue is full and :class:`Stopped` if ``should_stop()`` says why
        while waiting."""
        n_slots = max(1, min(n_slots, self.slots))
        ticket = self._enqueue()
        started, told = time.monotonic(), None
        try:
            while True:
                reason = should_stop()  # first: a job stopped while queued does not start
                if reason:
                    raise Stopped(reason)
                ahead = self._ahead(ticket)
                held = self._take(n_slots) if ahead == 0 else []
                if held:
                    break
                waited = time.monotonic() - started
                if (ahead, int(waited)) != told:  # once a second, or when the queue moves
                    told = (ahead, int(waited))
                    on_wait(ahead, waited)
                time.sleep(WAIT_SECONDS)
        finally:
            ticket.unlink(missing_ok=True)
        try:
            yield len(held)
        finally:
            for fd in held:
                os.close(fd)  # closing releases the lock

    def finished(self, token: str) -> None:
        """Forget what the job with ``token`` (this process) left behind."""
        (self._dir("stop") / token).unlink(missing_ok=True)
        (self._dir("polls") / str(os.getpid())).unlink(missing_ok=True)

    # ---- files --------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        path = self.directory / name
        path.mkdir(parents=True, exist_ok=True)  # made again if the cache directory was deleted
        return path

    def _waiting(self) -> list[Path]:
        """Queue files of live processes, oldest first (stale ones removed)."""
        alive = []
        for path in sorted(self._dir("queue").iterdir()):
            pid = int(path.name.split("-")[1])
            if _alive(pid):
                alive.append(path)
            else:
                path.unlink(missing_ok=True)
        return alive

    def _enqueue(self) -> Path:
        self._forget_the_dead()
        waiting = self._waiting()
        if len(waiting) >= self.max_queued and not self._free_slots():
            raise Busy(f"the server is busy: {len(waiting)} jobs are waiting already; try again in a minute")
        ticket = self._dir("queue") / f"{time.time_ns():020d}-{os.getpid()}"
        ticket.touch()
        return ticket

    def _forget_the_dead(self) -> None:
        """Heartbeat files of jobs that were killed (the others remove their own)."""
        for path in self._dir("polls").iterdir():
            if not (path.name.isdigit() and _alive(int(path.name))):
                path.unlink(missing_ok=True)

    def _ahead(self, ticket: Path) -> int:
        waiting = self._waiting()
        return waiting.index(ticket) if ticket in waiting else 0

    def _take(self, n_slots: int) -> list[int]:
        """Lock ``n_slots`` free slot files, or none."""
        held = []
        for i in range(self.slots):
            fd = os.open(self._dir("slots") / f"{i}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            held.append(fd)
            if len(held) == n_slots:
                return held
        for fd in held:
            os.close(fd)
        return []

    def _free_slots(self) -> int:
        held = self._take(1)
        for fd in held:
            os.close(fd)
        return len(held)

    def running(self) -> int:
        """Slots held right now (for tests and logs)."""
        return sum(self._slot_states())

    def _slot_states(self) -> Iterator[int]:
        """1 for each held slot, 0 for each free one."""
        for i in range(self.slots):
            fd = os.open(self._dir("slots") / f"{i}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                yield 0
            except BlockingIOError:
                yield 1
            finally:
                os.close(fd)


def check_token(token) -> str:
    """A job token as the page sends it: 32 hex digits (it becomes a file name)."""
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        raise ValueError(f"the job token must be 32 hexadecimal digits, got {str(token)[:40]!r}")
    return token


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
