"""The job manager: stopping a job that exits at the same moment must not fail the poll."""

import subprocess
import sys

import diskcache
import psutil
import pytest
from dash import DiskcacheManager

from dashboard.manager import JobManager


@pytest.fixture
def job():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


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
    _vanishing_children(monkeypatch, job)
    JobManager(diskcache.Cache(str(tmp_path))).terminate_job(job.pid)


def test_job_manager_still_stops_a_running_job(tmp_path, job):
    JobManager(diskcache.Cache(str(tmp_path))).terminate_job(job.pid)
    assert not psutil.pid_exists(job.pid)  # killed and reaped (by psutil, so Popen sees no code)


def test_job_manager_reports_a_job_that_exits_while_looked_at_as_not_running(tmp_path, monkeypatch, job):
    def status(self):
        raise psutil.NoSuchProcess(job.pid)

    monkeypatch.setattr(psutil.Process, "status", status)
    with pytest.raises(psutil.NoSuchProcess):
        DiskcacheManager(diskcache.Cache(str(tmp_path))).job_running(job.pid)
    assert JobManager(diskcache.Cache(str(tmp_path))).job_running(job.pid) is False


def test_job_manager_sees_a_running_job(tmp_path, job):
    assert JobManager(diskcache.Cache(str(tmp_path))).job_running(job.pid) is True
