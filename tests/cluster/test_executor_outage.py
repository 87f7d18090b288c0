"""CeleryExecutor through a lost Redis: it carries on when Redis comes back holding its tasks,
and fails the pending futures, with a message, when Redis stays away or comes back without
them; a map never waits for ever (issue 21: the result thread died on the first
ConnectionError and the map waited for good)."""

import contextlib
import json
import math
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from types import SimpleNamespace

import numpy as np
import pytest
import redis

from cluster import CeleryExecutor, make_celery
from cluster import executor as executor_module
from cluster.celery_app import seal, unseal
from cluster.compat import task_id as queued_task_id
from cluster.compat import unacked_task_id
from cluster.executor import RedisLost
from cluster.local import celery_workers, free_port
from core.config import RunConfig
from core.experiments.maps import run_map

REFUSED = "Error 111 connecting to 127.0.0.1:6379. Connection refused."


class _FakeRedis:
    """What the executor asks of Celery and Redis, in memory, behind one lock. A sent task is
    queued and computed at once, its answer kept aside until ``finish()`` stores it, as a
    worker would. From the first MGET on, ``failures`` round trips fail (None: every one).
    ``restart(keeps)`` stands for another server process, holding the task only where
    ``keeps`` says: "its result" (STARTED), "the queue", "a worker's hands" or "nowhere"."""

    def __init__(self, failures: int | None = 0) -> None:
        self.lock, self.failures, self.polled = threading.Lock(), failures, False
        self.run_id, self.answers, self.results, self.queue, self.unacked = "first", {}, {}, [], {}
        self.backend = self.client = self
        self.conf = SimpleNamespace(task_default_queue="celery", broker_transport_options={})
        self.control = SimpleNamespace(revoke=lambda *args, **kwargs: None)
        self.chunk_key = b"a key"

    def send_task(self, name, args):
        fn, fn_args = unseal(args[0], self.chunk_key)
        task_id = str(uuid.uuid4())
        with self.lock:
            self.answers[task_id] = {"status": "SUCCESS", "result": seal((True, fn(*fn_args)), self.chunk_key)}
            self.queue.append(_message(task_id))
        return SimpleNamespace(id=task_id)

    def finish(self) -> None:
        with self.lock:
            self.results.update(self.answers)
            self.queue.clear()

    def restart(self, keeps: str) -> None:
        with self.lock:
            self.run_id, self.results, self.queue, self.unacked = "second", {}, [], {}
            for task_id in self.answers:
                if keeps == "its result":
                    self.results[task_id] = {"status": "STARTED", "result": None}
                elif keeps == "the queue":
                    self.queue.append(_message(task_id))
                elif keeps == "a worker's hands":
                    self.unacked[task_id] = json.dumps([json.loads(_message(task_id)), "", "celery"]).encode()

    def _round_trip(self) -> None:
        if self.polled and (self.failures is None or self.failures > 0):
            self.failures = None if self.failures is None else self.failures - 1
            raise redis.exceptions.ConnectionError(REFUSED)

    def get_key_for_task(self, task_id):
        return task_id

    def mget(self, keys):
        with self.lock:
            self.polled = True
            self._round_trip()
            return [self.results.get(key) for key in keys]

    def info(self, section):
        with self.lock:
            self._round_trip()
            return {"run_id": self.run_id}

    def lrange(self, name, start, end):
        with self.lock:
            return list(self.queue) if name == "celery" else []

    def hvals(self, name):
        with self.lock:
            return list(self.unacked.values()) if name == "unacked" else []

    def decode_result(self, raw):
        return raw

    def forget(self, task_id):
        with self.lock:
            self._round_trip()
            self.results.pop(task_id, None)

    def as_uri(self):
        return "redis://127.0.0.1:6379/0"


def _message(task_id: str) -> bytes:
    """A task message as kombu queues it in Redis (the parts the executor reads)."""
    return json.dumps({"body": "...", "headers": {"id": task_id, "task": "wsd.train_chunk"}, "properties": {}}).encode()


def test_the_results_come_after_a_few_failed_round_trips():
    fake = _FakeRedis(failures=5)
    executor = CeleryExecutor(fake)
    futures = [executor.submit(math.sqrt, x) for x in (4.0, 9.0)]
    fake.finish()
    assert [f.result(timeout=10) for f in futures] == [2.0, 3.0]
    assert fake.failures == 0


def test_the_futures_fail_when_redis_stays_away():
    fake = _FakeRedis(failures=None)
    executor = CeleryExecutor(fake, outage_seconds=0.3)
    started = time.monotonic()
    futures = [executor.submit(math.sqrt, x) for x in (4.0, 9.0)]
    fake.finish()  # stored, but never read: Redis does not answer
    for future in futures:
        with pytest.raises(RedisLost, match=r"lost the connection to Redis at redis://127\.0\.0\.1:6379/0 .*lost"):
            future.result(timeout=10)
    assert time.monotonic() - started < 10.0  # after outage_seconds (0.3 s), not the default 30 s
    assert "Connection refused" in str(futures[0].exception())
    executor.shutdown(wait=True)  # the result thread has ended


def test_a_worker_that_lost_redis_as_it_stored_the_answer_fails_the_future_with_redis_lost():
    """A worker computed its chunk, Redis restarted under it, and it stored the failure to store
    the answer once Redis was back (Celery's "exception raised outside body": seen in CI in
    the map test below): the future fails with RedisLost, as for the executor's own outages;
    any other failure outside the task's body is passed on as it is."""
    fake = _FakeRedis()
    fake.exception_to_python = lambda raw: raw
    executor = CeleryExecutor(fake)
    lost, other = executor.submit(math.sqrt, 4.0), executor.submit(math.sqrt, 9.0)
    with fake.lock:
        fake.results[lost.task_id] = {"status": "FAILURE", "result": redis.exceptions.ConnectionError("network")}
        fake.results[other.task_id] = {"status": "FAILURE", "result": TypeError("bad signature")}
    with pytest.raises(
        RedisLost, match=r"lost the connection to Redis at redis://127\.0\.0\.1:6379/0 before it could store"
    ):
        lost.result(timeout=10)
    with pytest.raises(TypeError, match="bad signature"):
        other.result(timeout=10)
    executor.shutdown(wait=True)


@pytest.mark.parametrize("keeps", ["nowhere", "its result", "the queue", "a worker's hands"])
def test_after_a_restart_only_the_tasks_redis_lost_fail(keeps, monkeypatch):
    """Redis restarts during an outage. Without the task, it can never finish and its future
    fails; holding it (its result started, its message queued or taken by a worker), the
    future waits on and gets the answer when the worker stores it."""
    monkeypatch.setattr(executor_module, "RECHECK_SECONDS", 0.05)
    fake = _FakeRedis(failures=3)
    executor = CeleryExecutor(fake)
    future = executor.submit(math.sqrt, 4.0)
    fake.restart(keeps)
    if keeps == "nowhere":
        with pytest.raises(RedisLost, match="came back without 1 of the pending tasks"):
            future.result(timeout=10)
        return
    _wait_until(lambda: fake.failures == 0 and executor._run_id == "second")  # looked at after the restart
    assert not future.done()
    fake.finish()
    assert future.result(timeout=10) == 2.0


def test_a_restart_seen_by_no_failed_round_trip_is_found(monkeypatch):
    """redis-py reconnects by itself, so a quick restart may fail no round trip of the
    executor (seen with a real server): the run_id, asked every RESTART_CHECK_SECONDS, tells."""
    monkeypatch.setattr(executor_module, "RESTART_CHECK_SECONDS", 0.1)
    monkeypatch.setattr(executor_module, "RECHECK_SECONDS", 0.05)
    fake = _FakeRedis(failures=0)
    future = CeleryExecutor(fake).submit(math.sqrt, 4.0)
    fake.restart("nowhere")
    with pytest.raises(RedisLost, match="came back without"):
        future.result(timeout=10)


def test_a_replaced_copy_revoked_on_its_way_does_not_fail_the_chunk():
    """An overdue task is sent again and the original revoked; a worker that takes the
    original after all stores it as REVOKED. The future waits for its newest copy (it was
    failed with TaskRevokedError while the copy still computed: seen under load in
    tests/cluster/test_distributed.py)."""
    fake = _FakeRedis()
    executor = CeleryExecutor(fake)
    future = executor.submit(math.sqrt, 4.0)
    original = future.task_id
    copy = executor._send(future)  # as _send_overdue_again does
    with fake.lock:
        fake.results[original] = {"status": "REVOKED", "result": None}
    _wait_until(lambda: original not in executor._pending)  # the poller has read the revocation
    assert not future.done() and copy in executor._pending
    fake.finish()
    assert future.result(timeout=10) == 2.0


# a task that computes until the test opens its gate (a file appears; at most 120 s): its
# place in Redis does not depend on how fast the machine is (tasks of 1.5 s could finish, and
# the third be taken, between the test's reads on a loaded machine). A command, so that the
# workers need nothing of the tests to unpickle it.
_GATED = 'i=0; while [ ! -e "$0" ] && [ "$i" -lt 2400 ]; do sleep 0.05; i=$((i + 1)); done'


def test_the_known_tasks_are_found_in_a_real_redis(cluster, tmp_path):
    """What a restart check reads (the queue, the unacknowledged messages, the results), on
    a real Redis and two workers: two tasks running, one queued, and one Redis never saw."""
    executor = CeleryExecutor(make_celery(cluster.url, cluster.secret))
    gate = tmp_path / "gate"
    futures = [executor.submit(subprocess.call, ["sh", "-c", _GATED, str(gate)]) for _ in range(3)]
    try:
        ids = [future.task_id for future in futures]
        client = executor.app.backend.client

        def held() -> set:
            return {unacked_task_id(raw) for raw in client.hvals("unacked")} & set(ids)

        _wait_until(lambda: len(held()) == 2, 60)  # each worker has taken one
        queued = {queued_task_id(raw) for raw in client.lrange("celery", 0, -1)} & set(ids)
        assert held() | queued == set(ids)
        stranger = str(uuid.uuid4())
        assert executor._missing([*ids, stranger]) == [stranger]
    finally:
        gate.touch()  # the workers are free again, whatever happened
    for future in futures:
        assert future.result(timeout=60) == 0


@contextlib.contextmanager
def _restartable_redis():
    """A redis-server on one loopback port that ``restart()`` kills and starts again, empty."""
    port, binary = free_port(), shutil.which("redis-server")
    with tempfile.TemporaryDirectory(prefix="wsd-redis-") as workdir:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", workdir]  # fmt: skip
        server = SimpleNamespace(url=f"redis://127.0.0.1:{port}/0", process=None)

        def start():
            server.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            _wait_until(lambda: redis.Redis(port=port, socket_timeout=1).ping(), errors=(redis.ConnectionError,))

        def restart():
            server.process.kill()
            server.process.wait(10)
            start()

        server.restart = restart
        start()
        try:
            yield server
        finally:
            server.process.kill()
            server.process.wait(10)


def test_a_map_whose_redis_restarts_empty_fails_and_the_next_map_runs():
    """Redis killed and started again, empty, on its port, as the first chunk comes back: the
    map raises RedisLost (its queued chunks are gone) instead of waiting for ever, and a map
    sent afterwards completes on the same worker, which reconnects by itself."""
    secret = "r" * 32
    with _restartable_redis() as server, celery_workers(server.url, secret, n=1):
        app = make_celery(server.url, secret)
        restarted = []

        def restart_once(done, total, partial):
            if not restarted:
                server.restart()
                restarted.append(time.monotonic())

        config, etas, seeds = RunConfig(n_steps=3000), np.geomspace(0.1, 5.0, 8), np.arange(4)
        outcome = _bounded(lambda: run_map("eta-seed", config, etas, seeds, executor=CeleryExecutor(app),
                                           on_progress=restart_once), 120)  # fmt: skip
        assert restarted and isinstance(outcome, RedisLost), outcome
        # found out by the executor (no trace of the chunks in the new server) or, first, from the
        # worker that computed a chunk and lost Redis as it stored the answer
        assert "came back without" in str(outcome) or "before it could store the answer" in str(outcome)
        assert outcome.at - restarted[0] < 20.0  # found out on reconnection, not after OUTAGE_SECONDS (30 s)
        small = _bounded(lambda: run_map("eta-seed", RunConfig(n_steps=50), [0.1, 1.0], [0, 1],
                                         executor=CeleryExecutor(app)), 120)  # fmt: skip
        assert not isinstance(small, BaseException), small
        assert small.done.all()


def _bounded(call, timeout: float):
    """``call()``'s value or exception (stamped ``at``, the monotonic time it ended), in a
    thread; a call still running after ``timeout`` s fails the test (the old code hung)."""
    out = []

    def run():
        try:
            out.append(call())
        except BaseException as exc:
            exc.at = time.monotonic()
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert out, f"still waiting after {timeout:.0f} s"
    return out[0]


def _wait_until(condition, timeout: float = 20.0, errors=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(*errors):
            if condition():
                return
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout:.0f} s")
