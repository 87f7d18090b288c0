"""Redis gone in the middle of a run: the page's next poll says the result is lost, rather
than failing with HTTP 500 (after which the page stopped and waited in silence). Gone in the
middle of a map, coordinated on the web server: the page goes on polling, and the
coordinator ends, frees its slot and says why (issue 21: it waited for ever, and the page's
poll was answered with nothing)."""

import os
import threading
import time

import numpy as np
import psutil
from dash.exceptions import BackgroundCallbackError

from cluster import make_celery
from cluster.local import celery_workers, redis_server
from core.config import RunConfig
from core.experiments.maps import run_map
from dashboard.jobs.flow import error_message
from dashboard.jobs.runner import Jobs, Plan, execute
from dashboard.server import cache
from dashboard.server.admission import Admission
from dashboard.server.manager import REDIS_LOST, CeleryJobManager, JobManager
from dashboard.state.rules import Limits

TASK = "0123abcd-0123-4567-89ab-0123456789ab"


def _kill_server_on(url: str) -> None:
    port = url.rsplit(":", 1)[1].split("/")[0]
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "redis-server" and f":{port}" in " ".join(process.info["cmdline"] or []):
            process.kill()
            process.wait(5)
            return
    raise AssertionError(f"no redis-server on port {port}")


def test_a_poll_after_redis_died_reports_the_result_lost(tmp_path):
    with redis_server() as url:
        manager = CeleryJobManager(make_celery(url, "0" * 64), Admission(tmp_path, 2, 8, 30.0, redis_url=url))
        assert manager.get_result("key", TASK) is manager.UNDEFINED  # Redis is there: no result yet
        _kill_server_on(url)
        assert manager.get_progress("key") is None
        lost = manager.get_result("key", TASK)
        assert not manager.job_running(TASK) and manager.get_updated_props("key") == {}
    message = lost["background_callback_error"]["msg"]
    assert message.startswith(REDIS_LOST) and message.endswith("Press Run again once Redis is back.")
    # what the page shows: Dash wraps the message, the app's error handler unwraps it
    shown = error_message(BackgroundCallbackError(f"An error occurred inside a background callback: {message}\n"))
    assert shown == message


def test_a_poll_of_a_job_on_this_server_goes_on_without_redis(tmp_path):
    """A map's page polls its coordinator, a process of this server, whose heartbeats go to
    Redis: without Redis the heartbeat is lost but the poll answers (it raised, and Dash
    answered HTTP 204: the page stopped listening)."""
    with redis_server() as url:
        manager = JobManager(cache.jobs_store(tmp_path / "jobs"), Admission(tmp_path, 2, 8, 30.0, redis_url=url))
        coordinator = os.getpid()  # a running process stands for the map's coordinator
        manager.adopt(coordinator)  # as call_job_fn records the processes it starts
        assert manager.job_running(coordinator)
        _kill_server_on(url)
        assert manager.job_running(coordinator)


def test_a_map_coordinator_that_loses_redis_ends_says_why_and_frees_its_slot(tmp_path):
    """Redis killed as the first cells come back: the coordinator, waiting on the others,
    sees it at its next stop check (no chunk need finish) and ends with the lost-Redis
    message; its slot is free for the next job."""
    secret = "m" * 32
    with redis_server() as url, celery_workers(url, secret, n=1):
        admission = Admission(tmp_path / "admission", 1, 4, 30.0, redis_url=url)
        store = Jobs(tmp_path / "results", 64, admission, Limits(rate=1e5), secret.encode())
        config, etas, seeds = RunConfig(n_steps=3000), np.geomspace(0.1, 5.0, 8), np.arange(4)
        plan = Plan("a-map", lambda control, held: run_map("eta-seed", config, etas, seeds, on_progress=control))
        killed = []

        def report(done, total, elapsed, *partial):
            if not killed:
                _kill_server_on(url)
                killed.append(time.monotonic())

        outcome = _bounded(lambda: execute(store, plan, "ab" * 16, report, lambda *wait: None, 0.0), 60)
        # found at a stop check, not after the executor's OUTAGE_SECONDS (30 s) without Redis
        assert killed and time.monotonic() - killed[0] < 20.0
        assert outcome.record is None and outcome.message.startswith(REDIS_LOST), outcome.message
        assert outcome.message.endswith("Press Run again once Redis is back.")
        assert admission.running() == 0


def _bounded(call, timeout: float):
    """``call()`` in a thread; still running after ``timeout`` s fails the test (the old code hung)."""
    out = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert out, f"still waiting after {timeout:.0f} s"
    return out[0]
