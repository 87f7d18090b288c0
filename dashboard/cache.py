"""On-disk stores: finished results keyed by a hash of their full config, and the directory
shared with Dash's background-callback manager.

Settings (environment): WSD_CACHE_DIR (default ./.cache), WSD_CACHE_MB (default 1024): the
results cache is bounded and evicts least-recently-used entries. Every gunicorn worker
must see the same WSD_CACHE_DIR.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import diskcache


def cache_dir() -> Path:
    return Path(os.environ.get("WSD_CACHE_DIR", Path(__file__).resolve().parents[1] / ".cache"))


@cache
def _results(directory: str, size_mb: int) -> diskcache.Cache:
    return diskcache.Cache(directory, size_limit=size_mb * 1024**2, eviction_policy="least-recently-used")


def results() -> diskcache.Cache:
    """The results cache of this process (one handle per directory; safe across processes)."""
    size_mb = int(os.environ.get("WSD_CACHE_MB", "1024"))
    return _results(str(cache_dir() / "results"), size_mb)


def jobs_cache() -> diskcache.Cache:
    """The cache Dash's DiskcacheManager keeps job state and progress in."""
    return diskcache.Cache(str(cache_dir() / "jobs"))
