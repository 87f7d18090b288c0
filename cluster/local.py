"""A Redis server and Celery workers on this machine, on loopback: for the tests, the
benchmarks, and trying the Celery backend without a deployment.

    with redis_server() as url, celery_workers(url, secret, n=2):
        ...  # REDIS_URL=url: jobs and map cells run on the two workers

Each worker is ``celery -A app:celery_app worker`` (the command a deployment runs), one
process (``--concurrency 1``) per worker, so "n workers" means n cores computing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from celery import Celery

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def redis_server(timeout: float = 10.0) -> Iterator[str]:
    """A fresh redis-server on a free loopback port, without persistence; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run scripts/install-debian.sh redis (Debian's redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="wsd-redis-") as workdir:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", workdir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_for_port(port, timeout, process)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not listen on port {port} within {timeout:.0f} s")


def worker_env(redis_url: str, secret: str, cache_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker (and of the web server that shares its jobs)."""
    env = {**os.environ, "REDIS_URL": redis_url, "WSD_SECRET_KEY": secret, "WSD_CACHE_DIR": str(cache_dir)}
    env.setdefault("WSD_ENGINE_RATE", "100000")  # skip the start-up measurement (~0.5 s)
    env.setdefault("PYTHONWARNINGS", "ignore:You're running the worker with superuser")  # tests run as root
    return {**env, **extra}


class Workers:
    """Celery worker processes started by :func:`celery_workers`."""

    def __init__(self, processes: list[subprocess.Popen], app: Celery) -> None:
        self.processes, self.app = processes, app

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def child_pids(self) -> list[int]:
        """The pool processes that execute the tasks (one per worker)."""
        import psutil

        return [c.pid for p in self.processes for c in psutil.Process(p.pid).children()]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def celery_workers(
    redis_url: str, secret: str, n: int = 1, *, cache_dir: Path | None = None, timeout: float = 60.0, **env: str
) -> Iterator[Workers]:
    """``n`` workers (one process each) of ``celery -A app:celery_app worker`` on ``redis_url``,
    ready (each answered a ping) when the block starts; stopped at its end."""
    from cluster import make_celery

    with contextlib.ExitStack() as stack:
        if cache_dir is None:
            cache_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wsd-workers-")))
        environ = worker_env(redis_url, secret, cache_dir, **env)
        names = [f"w{i}-{os.getpid()}@127.0.0.1" for i in range(n)]
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "app:celery_app", "worker", "--concurrency", "1",
                 "--pool", "prefork", "-n", name, "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=None,
            )
            for name in names
        ]  # fmt: skip
        workers = Workers(processes, make_celery(redis_url, secret))
        stack.callback(workers.stop)
        _wait_for_workers(workers, names, timeout)
        yield workers


def _wait_for_workers(workers: Workers, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in workers.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a Celery worker exited at start-up with code {process.returncode}")
        answered = {name for reply in workers.app.control.ping(timeout=0.5) or [] for name in reply}
        if answered >= set(names):
            return
    raise RuntimeError(f"the Celery workers {names} did not answer within {timeout:.0f} s")
