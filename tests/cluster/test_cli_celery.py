"""``cli.py map/sweep --backend celery``: the cells on the Celery workers, the same files."""

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MAP = ["map", "--kind", "eta-seed", "--eta-range", "0.1", "8", "5", "--seeds", "3", "--steps", "150"]


def _cli(args, env=None):
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_a_map_on_the_celery_workers_writes_the_local_numbers(cluster, tmp_path):
    from cluster.local import worker_env

    env = worker_env(cluster.url, cluster.secret, tmp_path / "cache")
    local = _cli([*MAP, "--out", str(tmp_path / "local"), "--workers", "1"], env)
    spread = _cli([*MAP, "--out", str(tmp_path / "celery"), "--backend", "celery"], env)
    assert local.returncode == 0 and spread.returncode == 0, (local.stderr, spread.stderr)
    a, b = np.load(tmp_path / "local" / "map.npz"), np.load(tmp_path / "celery" / "map.npz")
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_the_celery_backend_says_what_it_needs(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "WSD_SECRET_KEY")}
    answer = _cli([*MAP, "--out", str(tmp_path / "x"), "--backend", "celery"], env)
    assert answer.returncode == 2 and "--backend celery needs REDIS_URL and SECRET_KEY" in answer.stderr
    nobody = {**env, "REDIS_URL": "redis://127.0.0.1:9/0", "SECRET_KEY": "k" * 32}  # nothing listens on port 9
    answer = _cli([*MAP, "--out", str(tmp_path / "y"), "--backend", "celery"], nobody)
    assert answer.returncode == 2 and "cannot reach the Redis server of REDIS_URL" in answer.stderr, answer.stderr
    assert "Traceback" not in answer.stderr
