"""The container image (Dockerfile), the compose file, and the image built and run as a lab
runs it: gunicorn behind a path prefix, as a non-root user, with the numba kernels compiled
at build time, serving a run to a real browser.

Tools: hadolint and check-jsonschema (requirements-dev.txt); podman, runc and mmdebstrap
(scripts/install-debian.sh containers) and chromium (scripts/install-debian.sh browser), which
`make test` installs. A missing tool fails these tests with what to run; they never skip.
The image is built once for the module by scripts/build-image.sh: about 2.5 minutes from
nothing (Debian base 20-40 s, pip ~30 s, layers ~60 s), ~30 s after a code change (podman
keeps the venv's layers), a few seconds when nothing changed; the tests then take ~30 s.
"""

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE = "localhost/wsd:test"
UID = "10001"
PREFIX = "/wsd/"  # DASH_URL_BASE_PATHNAME of the main container: the app behind a reverse proxy
WORKER_COMMAND = ["celery", "-A", "app:celery_app", "worker", "--loglevel=info"]
# podman's default rlimits are refused on the machines this runs on; runc is named in case
# crun (podman's first choice when installed) is there too
RUN = ["--runtime", "runc", "run", "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def _tool(name: str) -> str:
    """The path of ``name`` (the venv's bin first), or a failure saying how to install it."""
    found = shutil.which(name, path=f"{BIN}:{os.environ.get('PATH', '')}")
    if found is None:
        how = (
            "pip install -r requirements-dev.txt"
            if name in ("hadolint", "check-jsonschema")
            else "bash scripts/install-debian.sh containers (as root; `make test` runs it)"
        )
        pytest.fail(f"{name} is missing: {how}", pytrace=False)
    return found


def _run(*command: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and done.returncode != 0:
        pytest.fail(f"{shlex.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return _run(_tool("podman"), *args, timeout=timeout, check=check)


def _dockerfile_healthcheck() -> list[str]:
    """The command of the Dockerfile's HEALTHCHECK (JSON form)."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$", text, re.M)
    assert match, "the Dockerfile has no HEALTHCHECK ... CMD [...] (on the line after the options)"
    return json.loads(match.group(1))


# ---- static checks ------------------------------------------------------------------------
def test_the_dockerfile_passes_hadolint():
    done = _run(_tool("hadolint"), "Dockerfile", check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerignore_keeps_secrets_caches_and_tests_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".cache", ".env", "tests", "requirements-dev.txt"} <= ignored


def test_compose_runs_web_worker_and_redis_from_one_image():
    done = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "compose.yaml", check=False)
    assert done.returncode == 0, done.stdout + done.stderr  # the Compose specification's schema
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    web, worker, redis = services["web"], services["worker"], services["redis"]
    assert web["image"] == worker["image"] and web.get("build") == worker.get("build")
    assert redis["image"].startswith("redis:")
    for service in (web, worker, redis):
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert web["healthcheck"]["test"] == ["CMD", *_dockerfile_healthcheck()]  # the image's own check
    assert "ping" in " ".join(worker["healthcheck"]["test"])  # not the HTTP check: a worker serves no page
    command = worker["command"]
    assert (shlex.split(command) if isinstance(command, str) else command) == WORKER_COMMAND
    volumes = yaml.safe_load((ROOT / "compose.yaml").read_text())["volumes"]
    for service in (web, worker):
        env = service["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # required: compose stops without it
        sources = {volume.split(":")[1]: volume.split(":")[0] for volume in service["volumes"]}  # target: source
        assert sources[env["WSD_CACHE_DIR"]] in volumes  # one named volume, shared
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


# ---- the image, built and run -------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _logs(name: str) -> str:
    logs = _podman("logs", name, check=False)
    return logs.stdout[-4000:] + logs.stderr[-4000:]


def _wait_healthy(name: str, url: str, timeout: float = 120) -> None:
    """Until ``url`` (the health endpoint) answers OK; a failure shows the container's log."""
    deadline = time.time() + timeout
    while True:
        try:
            if _get(url) == (200, "OK"):
                return
        except OSError:
            pass
        state = _podman("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
        if state != "running" or time.time() > deadline:
            pytest.fail(f"{url} never answered OK (container {state}):\n{_logs(name)}")
        time.sleep(0.3)


@contextlib.contextmanager
def _container(image: str, *command: str, volume: str | None = None, options=(), **env) -> Iterator[str]:
    """A container of ``image`` on the host network, ``volume`` at /data, podman's ``options``;
    removed, with its anonymous volumes, whatever happens."""
    name = f"wsd-test-{secrets.token_hex(4)}"
    options = [*options, *(f"--env={k}={v}" for k, v in env.items())] + ([f"--volume={volume}:/data"] if volume else [])
    try:
        _podman(*RUN, "--detach", "--name", name, *options, image, *command)
        yield name
    finally:
        _podman("rm", "--force", "--volumes", "--time", "5", name, check=False)


@contextlib.contextmanager
def _volume() -> Iterator[str]:
    """The name of a named volume, removed afterwards (podman creates it at the first mount)."""
    name = f"wsd-test-{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        _podman("volume", "rm", "--force", name, check=False)


@pytest.fixture(scope="module")
def image():
    """scripts/build-image.sh wsd:test (the base and podman's layers are cached between runs)."""
    for tool in ("podman", "runc", "mmdebstrap"):
        _tool(tool)
    started = time.perf_counter()
    _run("bash", "scripts/build-image.sh", IMAGE.removeprefix("localhost/"), timeout=900)
    print(f"image built in {time.perf_counter() - started:.0f} s")
    return IMAGE


@pytest.fixture(scope="module")
def server(image):
    """The image under gunicorn with 2 workers, behind PREFIX, on a named volume for /data;
    yields (container name, page URL)."""
    port, env = (
        _free_port(),
        {"WEB_CONCURRENCY": 2, "SECRET_KEY": secrets.token_hex(32), "DASH_URL_BASE_PATHNAME": PREFIX},
    )
    with _volume() as volume, _container(image, volume=volume, PORT=port, **env) as name:
        url = f"http://127.0.0.1:{port}{PREFIX}"
        _wait_healthy(name, url + "health")
        yield name, url


def test_the_server_runs_as_its_user_on_a_writable_volume(server):
    name, url = server
    assert _podman("exec", name, "id", "-u").stdout.strip() == UID
    status = _podman("exec", name, "cat", "/proc/1/status").stdout
    assert re.search(rf"^Uid:\s+{UID}\s", status, re.M), status  # gunicorn's master, PID 1
    assert "jobs" in _podman("exec", name, "ls", "/data").stdout.split()  # WSD_CACHE_DIR, written by the server
    assert _get(url)[0] == 200 and _get(url.removesuffix(PREFIX) + "/health")[0] == 404  # everything under PREFIX
    config = json.loads(_podman("image", "inspect", IMAGE).stdout)[0]
    assert config["Config"]["User"] == f"{UID}:{UID}"
    assert config["Healthcheck"]["Test"] == ["CMD", *_dockerfile_healthcheck()]  # kept by the docker format
    assert _podman("healthcheck", "run", name, check=False).returncode == 0  # it finds PREFIX and PORT
    # test tools are not in the image
    assert _podman("exec", name, "python", "-c", "import pytest", check=False).returncode != 0


def _assert_kernels_cached(name: str) -> str:
    """Loading the engine as a job's fork server does (dashboard.server.worker.warm_up) in the
    container compiles nothing; returns the numba cache directory it used."""
    probe = (
        "import json, numba; from dashboard.server.worker import warm_up; warm_up(); from core.engine import kernel; "
        "print(json.dumps({f.__name__: [sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())] "
        "for f in (kernel.softmax_loss_grad, kernel.record_and_step)})); print(numba.config.CACHE_DIR)"
    )
    *_, stats, cache_dir = _podman("exec", name, "python", "-c", probe).stdout.strip().splitlines()
    for kernel, (hits, misses) in json.loads(stats).items():
        assert hits >= 1 and misses == 0, f"{kernel}: {hits} cache hits, {misses} misses"
    return cache_dir


def test_the_numba_kernels_come_from_the_cache_built_into_the_image(server):
    name, _ = server
    assert _assert_kernels_cached(name) == "/opt/numba-cache"


def test_another_user_on_a_read_only_root_filesystem_serves_with_the_cached_kernels(image):
    """A platform that runs images as an arbitrary user, read-only: numba cannot write the
    image's cache, which made it refuse to load at all; the server copies the cache to /tmp
    (core.engine.numba_cache) and its kernels still come from it."""
    port, env = _free_port(), {"SECRET_KEY": secrets.token_hex(32), "WSD_CACHE_DIR": "/tmp/wsd"}
    options = ("--user=12345:12345", "--read-only")  # podman mounts a writable tmpfs at /tmp
    with _container(image, PORT=port, WEB_CONCURRENCY=1, options=options, **env) as name:
        _wait_healthy(name, f"http://127.0.0.1:{port}/health")
        assert _assert_kernels_cached(name) == "/tmp/wsd-numba-cache-12345"
        assert "not writable here: using a copy of it" in _logs(name)


def test_a_run_in_the_browser(dash_br, server):
    _, url = server
    dash_br.server_url = url
    dash_br.wait_for_element("#run", timeout=30)
    started = time.perf_counter()
    dash_br.find_element("#run").click()
    dash_br.wait_for_contains_text("#progress-label", "iterations ·", timeout=60)
    print(f"the first run took {time.perf_counter() - started:.1f} s in the container")
    assert dash_br.find_element("#run-message").text == ""
    assert dash_br.get_logs() == []


def test_the_defaults_serve_at_the_root_and_stop_on_sigterm(image):
    """No prefix, no key (one is made in /data), one worker; `podman stop` ends gunicorn cleanly."""
    port = _free_port()
    with _container(image, PORT=port, WEB_CONCURRENCY=1) as name:
        _wait_healthy(name, f"http://127.0.0.1:{port}/health")
        assert _podman("healthcheck", "run", name, check=False).returncode == 0
        assert _podman("exec", name, "test", "-s", "/data/secret_key", check=False).returncode == 0
        # the signal reached gunicorn (PID 1): it stopped before podman's timeout, after which
        # podman kills it (exit code 137). The timeout is generous, and the test waits on the
        # stop rather than bounding how long a clean stop may take (it was "< 20 s" of 30)
        stop_seconds = 120
        started = time.perf_counter()
        _podman("stop", "--time", str(stop_seconds), name, timeout=stop_seconds + 60)
        assert time.perf_counter() - started < stop_seconds
        assert _podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"


def test_the_compose_worker_runs_the_web_servers_jobs(dash_br, image):
    """compose.yaml's worker (its command and health check) and a web server sharing REDIS_URL,
    SECRET_KEY and the /data volume, as compose runs them; a loopback redis-server stands in
    for the redis image (no registry here)."""
    from cluster.local import redis_server

    worker = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["worker"]
    command, check = worker["command"], worker["healthcheck"]["test"]
    command = shlex.split(command) if isinstance(command, str) else command
    port = _free_port()
    with redis_server() as redis_url, _volume() as volume:
        shared = {"REDIS_URL": redis_url, "SECRET_KEY": secrets.token_hex(32)}
        with _container(image, *command, volume=volume, **shared) as celery_worker:
            with _container(image, volume=volume, PORT=port, **shared) as web:
                _wait_healthy(web, f"http://127.0.0.1:{port}/health")
                deadline = time.time() + 120
                exec_check = ["exec", celery_worker, *(check[1:] if check[0] == "CMD" else ["sh", "-c", check[1]])]
                while _podman(*exec_check, check=False).returncode != 0:  # the worker's health check
                    if time.time() > deadline:
                        pytest.fail(f"the worker never answered its health check:\n{_logs(celery_worker)}")
                    time.sleep(1)
                dash_br.server_url = f"http://127.0.0.1:{port}/"
                dash_br.wait_for_element("#run", timeout=30)
                dash_br.find_element("#run").click()
                dash_br.wait_for_contains_text("#progress-label", "iterations ·", timeout=60)
                assert dash_br.get_logs() == []
                # the page may read the stored result before the worker logs its "succeeded" line
                succeeded = re.compile(r"Task background_callback_\w+\[[-\w]+\] succeeded")
                deadline = time.time() + 60
                while not succeeded.search(logs := _logs(celery_worker)):
                    assert time.time() < deadline, f"the worker never logged a finished job:\n{logs}"
                    time.sleep(0.5)
