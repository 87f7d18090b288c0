"""The Celery backend's start-up refusals: each one line naming the setting, no traceback
to read through, nothing left running."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = "redis://127.0.0.1:9/0"  # nothing listens on port 9


def test_a_server_that_cannot_reach_redis_refuses_to_start(tmp_path):
    from app import create_app
    from dashboard.server.settings import Settings

    with pytest.raises(ValueError, match=r"cannot reach the Redis server of REDIS_URL"):
        create_app(Settings(cache_dir=tmp_path, engine_rate=1e5, redis_url=NOWHERE))


def test_a_worker_without_redis_url_says_so_before_building_anything():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "app:celery_app", "worker"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "app:celery_app needs REDIS_URL" in done.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [("http://x", "REDIS_URL must start with redis://"), (NOWHERE, "cannot reach the Redis server of REDIS_URL")],
)
def test_the_cli_names_a_bad_or_unreachable_redis_url(tmp_path, url, message):
    env = {**os.environ, "REDIS_URL": url, "SECRET_KEY": "k" * 32}
    args = ["map", "--kind", "eta-seed", "--eta-range", "0.1", "5", "4", "--seeds", "2", "--steps", "50"]
    done = subprocess.run(
        [sys.executable, "cli.py", *args, "--out", str(tmp_path / "x"), "--backend", "celery"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
