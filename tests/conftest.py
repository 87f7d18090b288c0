"""Shared fixtures. Tests run from the repository root (pytest's rootdir)."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def iris():
    from core.data import load_iris

    return load_iris()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


CLUSTER_SECRET = "0123456789abcdef" * 4


def pytest_collection_modifyitems(config, items):
    """The tests of the Celery backend last. A Celery client that has talked to its broker
    registers after-fork clean-ups that hold up every later fork of this process for ~10 s
    (measured), and several tests fork on purpose (admission, caches): those run first."""

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
