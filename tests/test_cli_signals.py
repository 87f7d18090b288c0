"""A CLI job ends cleanly on SIGTERM and Ctrl-C: one line, exit 143 or 130, no worker process
left, nothing half-written (issue: a terminated sweep left its fork server and two 217 MB
workers running for ever, and Ctrl-C was ignored until the sweep ended)."""

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
# ~1 minute of work on two processes: long enough to be stopped in the middle; the map, five
# widths one after another on one set of worker processes (core.engine.parallel.shared_workers)
LONG_SWEEP = ["sweep", "--eta-range", "0.01", "10", "24", "--inits", "20", "--steps", "3000", "--workers", "2"]
LONG_MAP = ["map", "--kind", "eta-width", "--y-values", "2", "5", "10", "20", "40", "--eta-range", "0.01", "10", "12",
            "--inits", "20", "--steps", "3000", "--workers", "2"]  # fmt: skip


def _as_at_a_terminal() -> None:
    """In the child before it runs: Ctrl-C's default action. A suite started in the background
    by a non-interactive shell (``make test &``) ignores SIGINT, a child inherits that, and
    Python then installs no KeyboardInterrupt handler: the command would never see Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("command", [LONG_SWEEP, LONG_MAP], ids=["sweep", "setting-map"])
@pytest.mark.parametrize(
    ("sent", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_stopped_sweep_leaves_no_process_and_no_output(tmp_path, command, sent, code, word):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "cli.py", *command, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
        preexec_fn=_as_at_a_terminal,
    )
    parent = psutil.Process(proc.pid)
    try:
        workers = []

        def computing() -> bool:  # the pool's two workers (and the fork server) have started
            assert proc.poll() is None, "the command ended before it was stopped"
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
    assert err.strip().splitlines()[-1] == f"cli.py {command[0]}: {word}; nothing was written", err
    _until(
        lambda: not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers),
        15,
        "the workers to end",
    )
    assert not out.exists() and not list(tmp_path.iterdir())


# three short figures (~10 s here): the first one's PNG is written while the others are drawn
SHORT_FIGURES = ["figures", "--quick", "--only", "fig02-data", "fig03-divergence", "fig06-collapse"]


@pytest.fixture
def scratch():
    """A TMPDIR, to find kaleido's and Chromium's temporary files in; short, as Chromium makes
    a Unix socket in it (108 bytes of path at most: under pytest's tmp_path it fails to start)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cli-") as path:
        yield Path(path)


def _descendants(parent: psutil.Process) -> list[psutil.Process]:
    try:
        return parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _named(processes: list[psutil.Process], name: str) -> bool:
    for p in processes:
        try:
            if p.name() == name:
                return True
        except psutil.NoSuchProcess:
            pass
    return False


@pytest.mark.parametrize(
    ("browser", "sent", "code", "word"),
    [
        ("chromium", signal.SIGTERM, 143, "terminated"),
        ("chromium", signal.SIGINT, 130, "interrupted"),
        ("hung", signal.SIGTERM, 143, "terminated"),  # a browser that starts and never answers
    ],
)
def test_figures_stopped_mid_run_leave_no_browser_and_no_output(tmp_path, scratch, browser, sent, code, word):
    """Stopped while drawing (the machine's Chromium: once a PNG is in the staging directory)
    or while a browser that never answers is being started: the browser (in a session of its
    own, so Ctrl-C does not reach it) is closed or killed, with its temporary files, and
    neither ``--out`` nor the staging is left."""
    import os

    work = tmp_path / "work"  # --out's parent
    work.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    if browser == "hung":
        fake = tmp_path / "hung-browser"
        fake.write_text("#!/bin/sh\nexec sleep 600\n")
        fake.chmod(0o755)
        env["BROWSER_PATH"] = str(fake)
    out = work / "figures"
    proc = subprocess.Popen(
        [sys.executable, "cli.py", *SHORT_FIGURES, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's job
        preexec_fn=_as_at_a_terminal,
    )
    parent = psutil.Process(proc.pid)
    try:
        children = []

        def drawing() -> bool:
            assert proc.poll() is None, f"the command ended before it was stopped: {proc.stderr.read()}"
            children[:] = _descendants(parent)
            if browser == "hung":
                return _named(children, "sleep")
            return _named(children, "chromium") and any(work.glob(".figures.*/*.png"))

        _until(drawing, 180, "the browser (and the first PNG, with Chromium)")
        if sent == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal's foreground group
        else:
            proc.send_signal(sent)  # a supervisor's SIGTERM: the main process only
        _, err = proc.communicate(timeout=60)
    finally:
        leftover = _descendants(parent)  # if the test failed: no browser left behind
        if proc.poll() is None:
            proc.kill()
        for p in leftover:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
    assert proc.returncode == code, err
    assert err.strip() == f"cli.py figures: {word}; nothing was written", err
    _until(lambda: not any(_alive(p) for p in children), 15, "the browser's processes to end")
    assert not list(work.iterdir()), list(work.rglob("*"))
    assert not list(scratch.iterdir()), list(scratch.rglob("*"))  # kaleido's and Chromium's temporary files
