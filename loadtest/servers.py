"""The lab server of the load test (loadtest.run), started on loopback and stopped
again: a Redis server (unless given), Celery workers (cluster.local) and ``gunicorn
app:server`` (gunicorn.conf.py), sharing one fresh cache directory and secret key; then
what they left behind: the errors and the requests in gunicorn's logs, and any process
still running after the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]  # the repository: gunicorn and the workers run there


# ---- the servers ----------------------------------------------------------------------
@dataclass
class Servers:
    url: str
    workers: int = 0
    web_workers: int = 0
    access_log: Path | None = None
    error_log: Path | None = None
    redis_url: str | None = None
    cache_dir: Path | None = None  # WSD_CACHE_DIR of the web server (and of the workers)


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], workdir: Path, web_workers: int, timeout: float = 90.0, port: int | None = None
) -> Iterator[Servers]:
    """``gunicorn app:server`` (gunicorn.conf.py) on loopback (``port``, or a free one), its
    own process group; yields once every one of its workers has answered a request."""
    from cluster.local import free_port

    port = port or free_port()
    access, errors = workdir / "access.log", workdir / "gunicorn.log"
    env = {**env, "PORT": str(port), "WEB_CONCURRENCY": str(web_workers), "WSD_HOST": "127.0.0.1"}
    command = [str(Path(sys.executable).with_name("gunicorn")), "--access-logfile", str(access),
               "--access-logformat", "%(p)s %(s)s %(m)s %(U)s?%(q)s %(L)s", "--error-logfile", str(errors),
               "--no-control-socket", "app:server"]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_every_worker(url, server, access, web_workers, errors, timeout)
        yield Servers(url, web_workers=web_workers, access_log=access, error_log=errors)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_for_every_worker(url, server, access: Path, n: int, errors: Path, timeout: float) -> None:
    """Until ``n`` distinct workers have answered GET /health (each on a new connection: the
    kernel hands connections to whichever worker is ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {server.returncode}:\n{_tail(errors)}")
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{url}/health", timeout=2, headers={"Connection": "close"})
        answered = {
            row[0] for row in read_access_log(access) if row[1:3] == ("200", "GET") and row[3].startswith("/health")
        }
        if len(answered) >= n:
            return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn's {n} workers did not all answer within {timeout:.0f} s:\n{_tail(errors)}")


def _copy_logs(workdir: Path, logs: Path) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    for name in ("access.log", "gunicorn.log"):
        if (workdir / name).exists():
            shutil.copy(workdir / name, logs / name)


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def lab_server(
    workers: int,
    web_workers: int,
    redis_url: str | None,
    env: dict[str, str],
    logs: Path | None = None,
    backend: str = "celery",
) -> Iterator[Servers]:
    """Redis (unless given), ``workers`` Celery workers and gunicorn, on loopback, one cache
    directory and key (the compose layout); with ``backend="diskcache"``, gunicorn alone (no
    REDIS_URL: jobs in processes of the web server, the default). Everything is stopped at
    the end (gunicorn's logs then copied to ``logs``)."""
    from cluster.local import celery_workers, redis_server, worker_env

    if backend not in ("celery", "diskcache"):
        raise ValueError(f"backend must be 'celery' or 'diskcache', got {backend!r}")
    secret = secrets.token_hex(32)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wsd-load-")))
        if logs is not None:
            stack.callback(_copy_logs, workdir, logs)
        cache_dir = workdir / "cache"
        if backend == "diskcache":
            say(f"starting gunicorn with {web_workers} workers (jobs in its own processes: no Redis)")
            web_env = {k: v for k, v in worker_env("", secret, cache_dir, **env).items() if k != "REDIS_URL"}
            servers = stack.enter_context(gunicorn(web_env, workdir, web_workers))
            servers.cache_dir = cache_dir
            yield servers
            return
        if redis_url is None:
            redis_url = stack.enter_context(redis_server())
        if workers:
            say(f"starting {workers} Celery worker(s) on {redis_url}")
            stack.enter_context(celery_workers(redis_url, secret, n=workers, cache_dir=cache_dir, **env))
        say(f"starting gunicorn with {web_workers} workers")
        servers = stack.enter_context(gunicorn(worker_env(redis_url, secret, cache_dir, **env), workdir, web_workers))
        servers.workers, servers.redis_url, servers.cache_dir = workers, redis_url, cache_dir
        yield servers


# ---- what the servers left: their logs, and processes still running ------------------
def descendants(excluded: set[int]) -> set[psutil.Process]:
    """The processes under this one, except those under the children in ``excluded``."""
    found = set()
    for child in psutil.Process().children():
        if child.pid not in excluded:
            found.add(child)
            with contextlib.suppress(psutil.Error):
                found.update(child.children(recursive=True))
    return found


def still_running(processes: set[psutil.Process]) -> list[str]:
    """Processes started by the test that outlived its end (each then killed)."""
    stray = []
    deadline = time.monotonic() + 10
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(psutil.Error):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                stray.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
                process.kill()
    return stray


def gunicorn_errors(servers: Servers) -> list[str]:
    """HTTP errors in gunicorn's access log and tracebacks in its error log."""
    errors = [
        f"gunicorn answered: {' '.join(row)}"
        for row in read_access_log(servers.access_log)
        if row[1] not in ("200", "204")
    ]
    log = servers.error_log.read_text(errors="replace") if servers.error_log and servers.error_log.exists() else ""
    if "Traceback" in log or "[CRITICAL]" in log or "[ERROR]" in log:
        errors.append(f"gunicorn's log has errors:\n{log[-4000:]}")
    return errors


def requests_per_worker(servers: Servers) -> dict[str, int]:
    """Requests each gunicorn worker answered, from its access log."""
    pids = [row[0] for row in read_access_log(servers.access_log)]
    return {pid: pids.count(pid) for pid in sorted(set(pids))}


def read_access_log(path: Path | None) -> list[tuple[str, ...]]:
    """(worker pid, status, method, path?query, seconds) of each request gunicorn answered."""
    if path is None or not path.exists():
        return []
    return re.findall(r"^<(\d+)> (\d+) (\S+) (\S+) ([\d.]+)$", path.read_text(), re.M)


def say(message: str) -> None:
    print(f"[load_test] {message}", file=sys.stderr, flush=True)
