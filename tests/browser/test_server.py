"""The server under the faults an operator meets: several gunicorn workers without a
configured key, a cache far too small, its directory deleted while serving, a corrupted
entry. In each, runs must finish and draw, in a real browser."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[2]


def _wait_until(condition, timeout: float, what, browser=None):
    """Until ``condition()``; on a timeout, say what the page showed."""
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            shown = "" if browser is None else browser.driver.execute_script(_SHOWN)
            raise AssertionError(f"timed out waiting for {what}; the page showed {shown}")
        time.sleep(0.2)


_SHOWN = """return ['progress-label', 'run-message', 'url-message', 'summary']
    .map((id) => id + ': ' + JSON.stringify((document.getElementById(id) || {}).textContent))
    .join(', ') + ', run enabled: ' + !document.getElementById('run').disabled + ', url: ' + location.search;"""


def _app(monkeypatch, cache_dir: Path, **env: str):
    monkeypatch.setenv("WSD_CACHE_DIR", str(cache_dir))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from app import create_app

    return create_app()


def _run_to_the_end(browser, seed: int, steps: int = 5000, message: str = "") -> str:
    """Type a seed, press Run, wait for the finished figure (and ``message`` beside Run, at
    its start); the progress label."""
    box = browser.find_element("#seed")
    box.clear()
    box.send_keys(f"{seed}\t")
    _wait_until(lambda: "press Run" in browser.find_element("#stale-note").text, 10, "the seed to register", browser)
    browser.find_element("#run").click()
    _finished(browser, seed, steps, message)
    return browser.find_element("#progress-label").text


def _finished(browser, seed: int, steps: int, message: str = ""):
    title = (
        "const el = document.querySelector('#distance-graph .js-plotly-plot');"
        "return el && el.layout.title ? el.layout.title.text : '';"
    )
    _wait_until(
        lambda: (
            browser.driver.execute_script(title).endswith(f"seed {seed}")
            and f"{steps:,} iterations ·" in browser.find_element("#progress-label").text
        ),
        120,
        f"the run of seed {seed} to finish",
        browser,
    )
    shown = browser.find_element("#run-message").text
    assert shown.startswith(message) if message else shown == ""


TOO_LARGE = "These results (~3 MB) are larger than the server's cache keeps (1 MB)"


def test_runs_finish_with_a_cache_smaller_than_one_record(dash_duo, monkeypatch, tmp_path, plotly_data):
    """WSD_CACHE_MB=1, below a single record: nothing is cached, every run still answers and
    draws (from its job's own answer), the page says why the other views cannot draw, and no
    view recomputes the record inside a web request."""
    dash_duo.start_server(_app(monkeypatch, tmp_path / "cache", WSD_CACHE_MB="1"))
    dash_duo.wait_for_element("#run", timeout=20)
    for seed in (1, 2, 3):
        assert not _run_to_the_end(dash_duo, seed, message=TOO_LARGE).endswith("from the cache")
    next(t for t in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#view .tab") if t.text == "Weights").click()
    _wait_until(lambda: _idle(dash_duo), 30, "the page's callbacks to finish")
    assert dash_duo.find_element("#run-message").text.startswith(TOO_LARGE)
    assert all(t.get("type") != "heatmap" for t in (plotly_data("ablation-w1-graph") or {}).get("data", []))
    assert dash_duo.get_logs() == []


def _idle(browser) -> bool:
    """No callback of the page is waiting, running or being polled."""
    return browser.driver.execute_script(
        "const c = window.store.getState().callbacks;"
        "return ['requested', 'prioritized', 'blocked', 'executing', 'watched'].every((k) => !c[k].length);"
    )


def test_the_cache_directory_deleted_while_serving(dash_duo, monkeypatch, tmp_path):
    cache_dir = tmp_path / "cache"
    dash_duo.start_server(_app(monkeypatch, cache_dir))
    dash_duo.wait_for_element("#run", timeout=20)
    _run_to_the_end(dash_duo, 1)
    shutil.rmtree(cache_dir)  # results, job state and admission files, under the running server
    _run_to_the_end(dash_duo, 2)
    assert (cache_dir / "results" / "cache.db").exists() and (cache_dir / "jobs" / "cache.db").exists()
    dash_duo.driver.get(dash_duo.server_url + "/?seed=2")  # a replay from the new cache
    _finished(dash_duo, 2, 5000)
    assert dash_duo.find_element("#progress-label").text.endswith("from the cache")
    assert dash_duo.get_logs() == []


def test_a_corrupted_entry_is_computed_again(dash_duo, monkeypatch, tmp_path):
    cache_dir = tmp_path / "cache"
    dash_duo.start_server(_app(monkeypatch, cache_dir))
    dash_duo.wait_for_element("#run", timeout=20)
    _run_to_the_end(dash_duo, 4)
    stored = list((cache_dir / "results").rglob("*.val"))
    assert stored  # the record and its finished view
    for path in stored:
        path.write_bytes(b"\x80\x05garbage")
    for _ in range(2):  # every replay, not only the first, must work
        dash_duo.driver.get(dash_duo.server_url + "/?seed=4")
        _finished(dash_duo, 4, 5000)
    assert dash_duo.get_logs() == []


# ---- gunicorn ---------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path):
    """``gunicorn -w 2 app:server`` with one shared cache directory and no WSD_SECRET_KEY;
    yields (url, access log path). Without keep-alive, so that every request is a new
    connection and the two workers share a page's polls (with it, one browser's requests
    can stay with one worker for a long time, as many browsers' requests would not)."""
    port, log = _free_port(), tmp_path / "access.log"
    env = {k: v for k, v in os.environ.items() if k != "WSD_SECRET_KEY"}
    env.update(PORT=str(port), WEB_CONCURRENCY="2", WSD_CACHE_DIR=str(tmp_path / "cache"))
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--access-logfile",
        str(log),
        "--access-logformat",
        "%(p)s %(r)s %(s)s",
        "--keep-alive",
        "0",
        "app:server",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert server.poll() is None and time.time() < deadline, server.stderr.read() if server.poll() else "no port"
        time.sleep(0.2)
    yield url, log
    os.killpg(server.pid, signal.SIGTERM)
    _, errors = server.communicate(timeout=30)
    assert "Traceback" not in errors, errors


def _workers_that_answered_polls(log: Path) -> set[str]:
    """The gunicorn workers that answered a background job's polls (requests carrying its handle)."""
    return set(re.findall(r"^<(\d+)> POST /_dash-update-component\?\S*cacheKey=", log.read_text(), re.M))


def test_two_gunicorn_workers_without_a_key_serve_runs_and_replays(dash_br, gunicorn):
    """Each worker used to sign job handles with its own random key: a poll reaching the other
    worker was answered with nothing, and the page waited for ever."""
    url, log = gunicorn
    dash_br.server_url = url
    dash_br.wait_for_element("#run", timeout=30)
    seed = 10
    while len(_workers_that_answered_polls(log)) < 2:  # until both workers have answered a job's polls
        assert seed < 16, "polls never reached the second worker"
        _run_to_the_end(dash_br, seed)
        seed += 1
    dash_br.driver.get(f"{url}/?seed=10")
    _finished(dash_br, 10, 5000)
    assert dash_br.find_element("#progress-label").text.endswith("from the cache")
    assert dash_br.get_logs() == []
