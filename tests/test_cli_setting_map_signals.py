"""cli.py map --kind eta-width stopped by SIGTERM or Ctrl-C while its shared worker processes
compute (core.engine.parallel.shared_workers): one line, exit 143 or 130, no worker process
left, nothing written (as a sweep: tests/test_cli_signals.py)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
# minutes of work on two processes, five widths one after another: stopped in the middle
LONG_MAP = ["map", "--kind", "eta-width", "--y-values", "2", "5", "10", "20", "40", "--eta-range", "0.01", "10", "12",
            "--inits", "20", "--steps", "3000", "--workers", "2"]  # fmt: skip


def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("sent", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_stopped_setting_map_leaves_no_process_and_no_output(tmp_path, sent, code, word):
    out = tmp_path / "map"
    proc = subprocess.Popen(
        [sys.executable, "cli.py", *LONG_MAP, "--out", str(out)],
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
            assert proc.poll() is None, "the map ended before it was stopped"
            workers[:] = parent.children(recursive=True)
            return len(workers) >= 3

        _until(computing, 120, "the map's worker processes")
        if sent == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        else:
            proc.send_signal(sent)  # a supervisor's SIGTERM: the main process only
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == f"cli.py map: {word}; nothing was written", err
    _until(
        lambda: not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers),
        15,
        "the workers to end",
    )
    assert not out.exists() and not list(tmp_path.iterdir())
