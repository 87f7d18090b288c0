"""Dash's DiskcacheManager, with one race mended.

When a background job has stored its result, the next poll reads it and stops the job
(``DiskcacheManager.get_result`` -> ``terminate_job``), then asks whether it still runs
(``job_running``). The job is exiting on its own at that moment, and in dash 4.4.1 both
let ``psutil.NoSuchProcess`` escape if the process disappears between their
``pid_exists`` check and the next psutil call. The poll then fails with HTTP 500, the
page stops polling, and the finished run never arrives: the page stays on its last live
update. Seen in ~3 of ~200 browser runs here (more often as the engine got faster), with
this traceback in the server log.
"""

from __future__ import annotations

import psutil
from dash import DiskcacheManager


class JobManager(DiskcacheManager):
    """DiskcacheManager that tolerates a job exiting while it is stopped or looked at."""

    def terminate_job(self, job) -> None:
        try:
            super().terminate_job(job)
        except psutil.NoSuchProcess:
            pass  # the job has exited: nothing is left to stop

    def job_running(self, job) -> bool:
        try:
            return super().job_running(job)
        except psutil.NoSuchProcess:
            return False  # it exited after the existence check
