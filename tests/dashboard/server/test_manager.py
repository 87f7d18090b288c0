"""The job manager: stopping a job that exits at the same moment must not fail the poll."""

import subprocess
import sys

import diskcache
import psutil
import pytest
from dash import DiskcacheManager

from dashboard.server.manager import JobManager


@pytest.fixture
def job():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def _manager(tmp_path, job) -> JobManager:
    """A JobManager that started ``job`` (as its call_job_fn records a job's process)."""
    manager = JobManager(diskcache.Cache(str(tmp_path)))
    manager.adopt(job.pid)
    return manager


def _vanishing_children(monkeypatch, job):
    """psutil as it behaves when the job exits between Dash's pid check and its kill."""

    def children(self, recursive=False):
        raise psutil.NoSuchProcess(job.pid)

    monkeypatch.setattr(psutil.Process, "children", children)


def test_stock_manager_fails_when_the_job_exits_while_being_stopped(tmp_path, monkeypatch, job):
    # the dash 4.4.1 behaviour JobManager exists for (if this fails, Dash has mended it)
    _vanishing_children(monkeypatch, job)
    with pytest.raises(psutil.NoSuchProcess):
        DiskcacheManager(diskcache.Cache(str(tmp_path))).terminate_job(job.pid)


def test_job_manager_tolerates_a_job_that_exits_while_being_stopped(tmp_path, monkeypatch, job):
    manager = _manager(tmp_path, job)
    _vanishing_children(monkeypatch, job)
    manager.terminate_job(job.pid)


def test_job_manager_still_stops_a_running_job(tmp_path, job):
    process = psutil.Process(job.pid)  # a handle that tells the job from a new process given its pid
    _manager(tmp_path, job).terminate_job(job.pid)
    assert not process.is_running()  # killed and reaped (by psutil, so Popen sees no code; a zombie would run)


def test_a_process_id_that_is_not_a_job_of_this_server_is_left_alone(tmp_path, job):
    """A page that outlived a restart names its old job's process id, which may now be any
    process's: Dash's manager killed whatever process had it (and its children)."""
    DiskcacheManager(diskcache.Cache(str(tmp_path / "stock"))).terminate_job(job.pid)  # the stock manager
    assert job.wait(10) is not None
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        manager = JobManager(diskcache.Cache(str(tmp_path)))
        manager.terminate_job(bystander.pid)
        assert manager.job_running(bystander.pid) is False and bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_job_manager_reports_a_job_that_exits_while_looked_at_as_not_running(tmp_path, monkeypatch, job):
    def status(self):
        raise psutil.NoSuchProcess(job.pid)

    monkeypatch.setattr(psutil.Process, "status", status)
    with pytest.raises(psutil.NoSuchProcess):
        DiskcacheManager(diskcache.Cache(str(tmp_path))).job_running(job.pid)
    assert _manager(tmp_path, job).job_running(job.pid) is False


def test_job_manager_sees_a_running_job(tmp_path, job):
    assert _manager(tmp_path, job).job_running(job.pid) is True


def test_a_result_stored_between_the_two_reads_of_a_poll_is_not_lost():
    """The job stores its result and ends just after the poll's first read: it reads again."""
    from dashboard.server.compat.dash_parts import ReadsResultAgain

    class Store:
        UNDEFINED = object()
        stored = False

        def get_result(self, key, job):
            return {"answer": 42} if self.stored else self.UNDEFINED

    class Manager(ReadsResultAgain, Store):
        def _still_running(self, job):
            self.stored = True  # it finished just now, its result stored first
            return False

    assert Manager().get_result("key", 7) == {"answer": 42}
    assert Store().get_result("key", 7) is Store.UNDEFINED  # without: the finished run is lost


def test_a_job_that_ended_without_a_result_says_so():
    """A job process that died before storing its result (no result, not running): the page
    gets a message (the app's error handler shows it) instead of an empty answer, after
    which it would wait in silence."""
    from dash.exceptions import BackgroundCallbackError

    from dashboard.jobs.flow import error_message
    from dashboard.server.compat.dash_parts import ReadsResultAgain
    from dashboard.server.manager import ENDED_WITHOUT_RESULT

    class Store:
        UNDEFINED = object()

        def get_result(self, key, job):
            return self.UNDEFINED

    class Manager(ReadsResultAgain, Store):
        def _still_running(self, job):
            return False

    answer = Manager().get_result("key", 7)
    message = answer["background_callback_error"]["msg"]
    assert message == ENDED_WITHOUT_RESULT
    wrapped = BackgroundCallbackError(f"An error occurred inside a background callback: {message}\n")
    assert error_message(wrapped) == ENDED_WITHOUT_RESULT
    assert Manager().get_result("key", None) is Store.UNDEFINED  # no job yet: nothing to say


def _scripted_manager(results: list, running: list):
    """A manager whose successive result reads and running checks answer from the lists, as
    the job's process or task would at those moments."""
    from dashboard.server.compat.dash_parts import ReadsResultAgain

    class Store:
        UNDEFINED = object()

        def get_result(self, key, job):
            value = results.pop(0)
            return self.UNDEFINED if value is None else value

    class Manager(ReadsResultAgain, Store):
        def _still_running(self, job):
            return running.pop(0)

        def job_running(self, job):
            return self._running_in_this_poll(job)

    return Manager()


@pytest.mark.parametrize(
    ("results", "running", "answer", "still_running"),
    [
        ([{"a": 1}], [False], {"a": 1}, False),  # stored before the poll: read
        ([None, {"a": 1}], [False, False], {"a": 1}, False),  # stored between the first read and the check
        # the defect: no result yet, running at get_result's look, finished before Dash's
        # job_running: the poll said "not running, no result", a cancelled job (HTTP 204)
        ([None], [True, False], None, True),
        ([None], [True, True], None, True),  # still computing: the page polls on
    ],
)
def test_every_order_of_a_polls_reads_keeps_a_finished_result(results, running, answer, still_running):
    manager = _scripted_manager(results, running)
    got = manager.get_result("key", 7)
    assert (got if got is not manager.UNDEFINED else None) == answer
    assert manager.job_running(7) is still_running  # Dash asks after get_result
    assert not (got is manager.UNDEFINED and not still_running)  # never "cancelled": never a silent 204


def test_the_next_poll_after_the_race_reads_the_result():
    manager = _scripted_manager([None, {"a": 1}], [True, False])
    assert manager.get_result("key", 7) is manager.UNDEFINED and manager.job_running(7)
    assert manager.get_result("key", 7) == {"a": 1}  # the next poll


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (ZeroDivisionError("division by zero"), "The job failed (ZeroDivisionError: division by zero)."),
        (
            NotADirectoryError(20, "Not a directory", "/srv/cache/results/cache.db"),
            "The job failed (NotADirectoryError).",
        ),
        (OSError("disk I/O error\nTraceback (most recent call last):"), "The job failed (OSError)."),
    ],
)
def test_a_failure_reaches_the_page_as_one_plain_sentence(error, shown):
    """The defect: a failure outside the job body put a traceback and the server's paths in the
    page (BackgroundCallbackError ... site-packages/...; '<cache dir>/results/cache.db')."""
    from dash.exceptions import BackgroundCallbackError

    from dashboard.jobs.flow import error_message

    assert error_message(error).startswith(shown)
    outside = BackgroundCallbackError(
        "An error occurred inside a background callback: [Errno 20] Not a directory: '/srv/cache/results/cache.db'\n"
        'Traceback (most recent call last):\n  File "/usr/lib/python3/site-packages/dash/x.py", line 1'
    )
    page = error_message(outside)
    assert "/" not in page.replace("w/", "") and "Traceback" not in page and "\n" not in page
    assert page.startswith("The job failed (an error in the server's job system).")
