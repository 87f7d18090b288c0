"""Shared fixtures. The project is installed in .venv (`pip install -e .`, as make does)."""

import os
from types import SimpleNamespace

import numpy as np
import pytest


@pytest.fixture(scope="session")
def iris():
    from core.data import load_iris

    return load_iris()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


CLUSTER_SECRET = "0123456789abcdef" * 4


# Every server a test starts (in this process or as a subprocess: the environment is
# inherited) prices jobs with this engine rate instead of the one it would measure at
# start-up, so that no test depends on the machine's speed or load: a loaded machine
# measured ~80,000 and refused the 50,000 x 100 jobs two tests start. Tests of the
# measurement itself pass their own environment.
os.environ.setdefault("WSD_ENGINE_RATE", "150000")

# the tiers (markers in pyproject.toml) by folder; `slow` by test file, measured with
# `pytest -m "not browser and not cluster and not deploy" --durations=60`
TIER_OF_FOLDER = {"tests/browser/": "browser", "tests/cluster/": "cluster", "tests/deploy/": "deploy"}
SLOW_FILES = (
    "tests/test_cli_figures.py",
    "tests/test_docs_examples.py",
    "tests/test_cli_regimes.py",
    "tests/test_cli_signals.py",
    "tests/test_cli_diagnostics.py",
    "tests/test_cli_sharpness.py",
    # the command line end to end, one Python process per test (~1.5 s each)
    "tests/test_cli.py",
    "tests/test_cli_batch.py",
    "tests/test_cli_depth.py",
    "tests/test_cli_map_value.py",
    "tests/test_cli_optimizer.py",
    "tests/test_cli_spectrum.py",
    "tests/test_cli_setting_maps.py",
    # the new figures at their --quick sizes (~25 s)
    "tests/test_cli_figures_more.py",
)


def pytest_collection_modifyitems(config, items):
    """Mark each test with its tier; then put the tests of the Celery backend last. A Celery
    client that has talked to its broker registers after-fork clean-ups that hold up every
    later fork of this process for ~10 s (measured), and several tests fork on purpose
    (admission, caches): those run first."""
    for item in items:
        for folder, tier in TIER_OF_FOLDER.items():
            if item.nodeid.startswith(folder):
                item.add_marker(tier)
        if item.nodeid.split("::")[0] in SLOW_FILES:
            item.add_marker("slow")

    def uses_celery(item) -> bool:
        return "cluster" in getattr(item, "fixturenames", ()) or "tests/cluster/" in item.nodeid

    items.sort(key=uses_celery)  # a stable sort: the order within each group stays


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A loopback Redis server and two one-process Celery workers (``celery -A app:celery_app
    worker``), started once for the tests that ask: ``url`` (REDIS_URL), ``workers``,
    ``secret`` and ``cache_dir`` (the workers' WSD_CACHE_DIR, for a web server to share)."""
    from cluster.local import celery_workers, redis_server

    cache_dir = tmp_path_factory.mktemp("cluster-cache")
    with redis_server() as url, celery_workers(url, CLUSTER_SECRET, n=2, cache_dir=cache_dir) as workers:
        yield SimpleNamespace(url=url, workers=workers, secret=CLUSTER_SECRET, cache_dir=cache_dir)
