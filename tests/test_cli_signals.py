"""A CLI job ends cleanly on SIGTERM and Ctrl-C: one line, exit 143 or 130, no worker process
left, nothing half-written (issue: a terminated sweep left its fork server and two 217 MB
workers running for ever, and Ctrl-C was ignored until the sweep ended)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
# ~1 minute of work on two processes: long enough to be stopped in the middle
LONG_SWEEP = ["sweep", "--eta-range", "0.01", "10", "24", "--inits", "20", "--steps", "3000", "--workers", "2"]


def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("sent", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_stopped_sweep_leaves_no_process_and_no_output(tmp_path, sent, code, word):
    out = tmp_path / "sweep"
    proc = subprocess.Popen(
        [sys.executable, "cli.py", *LONG_SWEEP, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    parent = psutil.Process(proc.pid)
    try:
        workers = []

        def computing() -> bool:  # the pool's two workers (and the fork server) have started
            workers[:] = parent.children(recursive=True)
            return len(workers) >= 3

        _until(computing, 120, "the sweep's worker processes")
        if sent == signal.SIGINT:
            import os

            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        else:
            proc.send_signal(sent)  # a supervisor's SIGTERM: the main process only
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == f"cli.py sweep: {word}; nothing was written", err
    _until(
        lambda: not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers),
        15,
        "the workers to end",
    )
    assert not out.exists() and not list(tmp_path.iterdir())
