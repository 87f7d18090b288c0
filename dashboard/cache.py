"""On-disk stores: finished results keyed by a hash of their full config, and the directory
shared with Dash's background-callback manager.

Settings (environment): WSD_CACHE_DIR (default ./.cache), WSD_CACHE_MB (default 1024): the
results cache is bounded and evicts least-recently-used entries. Every gunicorn worker
must see the same WSD_CACHE_DIR.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import diskcache


def cache_dir() -> Path:
    return Path(os.environ.get("WSD_CACHE_DIR", Path(__file__).resolve().parents[1] / ".cache"))


def results_dir() -> Path:
    """Where finished results are stored; read once by the app factory and passed down, so
    background jobs (started from a fork server with its own environment) use the same."""
    return cache_dir() / "results"


@contextmanager
def results(directory: Path) -> Iterator[diskcache.Cache]:
    """The results cache in ``directory``, opened for one use and closed again.

    Not a long-lived handle on purpose: background jobs are forked from the server, and a
    handle whose SQLite connection was carried across the fork (diskcache closes it in the
    child on first use) was measured to leave the server's later reads seeing nothing.
    """
    size_mb = int(os.environ.get("WSD_CACHE_MB", "1024"))
    store = diskcache.Cache(str(directory), size_limit=size_mb * 1024**2, eviction_policy="least-recently-used")
    try:
        yield store
    finally:
        store.close()


def jobs_cache() -> diskcache.Cache:
    """The cache Dash's DiskcacheManager keeps job state and progress in."""
    return diskcache.Cache(str(cache_dir() / "jobs"))
