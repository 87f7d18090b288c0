"""Dash's DiskcacheManager, with one race mended.

When a background job has stored its result, the next poll reads it and stops the job
(``DiskcacheManager.get_result`` -> ``terminate_job``). The job is exiting on its own at
that moment, and in dash 4.4.1 ``terminate_job`` lets ``psutil.NoSuchProcess`` escape if
the process disappears between its ``pid_exists`` check and ``Process.children``. The
poll then fails with HTTP 500, the page stops polling, and the finished run never
arrives: the page stays on its last live update. Seen in ~3 of ~200 browser runs here
(more often as the engine got faster), with this traceback in the server log.
"""

from __future__ import annotations

import psutil
from dash import DiskcacheManager


class JobManager(DiskcacheManager):
    """DiskcacheManager whose stopping of a job tolerates the job exiting meanwhile."""

    def terminate_job(self, job) -> None:
        try:
            super().terminate_job(job)
        except psutil.NoSuchProcess:
            pass  # the job has exited: nothing is left to stop
