"""What every background job goes through, whatever it computes.

1. Its request is checked on the server (``dashboard.state.rules.admit`` and the plan of its
   kind in ``dashboard.jobs.plans``): a page's stores are not trusted.
2. A finished record in the results cache answers at once.
3. Otherwise it waits for a slot (``dashboard.server.admission``), telling its page how many jobs
   are ahead, and computes there. Between steps it looks for a stop request (Cancel, the
   settings changed) and for its page's heartbeat, and ends early with what it has.
4. The record is stored if it is complete and fits in the cache; the answer is drawn from
   the record in memory either way, so it never depends on what the cache kept.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from core.engine.parallel import stop_when, use_executor
from core.engine.speed import POOL_START, REFERENCE_RATE
from dashboard.jobs.records import Record
from dashboard.server import cache
from dashboard.server.admission import CANCELLED, Admission, Busy, Stopped, in_celery_task
from dashboard.state.rules import Limits

log = logging.getLogger(__name__)

REPORT_PAUSE = 3.0  # after a report, no other for this many times its own time (Control)
REDIS_LOST = "The server lost its connection to Redis"  # the start of the page's message (jobflow.on_error)


class Control:
    """One job's link to its page, handed to the core as ``on_progress``.

    Each call looks for a stop request and the page's heartbeat (two file look-ups, ~15 us
    measured; the core calls it every 50 steps) and returns False to stop the core;
    ``report(done, total, elapsed, *args)`` is called at most every ``seconds`` and always
    at the end. A report that takes long (a live figure drawn from the partial result) is
    followed by a pause of REPORT_PAUSE times its own time, so that reports take at most about
    1 / (1 + REPORT_PAUSE) of the job's process, which shares the cores with the job's workers:
    the default strip's live figure takes ~0.4 s here, and every 0.5 s they kept its process
    busy for most of the map.
    """

    def __init__(
        self,
        admission: Admission,
        token: str | None,
        report: Callable[..., None],
        seconds: float = 0.25,
        time_limit: float | None = None,
    ) -> None:
        self.admission, self.token, self.report, self.seconds = admission, token, report, seconds
        self.time_limit = time_limit  # seconds of computing (not of waiting for a slot)
        self.started = time.monotonic()
        self.computing_since: float | None = None
        self.last = -math.inf
        self.pause = seconds  # before the next report: ``seconds``, or more after a long report
        self.stopped: str | None = None
        self.done = self.total = 0

    def start_computing(self) -> None:
        """The job has its slot: its time limit counts from now."""
        self.computing_since = time.monotonic()

    def should_stop(self) -> str | None:
        """Why the job must stop (kept once known), or None: a stop request, its page gone
        quiet, or its time limit reached. A job without a token (a view recomputing an evicted
        record for its request) has no page to stop it."""
        if self.stopped is None and self.token is not None:
            self.stopped = self.admission.stop_reason(self.token, self.started)
        if self.stopped is None and self._over_time():
            self.stopped = f"it reached the server's time limit of {self.time_limit:g} s (it keeps what it computed)"
        return self.stopped

    def _over_time(self) -> bool:
        since = self.computing_since
        return self.time_limit is not None and since is not None and time.monotonic() - since > self.time_limit

    def __call__(self, done: int, total: int, *args: object) -> bool:
        self.done, self.total = done, total
        if self.should_stop():
            return False
        now = time.monotonic()
        if done >= total or now - self.last >= self.pause:
            self.report(done, total, now - self.started, *args)
            self.last = time.monotonic()
            self.pause = max(self.seconds, REPORT_PAUSE * (self.last - now))
        return True

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def stopped_label(self, unit: str = "iteration") -> str:
        """'Cancelled at iteration 1,250 of 5,000' and the like."""
        where = f"at {unit} {self.done:,} of {self.total:,}" if self.total else "before it started"
        if self.stopped == CANCELLED:
            return f"Cancelled {where}"
        return f"Stopped {where}: {self.stopped}"


@dataclass(frozen=True)
class Plan:
    """A checked job: its cache key, the slots it computes in, and the work itself,
    ``work(control, slots_held) -> record``."""

    key: str
    work: Callable[[Control, int], Record]
    slots: int = 1
    chunked: bool = False  # its work is core.engine.parallel.map_chunks: with Celery the chunks go to the workers
    seconds: float | None = None  # the cost model's estimate, where the page shows a time left


def too_large_key(key: str) -> str:
    """Where the cache notes that the record ``key`` was too large to keep (its size)."""
    return f"{key}:too-large"


@dataclass(frozen=True)
class Jobs:
    """The server's side of every job: results cache, admission and limits. Picklable, so a
    background job (started in another process) gets the same."""

    results_dir: Path
    cache_mb: int
    admission: Admission
    limits: Limits
    secret: bytes  # signs the finished results a page may ask the views to draw

    def sign(self, key: str) -> str:
        """The signature of ``key``: a finished job's record key (given to its page with the
        result), or the visitor a job counts for (dashboard.server.visitors.signed)."""
        return hmac.new(self.secret, key.encode(), sha256).hexdigest()

    def check_signature(self, key: str, signature: Any) -> None:
        """A result a page asks a view to draw must be one this server finished: a view may
        have to compute its record again, which a hand-made request must not be able to ask."""
        if not (isinstance(signature, str) and hmac.compare_digest(signature.encode(), self.sign(key).encode())):
            raise ValueError(
                "this result was not finished by this server (or by a Celery worker with another "
                "SECRET_KEY): press Run to compute it"
            )

    def load(self, key: str) -> Record | None:
        """The record of ``key``, or None if the cache does not have it."""
        return cache.results(self.results_dir, self.cache_mb).get(key)

    def entry(self, key: str) -> object:
        """What the cache keeps under ``key`` beside the records (a view drawn from one, the
        size of one too large to keep), or None."""
        return cache.results(self.results_dir, self.cache_mb).get(key)

    def has(self, key: str) -> bool:
        return key in cache.results(self.results_dir, self.cache_mb)

    def store(self, key: str, value: Any) -> bool:
        """Keep ``value`` under ``key`` unless it alone would fill the cache (then it would
        evict everything, itself included)."""
        size = cache.pickled_size(value)
        if size > self.cache_mb * 1024**2 / 2:
            log.info("not caching %s: ~%.0f MB, the cache holds %d MB", key, size / 1e6, self.cache_mb)
            cache.results(self.results_dir, self.cache_mb).set(too_large_key(key), size)  # what views say
            return False
        cache.results(self.results_dir, self.cache_mb).set(key, value)
        return True

    def too_large(self, key: str) -> int | None:
        """The size in bytes of the record ``key`` if it was too large to keep, else None."""
        size = self.entry(too_large_key(key))
        return size if isinstance(size, int) else None  # as ``store`` noted it

    def compute(
        self, plan: Plan, control: Control, on_wait: Callable[[int, float], None], visitor: str | None = None
    ) -> Record:
        """The record of ``plan``: from the cache, or computed in a slot and stored (unless
        stopped early). ``on_wait(jobs_ahead, seconds)`` reports a wait in the queue (the
        server's, or behind the ``visitor``'s own jobs)."""
        record = self.load(plan.key)
        if record is not None:
            return record
        coordinator = plan.chunked and self._sends_chunks()  # it waits; the workers compute
        slots = plan.slots if coordinator else self.slots_worth(plan)
        slot = self.admission.slot(slots, control.should_stop, on_wait, visitor=visitor, coordinator=coordinator)
        # stop_when: a job waiting on its chunks (a map's, on Celery workers) hears Cancel and
        # its page's absence, and finds a lost Redis, even while no chunk comes back
        with slot as held, self._chunks_on_workers(), stop_when(control.should_stop):
            control.start_computing()
            record = plan.work(control, held)
        if not record.cancelled:
            self.store(plan.key, record)
        return record

    def slots_worth(self, plan: Plan) -> int:
        """The slots a job computing here waits for: one for a chunked job whose estimate is
        under two pool starts. On W processes it takes at most about a pool's start plus C (this
        process computes while the pool starts), in one
        process W x C (C: its compute time on each of W), so one process is as fast for C
        below the start (W = 2) and leaves the other slots to other jobs. A small map of a
        class waited for every slot and then started a process pool: on 2 cores, 30 small
        maps and 30 runs took 333 s, each run waiting behind the maps' pool starts."""
        small = plan.seconds is not None and plan.seconds < 2 * POOL_START * REFERENCE_RATE / self.limits.rate
        return 1 if plan.chunked and small else plan.slots

    def finished(self, token: str) -> None:
        self.admission.finished(token)

    def _sends_chunks(self) -> bool:
        """Whether a chunked job here sends its chunks to Celery workers (a job that is itself
        a Celery task computes them where it is)."""
        return self.admission.redis_url is not None and not in_celery_task()

    @contextlib.contextmanager
    def _chunks_on_workers(self) -> Iterator[None]:
        """With Celery, the chunks of a job that runs on this server (a map) go to the
        workers; a job that is itself a Celery task computes its chunks where it is (waiting
        there for other tasks could take every worker process and wait for ever)."""
        if not self._sends_chunks():
            yield
            return
        from cluster import CeleryExecutor, make_celery  # Celery is imported only where it is used

        url = self.admission.redis_url
        assert url is not None  # _sends_chunks: Celery's broker
        executor = CeleryExecutor(make_celery(url, self.secret.decode()))
        try:
            with use_executor(executor):
                yield
        finally:
            executor.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class Outcome:
    """How a job ended: a record (complete, or partial if stopped), or a message for the
    page (refused, busy, failed); neither if it was stopped before it could start."""

    control: Control
    record: Record | None = None
    message: str = ""


def execute(
    store: Jobs,
    plan: Plan,
    token: str,
    report: Callable[..., None],
    on_wait: Callable[[int, float], None],
    seconds: float,
    *,
    visitor: str | None = None,
) -> Outcome:
    """Run a checked ``plan`` as the job ``token`` of ``visitor``: ``report(done, total,
    elapsed, *partial)`` at most every ``seconds``, ``on_wait(jobs_ahead, seconds_waited)``
    while queued. Never raises: whatever goes wrong becomes the outcome's message."""
    # the estimate admitted it; the limit is enforced on the clock too (estimates can be off)
    control = Control(store.admission, token, report, seconds, time_limit=store.limits.max_seconds)
    try:
        return Outcome(control, record=store.compute(plan, control, on_wait, visitor))
    except (Busy, ValueError) as exc:  # the server is busy; bad input found late (e.g. memory)
        return Outcome(control, message=f"Refused: {exc}")
    except Stopped as exc:
        control.stopped = exc.reason
        return Outcome(control)
    except Exception as exc:
        return Outcome(control, message=failure_message(exc))
    finally:
        _forget_signals(store, token)


def _forget_signals(store: Jobs, token: str) -> None:
    """Forget the job's stop request and heartbeat; without Redis they expire on their own, and
    the job's outcome (a lost Redis, most likely) is what the page must hear."""
    try:
        store.finished(token)
    except Exception as exc:
        if not _lost_redis(exc):
            raise
        log.warning("could not forget the signals of job %s: %s", token, exc)


def queued_label(ahead: int, waited: float) -> str:
    jobs = "1 job" if ahead == 1 else f"{ahead} jobs"
    return f"queued: {jobs} ahead of you · waiting {waited:.0f} s" if ahead else f"queued · waiting {waited:.0f} s"


def failure_message(exc: BaseException) -> str:
    """What the page shows for an unexpected error (the traceback goes to the log); a lost
    connection to Redis (a map's coordinator, whose stop requests and cells go through it)
    in the words of :func:`redis_lost_message`."""
    log.error("a job failed in process %d", os.getpid(), exc_info=exc)
    if _lost_redis(exc):
        return redis_lost_message(exc)
    return f"The job failed ({plain_summary(exc)}). The server log has the details; Run again."


# what must not reach a page: a traceback, or a path of the server's files
_NOT_FOR_A_PAGE = re.compile(r"Traceback|\n|/[\w.~-]+/|[A-Za-z]:\\")


def plain_summary(exc: BaseException) -> str:
    """The error's type and, if it is one plain line without a path of the server, its text.
    An error Dash caught outside the job body (its message holds the job's traceback) is
    named as such."""
    from dash.exceptions import BackgroundCallbackError

    if isinstance(exc, BackgroundCallbackError):
        return "an error in the server's job system"
    name, text = type(exc).__name__, str(exc)
    return name if _NOT_FOR_A_PAGE.search(text) or len(text) > 200 else f"{name}: {text}"


def redis_lost_message(exc: BaseException) -> str:
    return f"{REDIS_LOST} ({exc}): this job's result is lost. Press Run again once Redis is back."


def _lost_redis(exc: BaseException) -> bool:
    """Whether ``exc`` is a lost connection to Redis: redis-py's, or kombu's as Celery raises
    it (neither can be raised before it is imported, and neither is imported without Celery)."""
    redis, kombu = sys.modules.get("redis.exceptions"), sys.modules.get("kombu.exceptions")
    kinds = (
        getattr(redis, "ConnectionError", None),
        getattr(redis, "TimeoutError", None),
        getattr(kombu, "OperationalError", None),
    )
    return isinstance(exc, tuple(kind for kind in kinds if kind is not None))
