"""The app over HTTP, as a page or a hand-made request talks to it: every job is checked on
the server, jobs beyond the slots wait, a job whose page has gone stops, crafted inputs get
a message rather than an HTTP 500."""

import json
import time

import psutil
import pytest

from app import create_app
from dashboard.server import cache
from dashboard.server.settings import Settings
from dashboard.state import rules

RUN = {**{k: v for k, v in rules.default_values().items() if k != "normalized"}}


def _request(values, token):
    return {"kind": "run", "values": values, "normalized": False, "token": token}


def _token(n: int) -> str:
    return f"{n:032x}"


def _of_visitor(client, request: dict, n: int) -> dict:
    """``request`` as the page of visitor ``n`` sends it: its visitor cookie signed in by the server."""
    import hmac
    from hashlib import sha256

    visitor = f"{n + 1:032x}"
    text = f"visitor {request['token']} {visitor}"
    signature = hmac.new(client.app.server.secret_key.encode(), text.encode(), sha256).hexdigest()
    return {**request, "visitor": visitor, "visitor_signature": signature}


@pytest.fixture
def settings(tmp_path):
    # a fixed engine rate: the 50,000 x 100 job below must not be refused on a loaded machine
    return Settings(cache_dir=tmp_path, max_jobs=1, max_queued=2, abandon_seconds=2.0, engine_rate=150_000.0)


@pytest.fixture
def client(settings, make_client):
    return make_client(create_app(settings))


def _admission(settings):
    from dashboard.server.admission import Admission

    return Admission(settings.admission_dir, settings.max_jobs, settings.max_queued, settings.abandon_seconds)


def _process(pid: int) -> psutil.Process | None:
    """The job's process, looked up once (None if it has ended already): later checks go
    through this handle, which tells the job from a new process given its pid (pids wrap
    around at 32768 here, and the machine starts thousands of processes)."""
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def _gone(process: psutil.Process | None, timeout: float = 10.0) -> bool:
    """Whether the job's ``process`` has ended (a zombie counts) within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while process is not None:
        try:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_forged_background_request_is_refused_and_trains_nothing(client, settings):
    forged = {**RUN, "eta": 1e6, "steps": 1_000_000, "hidden": 256}
    body = client.body(client.callback_key("pending"), {"pending.data": _request(forged, _token(1))})
    handles = client.start_job(body)
    job = _process(int(handles["job"].split("~")[0]))
    response, _ = client.finish_job(body, handles, timeout=60)
    refused = "Refused: Learning rate η must be a number in (0, 1000], got 1000000.0"
    assert response["run-message"]["children"] == refused
    assert _gone(job, timeout=30)
    assert _admission(settings).running() == 0
    assert len(cache.results(settings.results_dir, settings.cache_mb)) == 0


def test_jobs_beyond_the_slots_wait_in_a_visible_queue_and_cancel_from_it(tmp_path, make_client):
    """Three long runs (~25-40 s each here), one slot: the first computes until its Cancel,
    whatever the machine's speed (it was 50,000 x 10, ~4 s, which could end before its Cancel
    on a loaded machine and let the next start). The pages are not to be stopped as gone
    quiet while the test polls the three in turn (WSD_ABANDON_SECONDS 2 s elsewhere here)."""
    settings = Settings(cache_dir=tmp_path, max_jobs=1, max_queued=2, abandon_seconds=60.0, engine_rate=150_000.0)
    client = make_client(create_app(settings))
    key = client.callback_key("pending")
    long_run = {**RUN, "steps": 50_000, "perturbations": 100}
    requests = [_of_visitor(client, _request({**long_run, "seed": n}, _token(n)), n) for n in range(3)]  # 3 visitors
    bodies = [client.body(key, {"pending.data": r}) for r in requests]
    handles = [client.start_job(b) for b in bodies]

    labels = [""] * len(bodies)

    def reported():  # each poll returns the progress set since the last one, if any
        for n, (body, h) in enumerate(zip(bodies, handles, strict=True)):
            answer = client.poll(body, h).get_json() or {}
            labels[n] = answer.get("progress", {}).get("progress-label.children") or labels[n]
        return sum(label.startswith("iteration ") for label in labels) == 1 and all(labels)

    _until(reported, "one job to compute and every job to report", timeout=60)
    assert _admission(settings).running() == 1  # one slot (WSD_MAX_JOBS=1): one job computes
    assert sum(label.startswith("iteration ") for label in labels) == 1, labels
    assert sum(label.startswith("queued") for label in labels) == 2, labels
    assert any("1 job ahead of you" in label for label in labels), labels
    cancel = client.callback_key("cancel")
    for n in range(len(bodies)):  # Cancel on each page
        client.post(client.body(cancel, {"cancel.n_clicks": 1}, {"pending.data": _request(RUN, _token(n))}))
    ends = [
        client.finish_job(b, h, timeout=60)[0]["progress-label"]["children"]
        for b, h in zip(bodies, handles, strict=True)
    ]
    assert sum(end.startswith("Cancelled at iteration ") for end in ends) == 1, ends  # the one computing
    assert ends.count("Cancelled before it started") == 2, ends  # the two in the queue


def test_a_job_whose_page_stops_polling_stops_itself(client, settings):
    long_run = {**RUN, "steps": 50_000, "perturbations": 100}  # ~25-40 s of training here
    body = client.body(client.callback_key("pending"), {"pending.data": _request(long_run, _token(7))})
    handles = client.start_job(body)
    job = _process(int(handles["job"].split("~")[0]))

    def running() -> bool:  # the page polls until the job runs (a loaded machine may take over
        client.poll(body, handles)  # WSD_ABANDON_SECONDS to start it: unpolled, it gave up first)
        return _admission(settings).running() == 1

    _until(running, "the job to take its slot", timeout=60)
    # no more polls: the tab was closed. WSD_ABANDON_SECONDS is 2 here; the run would take
    # 25-40 s (and twice that on a machine twice as slow), and the empty cache below tells a
    # stopped run from a finished one
    assert _gone(job, timeout=20)
    assert _admission(settings).running() == 0
    assert len(cache.results(settings.results_dir, settings.cache_mb)) == 0  # stopped, not finished


def _until(condition, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _signed_result(client, values):
    """The result store a finished run leaves: its settings, signed with the server's key."""
    import hmac
    from hashlib import sha256

    from dashboard.jobs import plans

    key = plans.plan("run", values, None, rules.Limits(rate=1e6), 1).key
    signature = hmac.new(client.app.server.secret_key.encode(), key.encode(), sha256).hexdigest()
    return {"kind": "run", "values": values, "extra": None, "signature": signature}


def _stored_run(settings, values) -> None:
    """The record of a finished run in the server's results cache (as its job leaves it)."""
    from dashboard.jobs import plans
    from dashboard.jobs.runner import Control

    plan = plans.plan("run", values, None, rules.Limits(rate=1e6), 1)
    record = plan.work(Control(_admission(settings), None, lambda *_: None), 1)
    cache.results(settings.results_dir, settings.cache_mb).set(plan.key, record)


def test_a_crafted_data_axis_gets_a_message_not_an_error(client, settings):
    _stored_run(settings, {**RUN, "steps": 50})
    result = _signed_result(client, {**RUN, "steps": 50})
    body = client.body(
        client.callback_key("result", "data-x", "data-y"),
        {"result.data": result, "data-x.value": "99", "data-y.value": "3"},
    )
    answer = client.post(body)
    assert answer.status_code == 200
    assert answer.get_json()["response"]["data-summary"]["children"] == (
        "The feature on an axis must be a whole number from 0 to 3, got '99'."
    )


@pytest.mark.parametrize("pending", ["garbage", {"values": 5, "token": _token(3)}, [1, 2]])
def test_a_malformed_pending_store_is_refused(client, pending):
    body = client.body(client.callback_key("pending"), {"pending.data": pending})
    response, _ = client.finish_job(body, client.start_job(body), timeout=20)
    assert response["run-message"]["children"].startswith("Refused: ")


def test_an_unexpected_failure_shows_a_message(client, settings, monkeypatch):
    from dashboard.page import exports

    _stored_run(settings, {**RUN, "steps": 50})
    monkeypatch.setattr(exports, "export_csv", lambda record: 1 / 0)
    body = client.body(
        client.callback_key("export-csv", "export-npz", "export-json"),
        {"export-csv.n_clicks": 1, "export-npz.n_clicks": None, "export-json.n_clicks": None},
        {"result.data": _signed_result(client, {**RUN, "steps": 50})},
    )
    answer = client.post(body)
    assert answer.status_code == 200
    side = answer.get_json()["sideUpdate"]
    assert side["run-message"]["children"].startswith("The job failed (ZeroDivisionError")


def _side_request(kind, extra, token):
    return {"kind": kind, "values": RUN, "extra": extra, "token": token}


def test_an_ftle_sweep_runs_in_its_slots_and_its_view_draws_from_the_request(client, settings):
    body = client.body(
        client.callback_key("ftle-pending"),
        {"ftle-pending.data": _side_request("ftle", {"inits": 4, "steps": 60}, _token(9))},
    )
    response, progress = client.finish_job(body, client.start_job(body), timeout=60)
    assert response["ftle-progress"]["children"].startswith("done in ") and response["ftle-message"]["children"] == ""
    request = response["ftle-store"]["data"]
    assert {k: request[k] for k in ("kind", "values", "extra")} == {
        "kind": "ftle",
        "values": RUN,
        "extra": {"inits": 4, "steps": 60},
    }
    draw = client.body(
        client.callback_key("ftle-store", "ftle-hist-eps"), {"ftle-store.data": request, "ftle-hist-eps.value": -8}
    )
    figures = client.post(draw).get_json()["response"]
    # eta 0.01: no exponential phase, so a sentence says so instead of empty axes
    note = figures["ftle-eps-graph"]["figure"]["layout"]["annotations"][0]["text"]
    assert note.startswith("No initial network shows an exponential phase at any ε")
    assert "4 of 4" not in json.dumps(figures["ftle-table"]) and "0 of 4" in json.dumps(figures["ftle-table"])


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"inits": 0, "steps": 200}, "initial networks must be a whole number from 2 to 500, got 0"),
        ({"inits": 500, "steps": 2000}, "the limit is 60 s"),
        ({"inits": "40"}, "FTLE iterations must be a whole number from 30 to 2000, got None"),
    ],
)
def test_a_forged_ftle_request_is_refused(client, settings, extra, message):
    body = client.body(
        client.callback_key("ftle-pending"), {"ftle-pending.data": _side_request("ftle", extra, _token(5))}
    )
    response, _ = client.finish_job(body, client.start_job(body), timeout=20)
    assert message in response["ftle-message"]["children"] and "ftle-store" not in response
    assert _admission(settings).running() == 0


def _statuses_in_a_fresh_worker(cache_dir, scripts, queue):
    """A new worker's first requests: the page's scripts, at once from several threads."""
    from concurrent.futures import ThreadPoolExecutor

    server = create_app(Settings(cache_dir=cache_dir, engine_rate=150_000.0)).server
    with ThreadPoolExecutor(len(scripts)) as pool:
        queue.put(list(pool.map(lambda script: server.test_client().get(script).status_code, scripts)))


def test_a_worker_serves_the_page_scripts_before_it_has_served_the_page(tmp_path):
    """Under gunicorn the page may come from one worker and its scripts from another, which
    has not rendered the page (Dash registers the files while rendering it) and asks for them
    from several threads at once."""
    import multiprocessing
    import re

    app = create_app(Settings(cache_dir=tmp_path, engine_rate=150_000.0))
    page = app.server.test_client().get("/").get_data(as_text=True)
    scripts = re.findall(r'<script src="(/_dash-component-suites/[^"]+)"', page)
    assert len(scripts) > 3
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    worker = spawn.Process(target=_statuses_in_a_fresh_worker, args=(tmp_path, scripts, queue))
    worker.start()
    statuses = queue.get(timeout=120)
    worker.join(30)
    assert statuses == [200] * len(scripts), dict(zip(scripts, statuses, strict=True))


def test_health_reports_a_store_it_cannot_use_and_heals_a_deleted_one(client, settings):
    """The defect: with the cache directory deleted or corrupted /health said OK while runs
    failed at their first poll."""
    import shutil

    http = client.http
    assert http.get("/health").get_data(as_text=True) == "OK"
    shutil.rmtree(settings.results_dir)  # deleted: made again by the check itself
    assert http.get("/health").status_code == 200 and (settings.results_dir / "cache.db").exists()
    (settings.results_dir / "cache.db").write_bytes(b"garbage " * 500)  # corrupted: moved aside
    assert http.get("/health").status_code == 200
    shutil.rmtree(settings.results_dir)
    settings.results_dir.write_text("a file where the directory was")  # nothing it can heal
    answer = http.get("/health")
    assert answer.status_code == 503 and "the results store cannot be used" in answer.get_data(as_text=True)
    settings.results_dir.unlink()
    assert http.get("/health").status_code == 200  # and back once the operator cleared it
