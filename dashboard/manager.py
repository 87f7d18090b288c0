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
notes that the job's page is still there (``dashboard.admission``); a job whose page has
gone quiet stops itself.
"""

from __future__ import annotations

import psutil
from dash import CeleryManager, DiskcacheManager

from dashboard.admission import Admission


class JobManager(DiskcacheManager):
    """DiskcacheManager that tolerates a job exiting while it is stopped or looked at, and
    records each poll as a heartbeat of the job's page."""

    def __init__(self, cache, admission: Admission | None = None) -> None:
        super().__init__(cache)
        self.admission = admission

    def call_job_fn(self, key, job_fn, args, context):
        job = super().call_job_fn(key, job_fn, args, context)
        if self.admission is not None:
            self.admission.heartbeat(job, new=True)  # the page is there: it has just asked for the job
        return job

    def terminate_job(self, job) -> None:
        try:
            super().terminate_job(job)
        except psutil.NoSuchProcess:
            pass  # the job has exited: nothing is left to stop

    def job_running(self, job) -> bool:
        if self.admission is not None and job is not None:
            self.admission.heartbeat(job)
        try:
            return super().job_running(job)
        except psutil.NoSuchProcess:
            return False  # it exited after the existence check


class CeleryJobManager(CeleryManager):
    """Dash's CeleryManager (jobs on Celery workers, anywhere), recording each poll as a
    heartbeat of the job's page in Redis, where the job looks for it."""

    def __init__(self, celery_app, admission: Admission) -> None:
        super().__init__(celery_app)
        self.admission = admission

    def call_job_fn(self, key, job_fn, args, context):
        job = super().call_job_fn(key, job_fn, args, context)
        self.admission.heartbeat(job, new=True)
        return job

    def job_running(self, job) -> bool:
        if job is not None:
            self.admission.heartbeat(job)
        return bool(super().job_running(job))
