"""The web server restarted while a page's run is under way (issue 21, item 7).

Dash's renderer ends a background job's polling on a request that gets no answer, and leaves
Run disabled: the page froze, silently, though the server was back a moment later. Here a
real server (gunicorn, as deployed) is stopped and started again mid-run, and the page must
say that the server is away, then carry on by itself (assets/server_watchdog.js).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED, STEPS = 7, 30_000  # ~10 s of training here
AWAY = "The server is not answering"

_SHOWN = """return ['server-notice', 'progress-label', 'run-message', 'url-message']
    .map((id) => id + ': ' + JSON.stringify((document.getElementById(id) || {}).textContent))
    .join(', ') + ', run enabled: ' + !document.getElementById('run').disabled;"""
_TITLE = (
    "const el = document.querySelector('#distance-graph .js-plotly-plot');"
    "return el && el.layout.title ? el.layout.title.text : '';"
)


def _wait_until(condition, timeout: float, what: str, browser):
    """Until ``condition()``; on a timeout, say what the page showed."""
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            shown = browser.driver.execute_script(_SHOWN)
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; the page showed {shown}")
        time.sleep(0.2)


def _notice(browser) -> str:
    return browser.driver.execute_script("return (document.getElementById('server-notice') || {}).textContent || '';")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


class Server:
    """``gunicorn app:server`` (one worker) on one port and cache directory, stopped and
    started again as an operator restarts it."""

    def __init__(self, tmp_path: Path) -> None:
        self.port, self.tmp = _free_port(), tmp_path
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k != "WSD_SECRET_KEY"}
        self.env.update(PORT=str(self.port), WEB_CONCURRENCY="1", WSD_CACHE_DIR=str(tmp_path / "cache"))
        self.started: list[subprocess.Popen] = []  # each is its own process group (its jobs too)

    def start(self) -> None:
        log = open(self.tmp / f"server-{len(self.started)}.log", "w")  # the server's copy outlives this one
        # no control socket: gunicorn 27 puts it in ~/.gunicorn, shared by every server started
        command = [str(Path(sys.executable).with_name("gunicorn")), "--no-control-socket", "app:server"]
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stderr=log, start_new_session=True)
        log.close()
        self.started.append(process)
        deadline = time.time() + 90
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert process.poll() is None, f"the server exited: {self.log(-1)}"
            assert time.time() < deadline, "the server did not open its port in 90 s"
            time.sleep(0.2)

    def stop(self, how: str) -> None:
        """Stop gunicorn as a restart does: "terminated" (SIGTERM to the master, which waits for
        its worker, up to gunicorn's graceful timeout of 30 s) or "killed" (SIGKILL to the
        master and its worker: a crash; the job's process, a child of the worker's fork server,
        runs on)."""
        process = self.started[-1]
        workers = psutil.Process(process.pid).children()
        if how == "terminated":
            process.send_signal(signal.SIGTERM)
        else:
            for each in [process, *workers]:
                each.kill()
        process.wait(timeout=60)
        psutil.wait_procs(workers, timeout=60)

    def left_over(self, i: int) -> list[int]:
        """The processes still running of the ``i``-th server's group (its jobs')."""
        group = self.started[i].pid
        return [p.pid for p in psutil.process_iter() if _group_of(p.pid) == group]

    def log(self, i: int) -> str:
        return (self.tmp / f"server-{i % len(self.started)}.log").read_text()

    def close(self) -> None:
        for i in range(len(self.started)):  # shown if the test failed
            print(f"---- server {i} log (tail)\n" + self.log(i)[-3000:])
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
            try:
                os.killpg(process.pid, signal.SIGKILL)  # what is left of its group: job processes
            except ProcessLookupError:
                pass


@pytest.fixture
def server(tmp_path):
    server = Server(tmp_path)
    server.start()
    yield server
    server.close()


# The renderer logs each of its requests that found no server (the job's poll, and the plain
# callbacks that waited for the job and then ran); the browser may log the network errors that
# mean "no server there": a connection refused or reset, a kept-alive socket the killed server
# had held (SOCKET_NOT_CONNECTED, seen once in CI), a request in flight when it died
# (EMPTY_RESPONSE). Nothing else may be logged.
_NO_SERVER = re.compile(
    r"Callback failed: the server did not respond\."
    r"|net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|SOCKET_NOT_CONNECTED|EMPTY_RESPONSE)"
)


@pytest.mark.parametrize("how", ["terminated", "killed"])
def test_a_run_carries_on_after_the_server_restarts(dash_br, server, how):
    """The job may finish while the server is away (its record is then in the results cache),
    or still run when it is back: the page's new request then stops it (Dash's oldJob) and
    computes the run again. Either way the page says the server is away, then shows the run,
    and no process of the first server computes on."""
    dash_br.server_url = server.url
    dash_br.driver.get(f"{server.url}/?seed={SEED}&steps={STEPS}")  # a link runs its settings
    live = re.compile(r"iteration [\d,]+ of " + f"{STEPS:,}")
    _wait_until(lambda: live.search(dash_br.find_element("#progress-label").text), 60, "live updates", dash_br)
    assert dash_br.find_element("#run").get_attribute("disabled")

    server.stop(how)
    _wait_until(lambda: AWAY in _notice(dash_br), 60, "the page to say the server is away", dash_br)
    server.start()

    def finished():
        return (
            dash_br.driver.execute_script(_TITLE).endswith(f"seed {SEED}")
            and f"{STEPS:,} iterations ·" in dash_br.find_element("#progress-label").text
            and dash_br.find_element("#run").get_attribute("disabled") is None
        )

    _wait_until(finished, 180, "the run to finish after the restart, with Run enabled", dash_br)
    assert _notice(dash_br) == ""
    _wait_until(lambda: not server.left_over(0), 60, "the first server's job processes to end", dash_br)
    assert dash_br.find_element("#run-message").text == ""
    assert dash_br.find_element("#cancel").get_attribute("disabled")
    unexpected = [e for e in dash_br.get_logs() if not _NO_SERVER.search(e["message"])]
    assert unexpected == [], "\n".join(e["message"] for e in unexpected)
    assert "Traceback" not in server.log(-1), server.log(-1)
