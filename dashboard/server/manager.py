"""The lab's job managers: Dash's, as mended in ``dashboard.server.compat.dash_parts``
(a job that exits while it is stopped or looked at, a result stored between a poll's two
reads, job processes from the fork server), with the pages' heartbeats recorded.

The heartbeats: every poll of a page asks ``job_running``, so that is where the server
notes that the job's page is still there (``dashboard.server.admission``); a job whose page has
gone quiet stops itself.

A job's handle is its process id, and Dash kills the process (with its children) whose id a
page names as its old job. A page that outlived a restart of the server (it asks again by
itself: assets/server_watchdog.js) names a process id that may since belong to anything. So
each job's process is recorded with its start time, and only that very process is stopped
or read as running (``_ours``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import psutil
from dash import no_update

from dashboard.jobs.runner import REDIS_LOST as REDIS_LOST  # the page's words, read here by jobflow
from dashboard.jobs.runner import queued_label, redis_lost_message
from dashboard.server.admission import Admission
from dashboard.server.compat.dash_parts import (
    MendedCeleryManager,
    MendedDiskcacheManager,
    ReadsResultAgain,
    background_error,
)

if TYPE_CHECKING:
    import diskcache
    from redis import Redis

log = logging.getLogger(__name__)

QUEUE = "celery"  # Celery's default queue
QUEUED = "wsd:queued:"  # + a job's cache key -> "<task id> <time sent>", until a worker takes it
QUEUED_SECONDS = 24 * 3600
PROGRESS_WIDTH = 3  # the most progress outputs of any job (the Divergence view's)
NO_WORKER_SECONDS = 30  # a job first in the queue this long: say that no worker is free
ENDED_WITHOUT_RESULT = ReadsResultAgain.ended_without_result
JOB_RECORD_SECONDS = 7 * 24 * 3600  # how long a job process's start time is kept

# A job's handle: a process id (JobManager) or a Celery task id (CeleryJobManager); a page
# sends it back as text, and None when it names no job.
JobHandle = int | str


def _started_key(job: int) -> str:
    return f"wsd:job-started:{job}"


def _redis_errors() -> type[Exception]:
    from redis.exceptions import RedisError  # redis is installed with the Celery backend

    return RedisError


def lost_result(exc: Exception) -> dict[str, dict[str, str]]:
    """What a poll answers when Redis is gone: the job's result is lost, and the page says so."""
    log.error("a poll could not reach Redis: %s", exc)
    return background_error(redis_lost_message(exc))


def celery_queued_label(ahead: int, waited: float) -> str:
    """The news of a job waiting in Redis; once it has been first in line for a while, why:
    without it a page whose server has no worker running would wait in silence for ever."""
    label = queued_label(ahead, waited)
    if ahead == 0 and waited > NO_WORKER_SECONDS:
        label += " · no worker has taken it: every worker is busy, or none is running"
    return label


class JobManager(ReadsResultAgain, MendedDiskcacheManager):
    """Dash's DiskcacheManager (jobs in processes of this server), mended, that stops or reads
    as running only the processes it started, and records each poll as a heartbeat of the
    job's page. ``processes``: the multiprocess context its jobs start from
    (dashboard.server.worker.job_processes; None: Dash's default, fork)."""

    def __init__(self, cache: diskcache.Cache, admission: Admission | None = None, processes: Any = None) -> None:
        super().__init__(cache, processes)
        self.admission = admission

    def call_job_fn(self, key: str, job_fn: Callable[..., Any], args: Any, context: Any) -> int:
        job = super().call_job_fn(key, job_fn, args, context)
        self.adopt(job)
        self._heartbeat(job, new=True)  # the page is there: it has just asked for the job
        return job

    def terminate_job(self, job: JobHandle | None) -> None:
        if not self._ours(job):
            return  # not a job process of this server (it ended; its id may be another's now)
        super().terminate_job(job)

    def adopt(self, job: int) -> None:
        """Record the process ``job`` (its start time) as a job of this server."""
        with contextlib.suppress(psutil.NoSuchProcess):  # a job that exited at once is no one's
            self.handle.set(_started_key(job), psutil.Process(job).create_time(), expire=JOB_RECORD_SECONDS)

    def _ours(self, job: JobHandle | None) -> bool:
        """Whether ``job`` names a process this server started as a job, still running."""
        if job is None:
            return False
        try:
            started = self.handle.get(_started_key(int(job)))
            return started is not None and psutil.Process(int(job)).create_time() == started
        except (TypeError, ValueError, psutil.NoSuchProcess):
            return False

    def job_running(self, job: JobHandle | None) -> bool:
        if job is not None:
            self._heartbeat(job)
        return self._running_in_this_poll(job)

    def _heartbeat(self, job: JobHandle, *, new: bool = False) -> None:
        """Note that the page of ``job`` polled. With Celery the note goes to Redis; if Redis is
        gone the note is lost, but the poll goes on (an exception here made Dash answer it with
        nothing, HTTP 204, and the page stopped listening for good). The job runs in a process
        here and its progress and result are this server's: the job finds Redis gone at its
        next stop check (within core.engine.parallel.STOP_CHECK_SECONDS) and ends with REDIS_LOST's
        message, which the page's next poll receives."""
        if self.admission is None:
            return
        try:
            self.admission.heartbeat(job, new=new)
        except _redis_errors() as exc:
            log.warning("the heartbeat of job %s could not reach Redis: %s", job, exc)

    def _still_running(self, job: JobHandle | None) -> bool:
        return self._ours(job) and super().job_running(job)


class CeleryJobManager(ReadsResultAgain, MendedCeleryManager):
    """Dash's CeleryManager (jobs on Celery workers, anywhere), recording each poll as a
    heartbeat of the job's page in Redis, where the job looks for it, and telling the page
    of a job still waiting in Redis for a free worker how many jobs are ahead of it.

    That news goes out as the job's progress: the first progress output of every job is its
    label (the views keep to this), the others are left as they are.
    """

    def __init__(self, celery_app: Any, admission: Admission) -> None:
        super().__init__(celery_app)
        self.admission = admission

    @property
    def _redis(self) -> Redis:
        return self.handle.backend.client  # the result backend's Redis client

    def call_job_fn(self, key: str, job_fn: Callable[..., Any], args: Any, context: Any) -> str:
        job: str = super().call_job_fn(key, job_fn, args, context)  # the Celery task's id
        self.admission.heartbeat(job, new=True)
        self._redis.set(f"{QUEUED}{key}", f"{job} {time.time()!r}", ex=QUEUED_SECONDS)
        return job

    def job_running(self, job: JobHandle | None) -> bool:
        try:
            if job is not None:
                self.admission.heartbeat(job)
            return self._running_in_this_poll(job)
        except _redis_errors():
            return False  # Redis is gone: the poll's result says so (get_result)

    def _still_running(self, job: JobHandle | None) -> bool:
        return bool(super().job_running(job))

    def get_result(self, key: str, job: JobHandle | None) -> Any:
        """The job's result; without Redis, a message that it is lost (not an HTTP 500, after
        which the page would stop and wait in silence)."""
        try:
            return super().get_result(key, job)
        except _redis_errors() as exc:
            return lost_result(exc)

    def get_updated_props(self, key: str) -> Any:
        try:
            return super().get_updated_props(key)
        except _redis_errors():
            return {}

    def get_progress(self, key: str) -> Any:
        """The job's progress outputs (JSON, as the job set them), or the news of its place in
        the queue, or None."""
        try:
            return self._progress(key)
        except _redis_errors():
            return None  # Redis is gone: the poll's result says so (get_result)

    def _progress(self, key: str) -> Any:
        progress = super().get_progress(key)
        if progress is not None:
            return progress
        # bytes: Celery's result backend makes its client without decode_responses
        queued = cast(bytes | None, self._redis.get(f"{QUEUED}{key}"))
        if queued is None:
            return None
        job, sent = queued.decode().split()
        ahead = self.jobs_ahead(job)
        if ahead is None:  # a worker has taken it: from now on the job sends its own news
            self._redis.delete(f"{QUEUED}{key}")
            return None
        label = celery_queued_label(ahead, time.time() - float(sent))
        return [label] + [no_update] * (PROGRESS_WIDTH - 1)

    def jobs_ahead(self, job: str) -> int | None:
        """Jobs a worker will take before ``job``, or None if it is no longer waiting. The
        queue is read as kombu keeps it in Redis (cluster.compat)."""
        from cluster.compat import tasks_ahead  # Celery's side is imported only where it is used

        return tasks_ahead(self._redis, QUEUE, job)  # broker and results share one Redis database
