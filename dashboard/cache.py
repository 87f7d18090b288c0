"""On-disk stores: finished results keyed by a hash of their full config, and the directory
shared with Dash's background-callback manager.

Settings (environment): WSD_CACHE_DIR (default ./.cache), WSD_CACHE_MB (default 1024): the
results cache is bounded and evicts least-recently-used entries. Every gunicorn worker
must see the same WSD_CACHE_DIR.
"""

from __future__ import annotations

import functools
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
    """The results cache in ``directory``: this process's handle on it, opened on first use.

    Kept open because opening costs ~7 ms (diskcache rewrites its settings table each
    time; a whole cached replay takes ~0.16 s). One handle per process id: a handle is never
    used across a fork (background jobs start from a fork server, not from this process,
    but a process forked some other way still opens its own).
    """
    yield _opened(str(directory), os.getpid())


@functools.cache
def _opened(directory: str, pid: int) -> diskcache.Cache:
    size_mb = int(os.environ.get("WSD_CACHE_MB", "1024"))
    return diskcache.Cache(directory, size_limit=size_mb * 1024**2, eviction_policy="least-recently-used")


def jobs_cache() -> diskcache.Cache:
    """The cache Dash's DiskcacheManager keeps job state and progress in."""
    return diskcache.Cache(str(cache_dir() / "jobs"))
