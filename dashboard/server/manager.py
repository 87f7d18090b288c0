"""Dash's DiskcacheManager, with one race mended and the pages' heartbeats recorded.

The race: when a background job has stored its result, the next poll reads it and stops
the job (``DiskcacheManager.get_result`` -> ``terminate_job``), then asks whether it still
runs (``job_running``). The job is exiting on its own at that moment, and in dash 4.4.1
both let ``psutil.NoSuchProcess`` escape if the process disappears between their
``pid_exists`` check and the next psutil call. The poll then fails with HTTP 500, the
page stops polling, and the finished run never arrives: the page stays on its last live
update. Seen in ~3 of ~200 browser runs here (more often as the engine got faster), with
this traceback in the server log.

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
import json
import logging
import threading
import time

import psutil
from dash import CeleryManager, DiskcacheManager, no_update

from dashboard.jobs.runner import REDIS_LOST as REDIS_LOST  # the page's words, read here by jobflow
from dashboard.jobs.runner import queued_label, redis_lost_message
from dashboard.server.admission import Admission

log = logging.getLogger(__name__)

QUEUE = "celery"  # Celery's default queue
QUEUED = "wsd:queued:"  # + a job's cache key -> "<task id> <time sent>", until a worker takes it
QUEUED_SECONDS = 24 * 3600
PROGRESS_WIDTH = 3  # the most progress outputs of any job (the Divergence view's)
NO_WORKER_SECONDS = 30  # a job first in the queue this long: say that no worker is free
ENDED_WITHOUT_RESULT = "The job ended without a result (its process exited): press Run again."
JOB_RECORD_SECONDS = 7 * 24 * 3600  # how long a job process's start time is kept


def _started_key(job: int) -> str:
    return f"wsd:job-started:{job}"


def _redis_errors():
    from redis.exceptions import RedisError  # redis is installed with the Celery backend

    return RedisError


def page_error(message: str) -> dict:
    """A poll's answer that shows ``message`` on the page: Dash hands a background callback's
    error to the app's ``on_error`` (jobflow.error_message keeps these words as they are)."""
    return {"background_callback_error": {"msg": message, "tb": ""}}


def lost_result(exc: Exception) -> dict:
    """What a poll answers when Redis is gone: the job's result is lost, and the page says so."""
    log.error("a poll could not reach Redis: %s", exc)
    return page_error(redis_lost_message(exc))


def celery_queued_label(ahead: int, waited: float) -> str:
    """The news of a job waiting in Redis; once it has been first in line for a while, why:
    without it a page whose server has no worker running would wait in silence for ever."""
    label = queued_label(ahead, waited)
    if ahead == 0 and waited > NO_WORKER_SECONDS:
        label += " · no worker has taken it: every worker is busy, or none is running"
    return label


class _ReadsAgain:
    """A poll reads the job's result, then asks whether the job still runs; a job that stores
    its result and ends between the two looks cancelled, and Dash 4.4.1 answers the page with
    nothing (HTTP 204): the page stops polling and the finished job never arrives (seen in
    ~1 of 250 runs under load). A job stores its result before it ends, so when there is
    no result and the job has ended, the result is read once more."""

    def get_result(self, key, job):
        _seen_running.jobs = set()  # what an earlier poll in this thread saw does not count
        result = super().get_result(key, job)
        if result is not self.UNDEFINED or job is None:
            return result
        if self._still_running(job):
            _seen_running.jobs = {job}  # this poll's answer (job_running reads it, not the job again)
            return result
        result = super().get_result(key, job)
        if result is self.UNDEFINED:  # it ended without one: say so, not a silent page
            log.error("job %s ended without a result", job)
            return page_error(ENDED_WITHOUT_RESULT)
        return result

    def _running_in_this_poll(self, job) -> bool:
        """Whether ``job`` runs, as this poll's ``get_result`` saw it. Dash asks after reading
        the result; a job that stored its result and ended between the two looked cancelled
        (no result, not running) and the page got nothing (HTTP 204; 2 of 30 Celery runs under
        load). The next poll reads the result."""
        seen, _seen_running.jobs = getattr(_seen_running, "jobs", set()), set()
        return job in seen or self._still_running(job)


_seen_running = threading.local()  # per request thread: the job get_result saw running


class JobManager(_ReadsAgain, DiskcacheManager):
    """DiskcacheManager that tolerates a job exiting while it is stopped or looked at, and
    records each poll as a heartbeat of the job's page."""

    def __init__(self, cache, admission: Admission | None = None) -> None:
        super().__init__(cache)
        self.admission = admission

    def call_job_fn(self, key, job_fn, args, context):
        job = super().call_job_fn(key, job_fn, args, context)
        self.adopt(job)
        self._heartbeat(job, new=True)  # the page is there: it has just asked for the job
        return job

    def terminate_job(self, job) -> None:
        if not self._ours(job):
            return  # not a job process of this server (it ended; its id may be another's now)
        try:
            super().terminate_job(job)
        except psutil.NoSuchProcess:
            pass  # the job has exited: nothing is left to stop

    def adopt(self, job: int) -> None:
        """Record the process ``job`` (its start time) as a job of this server."""
        with contextlib.suppress(psutil.NoSuchProcess):  # a job that exited at once is no one's
            self.handle.set(_started_key(job), psutil.Process(job).create_time(), expire=JOB_RECORD_SECONDS)

    def _ours(self, job) -> bool:
        """Whether ``job`` names a process this server started as a job, still running."""
        try:
            started = self.handle.get(_started_key(int(job)))
            return started is not None and psutil.Process(int(job)).create_time() == started
        except (TypeError, ValueError, psutil.NoSuchProcess):
            return False

    def job_running(self, job) -> bool:
        if job is not None:
            self._heartbeat(job)
        return self._running_in_this_poll(job)

    def _heartbeat(self, job, *, new: bool = False) -> None:
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

    def _still_running(self, job) -> bool:
        if not self._ours(job):
            return False
        try:
            return super().job_running(job)
        except psutil.NoSuchProcess:
            return False  # it exited after the existence check


class CeleryJobManager(_ReadsAgain, CeleryManager):
    """Dash's CeleryManager (jobs on Celery workers, anywhere), recording each poll as a
    heartbeat of the job's page in Redis, where the job looks for it, and telling the page
    of a job still waiting in Redis for a free worker how many jobs are ahead of it.

    That news goes out as the job's progress: the first progress output of every job is its
    label (the views keep to this), the others are left as they are.
    """

    def __init__(self, celery_app, admission: Admission) -> None:
        super().__init__(celery_app)
        self.admission = admission

    @property
    def _redis(self):
        return self.handle.backend.client  # the result backend's Redis client

    def call_job_fn(self, key, job_fn, args, context):
        job = super().call_job_fn(key, job_fn, args, context)
        self.admission.heartbeat(job, new=True)
        self._redis.set(f"{QUEUED}{key}", f"{job} {time.time()!r}", ex=QUEUED_SECONDS)
        return job

    def job_running(self, job) -> bool:
        try:
            if job is not None:
                self.admission.heartbeat(job)
            return self._running_in_this_poll(job)
        except _redis_errors():
            return False  # Redis is gone: the poll's result says so (get_result)

    def _still_running(self, job) -> bool:
        return bool(super().job_running(job))

    def get_result(self, key, job):
        """The job's result; without Redis, a message that it is lost (not an HTTP 500, after
        which the page would stop and wait in silence)."""
        try:
            return super().get_result(key, job)
        except _redis_errors() as exc:
            return lost_result(exc)

    def get_updated_props(self, key):
        try:
            return super().get_updated_props(key)
        except _redis_errors():
            return {}

    def terminate_job(self, job) -> None:
        """Revoke the task, without killing its process. Dash also "terminates" a job whose
        result it has just read, while the task may still be returning: a killed process
        would put the finished task back in the queue (late acks) and run it again. A job
        still waiting never starts; a running one stops at its page's stop request (Cancel,
        changed settings) and ends with what it has, as on the local backend."""
        if job is not None:
            self.handle.control.revoke(job)

    def get_progress(self, key):
        try:
            return self._progress(key)
        except _redis_errors():
            return None  # Redis is gone: the poll's result says so (get_result)

    def _progress(self, key):
        progress = super().get_progress(key)
        if progress is not None:
            return progress
        queued = self._redis.get(f"{QUEUED}{key}")
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
        queue is a Redis list: new messages are pushed on the left, workers take from the right."""
        messages = self._redis.lrange(QUEUE, 0, -1)  # broker and results share one Redis database
        for i, raw in enumerate(messages):
            if json.loads(raw).get("headers", {}).get("id") == job:
                return len(messages) - 1 - i
        return None
