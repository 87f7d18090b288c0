"""Dash's private parts and defects, in one place (written against dash 4.4.1).

Each entry names what it relies on and why; tests/dashboard/server/test_compat.py shows, for each,
that stock Dash still needs it. ``dashboard.server.manager`` builds the lab's managers (the
pages' heartbeats, news of a queued job) on the mended ones here.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import psutil
from dash import CeleryManager, Dash, DiskcacheManager

log = logging.getLogger(__name__)

# The event dcc.Location listens to for an address changed by history.pushState (dash 4.4.1:
# dash_core_components.js, ``window.addEventListener("_dashprivate_pushstate", ...)``). The
# page pushes its own address (dashboard.page.sync: an output to the URL would close a loop
# of callbacks that Dash's renderer holds back during any other callback, so that nothing
# typed during a run would register); Dash offers no public way to tell Location of it.
PUSHSTATE_EVENT = "_dashprivate_pushstate"


def background_error(message: str) -> dict[str, dict[str, str]]:
    """A manager's poll answer that Dash hands, as an error, to the app's ``on_error``.

    dash 4.4.1 (``dash._callback._handle_rest_background_callback``) raises a
    BackgroundCallbackError from a result of this shape; it is how a job's own exception
    reaches the page, and the only way a manager can send the page a message. Used for a
    result that cannot come (a job ended without one, Redis lost)."""
    return {"background_callback_error": {"msg": message, "tb": ""}}


class PageConfigDash(Dash):
    """Dash whose page config (the JSON in every page) passes through ``filter_page_config``.

    dash 4.4.1 builds it in the private ``Dash._config`` and has no option to leave out
    ``python_version`` (the server's exact Python build, with its compiler)."""

    def filter_page_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return config

    def _config(self) -> dict[str, Any]:
        return self.filter_page_config(super()._config())


class MendedDiskcacheManager(DiskcacheManager):
    """DiskcacheManager that starts job processes from ``processes`` and survives a job that
    exits while it is stopped or looked at.

    - ``processes``: a ``multiprocess`` context. dash 4.4.1's ``call_job_fn`` starts
      ``multiprocess.Process``, of the default start method (fork), and takes no context;
      the lab starts its jobs from a fork server (dashboard.server.worker) without changing
      the start method of the whole process. The copy below uses Dash's private
      ``_make_progress_key``, as Dash's own does.
    - ``terminate_job`` and ``job_running``: dash 4.4.1 checks ``psutil.pid_exists`` and
      then asks psutil about the process; a job exiting in between (as it does right after
      storing its result) raises ``psutil.NoSuchProcess`` into the poll, which answers HTTP
      500, and the page stops polling: the finished run never arrives (~3 of ~200 browser
      runs here).
    """

    def __init__(self, cache: Any, processes: Any = None) -> None:
        super().__init__(cache)
        self.processes = processes

    def call_job_fn(self, key: str, job_fn: Any, args: Any, context: Any) -> int:
        if self.processes is None:
            return int(super().call_job_fn(key, job_fn, args, context))
        process = self.processes.Process(target=job_fn, args=(key, self._make_progress_key(key), args, context))
        process.start()
        return int(process.pid)

    def terminate_job(self, job: Any) -> None:
        with contextlib.suppress(psutil.NoSuchProcess):  # it has exited: nothing is left to stop
            super().terminate_job(job)

    def job_running(self, job: Any) -> bool:
        try:
            return bool(super().job_running(job))
        except psutil.NoSuchProcess:
            return False  # it exited after the existence check


class MendedCeleryManager(CeleryManager):
    """CeleryManager that revokes a job's task without killing its process.

    dash 4.4.1 "terminates" (revoke with SIGTERM) a job whose result it has just read, while
    the task may still be returning: the killed process puts the finished task back in the
    queue (late acks, cluster.celery_app) and it runs again. A task still waiting never
    starts; a running one stops at its page's stop request."""

    def terminate_job(self, job: Any) -> None:
        if job is not None:
            self.handle.control.revoke(job)


class ReadsResultAgain:
    """A manager mixin: a poll whose job stored its result and ended between Dash's two reads
    still gets the result. Needs ``_still_running(job)`` (the manager's own look at the job).

    A poll in dash 4.4.1 reads the job's result (``get_result``), then asks whether the job
    still runs (``job_running``); a job that stores its result and ends between the two looks
    cancelled, and Dash answers the page with nothing (HTTP 204): the page stops polling and
    the finished job never arrives (~1 of 250 runs under load; 2 of 30 Celery runs). A job
    stores its result before it ends, so when there is no result and the job has ended, the
    result is read once more; ``job_running`` then answers what ``get_result`` saw.
    ``ended_without_result`` is the page's message for a job that ended with none."""

    UNDEFINED: Any
    ended_without_result = "The job ended without a result (its process exited): press Run again."

    def _still_running(self, job: Any) -> bool:
        raise NotImplementedError

    def get_result(self, key: str, job: Any) -> Any:
        _seen_running.jobs = set()  # what an earlier poll in this thread saw does not count
        result = super().get_result(key, job)  # type: ignore[misc]
        if result is not self.UNDEFINED or job is None:
            return result
        if self._still_running(job):
            _seen_running.jobs = {job}  # this poll's answer (job_running reads it, not the job again)
            return result
        result = super().get_result(key, job)  # type: ignore[misc]
        if result is self.UNDEFINED:  # it ended without one: say so, not a silent page
            log.error("job %s ended without a result", job)
            return background_error(self.ended_without_result)
        return result

    def _running_in_this_poll(self, job: Any) -> bool:
        """Whether ``job`` runs, as this poll's ``get_result`` saw it (else looked at now)."""
        seen: set[Any] = getattr(_seen_running, "jobs", set())
        _seen_running.jobs = set()
        return job in seen or self._still_running(job)


_seen_running = threading.local()  # per request thread: the job get_result saw running
