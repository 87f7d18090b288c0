"""A whole Celery worker killed mid-map (its main process and its pool, as a vanished host):
the map completes in time proportionate to the work, with the same numbers, and its page
says that cells were sent again (issue 21: the map read "112 of 120 cells · ~1 s left" for
the 5 minutes of Redis's visibility timeout, after which Redis handed the cells out again)."""

import os
import re
import signal
import threading
import time
from types import SimpleNamespace

import numpy as np
import psutil

from cluster import CeleryExecutor, make_celery
from cluster import executor as executor_module
from cluster.celery_app import seal, unseal
from cluster.executor import WORKER_SILENT, WORKER_STOPPED
from cluster.local import celery_workers, redis_server
from dashboard.jobs import flow
from dashboard.jobs.runner import Jobs
from dashboard.server.admission import Admission
from dashboard.state import rules
from dashboard.state.rules import Limits
from dashboard.views import regimes

VISIBILITY = 300  # the default (cluster.celery_app.VISIBILITY_SECONDS), set explicitly
# far less than the visibility timeout, and several times what the map takes here after the kill
BOUND_SECONDS = 120
ABANDON_SECONDS = 3600.0
VALUES = {**rules.run_values(rules.default_values())}
MAP = {"map": "eta-seed", "eta_min": 0.1, "eta_max": 5.0, "eta_points": 6, "inits": 4, "map_steps": 4000}
# the killed worker's chunk is sent again as its worker's (it was seen to start it) or, when the
# worker died before the coordinator saw it start the chunk (on a loaded machine), as a silent one
SENT_AGAIN = re.compile(rf"· \d+ cells? sent again \(({WORKER_STOPPED}|{WORKER_SILENT})\)$")


def _request(token: str) -> dict:
    return {"kind": "map", "values": VALUES, "extra": MAP, "token": token}


def test_a_map_whose_worker_vanishes_completes_soon_says_so_and_equals_the_faultless_one(tmp_path, monkeypatch):
    monkeypatch.setenv("WSD_CELERY_VISIBILITY_SECONDS", str(VISIBILITY))  # the coordinator's Celery app
    secret = "r" * 32
    local = Jobs(tmp_path / "local", 64, Admission(tmp_path / "local-admission", 2, 8, 30.0), Limits(rate=1e5), b"k")
    _, reference, _, message = regimes.map_job(local, _request("ab" * 16), lambda update: None)
    assert message == "", message
    with redis_server() as url, celery_workers(url, secret, n=2, WSD_CELERY_VISIBILITY_SECONDS=str(VISIBILITY)) as w:
        # no page polls here: a job is not to be stopped as abandoned while the test waits
        admission = Admission(tmp_path / "admission", 2, 8, ABANDON_SECONDS, redis_url=url)
        # nor stopped at the time limit: the old code waited out the visibility timeout
        store = Jobs(tmp_path / "results", 64, admission, Limits(rate=1e5, max_seconds=3600.0), secret.encode())
        app, labels, killed = make_celery(url, secret), [], []

        def progress(update) -> None:
            labels.append(update[0])
            if not killed:
                killed.extend(_kill_a_busy_worker(app, w.processes))

        figure, finished, label, message = _bounded(lambda: regimes.map_job(store, _request("cd" * 16), progress))
        ended = time.monotonic()
    assert killed, "no worker was busy at the first cell"
    assert message == "" and label.startswith("6 learning rates · done in "), (label, message)
    # proportionate: the map ends well within the visibility timeout (the old code waited it out)
    assert ended - killed[0] < BOUND_SECONDS, f"the map took {ended - killed[0]:.0f} s after the kill"
    news = [text for text in labels if SENT_AGAIN.search(text)]
    assert news, f"no label said that cells were sent again: {labels}"
    # the same numbers, bit for bit, as the map without faults (computed on this machine)
    got, want = flow.record_for(store, "map", finished), flow.record_for(local, "map", reference)
    assert got.done.all() and not got.cancelled
    for name in ("value", "share", "diverged", "done"):
        assert getattr(got, name).tobytes() == getattr(want, name).tobytes(), name
    np.testing.assert_array_equal(got.etas, want.etas)


def _kill_a_busy_worker(app, processes) -> list[float]:
    """SIGKILL to the whole of a worker computing a chunk (main process and pool), as its host
    vanishing would; [when] or [] if none is busy. Its process group is the test's own (the
    workers are started without a session of their own), so its processes are killed by pid."""
    # limit: the answer as soon as every worker has replied (not after the whole timeout, in
    # which the busy worker's cell could finish and nothing would be left to send again)
    for name, tasks in (app.control.inspect(timeout=5.0, limit=len(processes)).active() or {}).items():
        if tasks and any(app.AsyncResult(task["id"]).state != "SUCCESS" for task in tasks):
            main = processes[int(name.split("-")[0][1:])]  # w<i>-<pid>@host
            victims = [psutil.Process(main.pid), *psutil.Process(main.pid).children(recursive=True)]
            for victim in victims:
                os.kill(victim.pid, signal.SIGKILL)
            assert all(_gone(victim) for victim in victims), "a killed worker process is still running"
            return [time.monotonic()]
    return []


def _gone(process: psutil.Process, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not process.is_running() or process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _bounded(call, timeout: float = BOUND_SECONDS + 60):
    """``call()`` in a thread; still running after ``timeout`` s fails the test (the old code
    waited for the visibility timeout)."""
    out = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert out, f"the map was still running {timeout:.0f} s after it started: the killed worker's cells wait for Redis"
    return out[0]


class _FakeCelery:
    """What the executor asks of Celery and Redis, in memory: every task is taken at once by
    the worker ``host`` (STARTED), and finishes when the test says; ``alive`` says whether
    that worker answers a ping."""

    def __init__(self) -> None:
        self.lock, self.sent, self.results, self.revoked, self.pings = threading.Lock(), [], {}, [], []
        self.alive = True
        self.backend = self.client = self
        self.control = SimpleNamespace(revoke=self._revoke, ping=self._ping)
        self.chunk_key = b"a key"

    def send_task(self, name, args):
        task_id = f"task-{len(self.sent)}"
        with self.lock:
            self.sent.append((task_id, unseal(args[0], self.chunk_key)))
            self.results[task_id] = {"status": "STARTED", "result": {"hostname": "w0@host", "pid": 1}}
        return SimpleNamespace(id=task_id)

    def finish(self, task_id: str) -> None:
        with self.lock:
            fn, args = dict(self.sent)[task_id]
            self.results[task_id] = {"status": "SUCCESS", "result": seal((True, fn(*args)), self.chunk_key)}

    def _revoke(self, task_id, terminate=False):
        self.revoked.append((task_id, terminate))

    def _ping(self, destination, timeout):
        self.pings.append(destination)
        return [{name: {"ok": "pong"}} for name in destination] if self.alive else []

    def get_key_for_task(self, task_id):
        return task_id

    def mget(self, keys):
        with self.lock:
            return [self.results.get(key) for key in keys]

    def info(self, section):
        return {"run_id": "one"}

    def decode_result(self, raw):
        return raw

    def forget(self, task_id):
        pass

    def as_uri(self):
        return "redis://127.0.0.1:6379/0"


def _until(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.01)


def test_an_overdue_task_is_sent_again_only_if_its_worker_does_not_answer(monkeypatch):
    """Overdue (taken 3x as long ago as the longest finished, plus the slack): a worker that
    answers its ping keeps its task; one that does not has it sent again, the first answer
    settles the future and the other copy is revoked."""
    monkeypatch.setattr(executor_module, "OVERDUE_SLACK_SECONDS", 0.2)
    fake = _FakeCelery()
    executor = CeleryExecutor(fake)
    quick, slow = executor.submit(abs, -1), executor.submit(abs, -2)
    fake.finish(quick.task_id)
    assert quick.result(timeout=20) == 1  # the longest finished task: ~0 s, so overdue after ~0.2 s
    _until(lambda: len(fake.pings) >= 2, "the overdue task's worker is pinged (again, after more time)")
    assert slow.task_ids == ["task-1"] and slow.sent_again is None  # it answers: not sent again
    fake.alive = False
    _until(lambda: len(slow.task_ids) == 2, "the task of a worker that does not answer is sent again")
    assert slow.sent_again == "a worker stopped" and ("task-1", False) in fake.revoked
    fake.finish("task-2")
    assert slow.result(timeout=20) == 2
    _until(lambda: ("task-1", True) in fake.revoked, "the copy that lost is revoked")
    executor.shutdown()
