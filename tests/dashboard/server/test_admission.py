"""Admission: slots held by processes, a first-come queue, stop requests, heartbeats."""

import multiprocessing
import os
import signal
import time

import pytest

from dashboard.server.admission import ABANDONED, CANCELLED, SETTINGS_CHANGED, Admission, Busy, Stopped, check_token

fork = multiprocessing.get_context("fork")
TOKEN = "0123456789abcdef" * 2


def _hold(admission, n_slots, holding, release, waits):
    """A job: wait for its slots, say so, hold them until told to release."""
    seen = []
    with admission.slot(n_slots, lambda: None, lambda ahead, _: seen.append(ahead)):
        waits.put((os.getpid(), seen))
        holding.set()
        release.wait(30)


def _job(admission, n_slots=1):
    holding, release = fork.Event(), fork.Event()
    waits = fork.Queue()
    process = fork.Process(target=_hold, args=(admission, n_slots, holding, release, waits))
    process.start()
    return process, holding, release, waits


def _queued(admission) -> int:
    return len(list((admission.directory / "queue").glob("[!.]*")))


def _until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_jobs_beyond_the_slots_wait_in_arrival_order(admission):
    first, second = _job(admission), _job(admission)
    assert first[1].wait(20)
    assert second[1].wait(20)
    assert admission.running() == 2
    third = _job(admission)
    _until(lambda: _queued(admission) == 1)
    fourth = _job(admission)
    _until(lambda: _queued(admission) == 2)
    assert not third[1].is_set() and not fourth[1].is_set()
    first[2].set()  # one slot frees: the job that came first takes it
    assert third[1].wait(20)
    time.sleep(0.3)
    assert not fourth[1].is_set()
    _, seen = third[3].get(timeout=20)
    assert seen[0] == 0  # it was first in the queue all along
    second[2].set()
    assert fourth[1].wait(20)
    _, seen = fourth[3].get(timeout=20)
    assert seen[0] == 1 and seen[-1] == 0  # "1 job ahead of you", then its turn
    for process, _, release, _ in (first, second, third, fourth):
        release.set()
        process.join(20)
    assert admission.running() == 0


def test_a_killed_job_frees_its_slot_and_its_place(admission):
    holder = _job(admission, n_slots=2)
    assert holder[1].wait(20)
    waiter = _job(admission)
    _until(lambda: _queued(admission) == 1)
    os.kill(holder[0].pid, signal.SIGKILL)  # what Cancel used to do, and Dash still does to a replaced job
    holder[0].join(20)
    assert waiter[1].wait(20)
    waiter[2].set()
    waiter[0].join(20)


def test_a_full_queue_refuses_at_once(admission):
    holders = [_job(admission, n_slots=2)]
    assert holders[0][1].wait(20)
    for n in range(1, admission.max_queued + 1):
        holders.append(_job(admission))
        _until(lambda n=n: _queued(admission) == n)
    with pytest.raises(Busy, match="3 jobs are waiting already"):
        with admission.slot(1, lambda: None, lambda *_: None):
            pass
    for _, _, release, _ in holders:
        release.set()
    for process, *_ in holders:
        process.join(20)


def test_a_stop_request_ends_the_wait(admission):
    holder = _job(admission, n_slots=2)
    assert holder[1].wait(20)
    started = time.monotonic()
    admission.request_stop(TOKEN, SETTINGS_CHANGED)
    with pytest.raises(Stopped) as info:
        with admission.slot(1, lambda: admission.stop_reason(TOKEN, started), lambda *_: None):
            pass
    assert info.value.reason == SETTINGS_CHANGED
    assert _queued(admission) == 0  # left the queue
    holder[2].set()
    holder[0].join(20)


def test_a_stop_request_is_read_whole_or_not_at_all(admission, monkeypatch):
    """The job polls the stop file between steps: it must never read it created but not yet
    written (the empty reason reads as Cancel, and the page then said "Cancelled" for a change
    of settings). The file is written aside and renamed into place."""
    seen = []
    real_replace = os.replace

    def replace(source, target):
        seen.append((admission.stop_reason(TOKEN, time.monotonic()), open(source).read()))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    admission.request_stop(TOKEN, SETTINGS_CHANGED)
    assert seen == [(None, SETTINGS_CHANGED)]  # nothing to read until the whole reason is in place
    assert admission.stop_reason(TOKEN, time.monotonic()) == SETTINGS_CHANGED
    assert [p.name for p in (admission.directory / "stop").iterdir()] == [TOKEN]


def test_stop_reasons_cancel_and_a_page_gone_quiet(admission, tmp_path):
    started = time.monotonic()
    assert admission.stop_reason(TOKEN, started) is None
    admission.request_stop(TOKEN, CANCELLED)
    assert admission.stop_reason(TOKEN, started) == CANCELLED
    admission.finished(TOKEN)
    assert admission.stop_reason(TOKEN, started) is None
    # a page quiet for longer than abandon_seconds: the quiet is made by dating the start and
    # the last heartbeat back, not by waiting (a heartbeat checked 0.2 s after it was written,
    # on a loaded machine, read as a page gone quiet)
    quiet = Admission(tmp_path / "quiet", slots=1, max_queued=1, abandon_seconds=30.0)
    assert quiet.stop_reason(TOKEN, time.monotonic() - 31.0) == ABANDONED  # never polled, started 31 s ago
    assert quiet.stop_reason(TOKEN, time.monotonic() - 29.0) is None  # never polled, started 29 s ago
    quiet.heartbeat(os.getpid(), new=True)
    assert quiet.stop_reason(TOKEN, started) is None
    poll = quiet.directory / "polls" / str(os.getpid())
    os.utime(poll, (time.time() - 31.0, time.time() - 31.0))  # its page last asked 31 s ago
    assert quiet.stop_reason(TOKEN, started) == ABANDONED
    quiet.heartbeat(os.getpid())
    assert quiet.stop_reason(TOKEN, started) is None


@pytest.mark.parametrize("token", ["../../etc/passwd", "ABC", None, 12, "0" * 31, "g" * 32])
def test_tokens_are_32_hex_digits(token):
    with pytest.raises(ValueError, match="32 hexadecimal digits"):
        check_token(token)


VISITOR, OTHER = "a" * 32, "b" * 32


def test_a_visitor_waits_for_their_own_jobs_and_others_do_not(tmp_path):
    admission = Admission(tmp_path, slots=4, max_queued=4, abandon_seconds=30, per_visitor=1)

    def never_waits(*_):
        raise AssertionError("this job should have started at once")

    with admission.slot(1, lambda: None, never_waits, visitor=VISITOR):
        waits = []
        with (
            pytest.raises(Stopped),
            admission.slot(  # a second job of one visitor waits, says so
                1, lambda: CANCELLED if waits else None, lambda ahead, _: waits.append(ahead), visitor=VISITOR
            ),
        ):
            pass
        assert waits == [1]
        with admission.slot(1, lambda: None, never_waits, visitor=OTHER):  # another visitor's starts
            assert admission.running() == 2
    with admission.slot(1, lambda: None, never_waits, visitor=VISITOR):  # the first has ended
        pass


def test_the_visitor_cookie_is_set_once_and_read_back(tmp_path):
    from flask import Flask

    from dashboard.server import visitors

    server = Flask(__name__)
    visitors.install(server, visitors.NewIdBudget(tmp_path / "visitors", 10))
    server.add_url_rule("/", "page", lambda: visitors.current() or "none")  # text/html
    client = server.test_client()
    first = client.get("/")
    assert first.text == "none"  # the first page has no cookie yet; its answer sets one
    cookie = client.get_cookie(visitors.COOKIE)
    assert visitors.VISITOR.fullmatch(cookie.value) and cookie.http_only
    second = client.get("/")
    assert second.text == cookie.value and "Set-Cookie" not in second.headers


def test_a_job_counts_for_its_signed_visitor_and_a_forged_one_for_anonymous(store):
    """The visitor is signed into a job's request with its token: a hand-made request cannot
    name another visitor, or none, to escape the per-visitor bound."""
    from flask import Flask

    from dashboard.jobs.flow import new_job, visitor_of
    from dashboard.server import visitors

    server = Flask(__name__)
    cookie = "ab" * 16
    with server.test_request_context("/", headers={"Cookie": f"{visitors.COOKIE}={cookie}"}):
        request = new_job(store)
    with server.test_request_context("/"):  # no cookie
        cookieless = new_job(store)
    assert visitor_of(store, request) == cookie and "visitor" not in cookieless
    forged = [
        {**request, "visitor": "cd" * 16},  # another visitor, with this one's signature
        {**request, "token": "0" * 32},  # the signature of another job
        {**request, "visitor_signature": "0" * 64},
        {**request, "visitor_signature": "é"},  # not ASCII: compare_digest of str would raise
        {"token": request["token"], "visitor": cookie},  # unsigned
        {**request, "visitor": "../../etc"},
        cookieless,
        "nonsense",
    ]
    assert [visitor_of(store, f) for f in forged] == [visitors.ANONYMOUS] * len(forged)


def test_a_new_request_stops_the_running_job_it_replaces(store):
    from dashboard.jobs.flow import stop_replaced
    from dashboard.server.admission import REPLACED

    started = time.monotonic()
    stop_replaced(store, False, {"token": TOKEN})  # its Run button is enabled: it has ended
    stop_replaced(store, True, None)  # no job yet
    stop_replaced(store, True, {"token": "not a token"})
    assert store.admission.stop_reason(TOKEN, started) is None
    stop_replaced(store, True, {"token": TOKEN})
    assert store.admission.stop_reason(TOKEN, started) == REPLACED


def test_jobs_waiting_for_their_visitors_turn_count_toward_the_queue_bound(tmp_path):
    """Every request without a valid visitor shares one visitor: its waiting jobs must not be
    unbounded (each is a process), so they count toward max_queued with the server's queue."""
    import threading

    admission = Admission(tmp_path, slots=2, max_queued=1, abandon_seconds=30, per_visitor=1)
    waiting, done = threading.Event(), threading.Event()
    errors = []

    def second_job():
        try:
            with admission.slot(1, lambda: CANCELLED if done.is_set() else None, lambda *_: waiting.set(), visitor="v"):
                pass
        except Stopped:
            pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with admission.slot(1, lambda: None, lambda *_: None, visitor="v"):  # the visitor computes one job
        thread = threading.Thread(target=second_job)
        thread.start()
        assert waiting.wait(10)  # the second waits for the visitor's turn, though a slot is free
        with pytest.raises(Busy), admission.slot(1, lambda: None, lambda *_: None, visitor="v"):
            pass  # a third: the queue (one place) is full
        with admission.slot(1, lambda: None, lambda *_: None, visitor="w"):
            pass  # another visitor's job takes the free slot at once
        done.set()
        thread.join(10)
    assert not thread.is_alive() and errors == []


def _coordinate(admission, holding, release):
    """A map's coordinator with Celery: holds its place while its cells run elsewhere."""
    with admission.slot(2, lambda: None, lambda *_: None, coordinator=True) as handed:
        assert handed == 2  # the chunking it asked for
        holding.set()
        release.wait(30)


def test_a_coordinator_that_only_waits_leaves_the_compute_slots_to_the_workers(admission):
    """The deadlock of the compose layout: a map's coordinator took every compute slot, then
    waited for its cells, whose workers waited for those slots. Now coordinators hold a slot of
    their own pool; the workers' jobs still get both compute slots."""
    holding, release = fork.Event(), fork.Event()
    coordinator = fork.Process(target=_coordinate, args=(admission, holding, release))
    coordinator.start()
    try:
        assert holding.wait(20)
        assert admission.running() == 0
        first, second = _job(admission), _job(admission)  # a worker's runs: both start at once
        assert first[1].wait(20) and second[1].wait(20)
        assert admission.running() == 2
        for job in (first, second):
            job[2].set()
            job[0].join(20)
    finally:
        release.set()
        coordinator.join(20)


def test_coordinators_wait_in_their_own_queue(admission):
    """Twice the compute slots of coordinators at once; the next waits in its own queue, not
    ahead of (or behind) the computing jobs."""
    started = []
    for _ in range(2 * admission.slots):
        holding, release = fork.Event(), fork.Event()
        process = fork.Process(target=_coordinate, args=(admission, holding, release))
        process.start()
        started.append((process, holding, release))
    extra_holding, extra_release = fork.Event(), fork.Event()
    extra = fork.Process(target=_coordinate, args=(admission, extra_holding, extra_release))
    try:
        assert all(h.wait(20) for _, h, _ in started)
        extra.start()
        _until(lambda: len(list((admission.directory / "coordinator-queue").glob("[!.]*"))) == 1)
        assert not extra_holding.is_set() and _queued(admission) == 0
        job = _job(admission)  # a computing job passes the waiting coordinator
        assert job[1].wait(20)
        job[2].set()
        job[0].join(20)
        started[0][2].set()
        assert extra_holding.wait(20)  # a coordinator's end lets the next one in
    finally:
        for process, _, release in [*started, (extra, None, extra_release)]:
            release.set()
            if process.pid is not None:
                process.join(20)


def test_a_chunked_job_sending_its_chunks_to_celery_is_a_coordinator(store, monkeypatch):
    import contextlib
    import dataclasses

    from dashboard.jobs.runner import Control, Plan

    asked = []

    @contextlib.contextmanager
    def slot(n_slots, should_stop, on_wait, *, visitor=None, coordinator=False):
        asked.append(coordinator)
        yield n_slots

    celery = dataclasses.replace(store, admission=dataclasses.replace(store.admission, redis_url="redis://127.0.0.1:9"))
    for jobs in (store, celery):
        monkeypatch.setattr(type(jobs.admission), "slot", lambda self, *a, **k: slot(*a, **k))
    monkeypatch.setattr(type(celery), "_chunks_on_workers", lambda self: contextlib.nullcontext())
    record = type("Record", (), {"cancelled": True})()
    for jobs, chunked in ((celery, True), (celery, False), (store, True)):
        plan = Plan(f"test:{chunked}:{jobs is celery}", lambda control, held: record, 2, chunked=chunked)
        jobs.compute(plan, Control(jobs.admission, None, lambda *_: None), lambda *_: None)
    assert asked == [True, False, False]  # only a map sending its cells to the workers waits aside


def test_one_visitors_waiting_jobs_are_bounded_and_told_their_place(tmp_path):
    """The defect: one cookie with 14 jobs took 2 slots and all 8 queue places (everyone else
    saw "busy"), and "n jobs ahead of you" printed the cap, not the place."""
    import threading

    admission = Admission(tmp_path, slots=4, max_queued=8, abandon_seconds=30, per_visitor=2)
    places, waiting, release = {}, {}, threading.Event()

    def wait_in_line(name):
        waiting[name] = threading.Event()
        stop = lambda: CANCELLED if release.is_set() else None  # noqa: E731

        def told(ahead, _):
            places[name] = ahead
            waiting[name].set()

        with pytest.raises(Stopped), admission.slot(1, stop, told, visitor=VISITOR):
            pass

    with (
        admission.slot(1, lambda: None, lambda *_: None, visitor=VISITOR),
        admission.slot(1, lambda: None, lambda *_: None, visitor=VISITOR),
    ):
        threads = []
        for name in ("third", "fourth"):
            threads.append(threading.Thread(target=wait_in_line, args=(name,)))
            threads[-1].start()
            assert _wait_event(waiting, name)  # in line before the next one comes
        assert places == {"third": 2, "fourth": 3}  # behind the two computing, then in order
        with pytest.raises(Busy, match="you have 2 jobs waiting already"):
            with admission.slot(1, lambda: None, lambda *_: None, visitor=VISITOR):
                pass
        with admission.slot(1, lambda: None, lambda *_: None, visitor=OTHER):  # others still start
            pass
        release.set()
        for thread in threads:
            thread.join(20)


def _wait_event(events: dict, name: str, timeout: float = 20.0) -> bool:
    _until(lambda: name in events)
    return events[name].wait(timeout)
