"""On-disk stores: finished results keyed by a hash of their full config, and the store
Dash's background-callback manager keeps job state in. Both live in the cache directory
shared by every gunicorn worker (``dashboard.server.settings``).

Both are :class:`Store`, a ``diskcache.Cache`` that survives what an operator or a full
disk can do to it while the server runs: its directory or database deleted (it is made
again, with a warning) and an entry that no longer unpickles (dropped, with a warning, and
read as missing, so the result is computed again).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diskcache
import numpy as np

from dashboard.server.compat.diskcache_parts import FileFollowingCache

log = logging.getLogger(__name__)


class UnreadableEntry(Exception):
    """A stored value that cannot be read back (corrupted or written by other code)."""


class _Disk(diskcache.Disk):
    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        try:
            return super().fetch(mode, filename, value, read)
        except OSError:
            raise  # diskcache reads a vanished file as a missing key
        except Exception as exc:  # unpickling garbage raises many types
            raise UnreadableEntry(f"{type(exc).__name__}: {exc}") from exc


class Store(FileFollowingCache):
    """diskcache.Cache that makes its database again if it disappears and drops unreadable
    entries (its connections follow the database file: dashboard.server.compat)."""

    def __init__(self, directory: str | Path, **settings: Any) -> None:
        self._init_settings = settings
        try:
            super().__init__(str(directory), disk=_Disk, **settings)
        except sqlite3.DatabaseError as exc:  # a corrupted file: aside, and a new one
            self.ensure_local()
            self.heal(exc)
            super().__init__(str(directory), disk=_Disk, **settings)

    def __getstate__(self) -> tuple[str, dict[str, Any]]:
        return (self.directory, self._init_settings)

    def __setstate__(self, state: tuple[str, dict[str, Any]]) -> None:
        type(self).__init__(self, state[0], **state[1])

    def _connection_stale(self) -> None:
        log.warning("the cache database %s was deleted or replaced; opening it again", self.database)

    def _database_missing(self) -> None:
        log.warning("the cache in %s is missing; making it again", self.directory)
        self.reinitialize(disk=_Disk, **self._init_settings)

    def get(self, key: Any, default: Any = None, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().get(key, default, *args, **kwargs)
        except UnreadableEntry as exc:
            log.warning("dropping the unreadable cache entry %r in %s (%s)", key, self.directory, exc)
            self.delete(key)
            return default

    def heal(self, exc: BaseException) -> None:
        """After an SQLite error: drop this thread's connection and, if the database file no
        longer reads as one (corrupted, or replaced under an open connection), move it aside
        and make a new one, so the next operation works (what it held is computed again)."""
        log.warning("the cache in %s failed (%s: %s); opening it again", self.directory, type(exc).__name__, exc)
        self.forget_connection()
        if not _readable_database(self.database):
            aside = f"{self.database}.unreadable-{time.time_ns()}"
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.database, aside)
                log.warning("moved the unreadable cache database to %s", aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.database + suffix)

    def check(self) -> None:
        """A write and a read of a small entry; raises if the store cannot be used (/health)."""
        self.set("wsd:health", time.time(), expire=60)
        if self.get("wsd:health") is None:
            raise OSError(f"the cache in {self.directory} lost an entry it had just written")


def _readable_database(path: str) -> bool:
    """Whether ``path`` is missing (it will be made) or opens as an SQLite database."""
    if not os.path.exists(path):
        return True
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as con:
            con.execute("PRAGMA schema_version").fetchone()
        return True
    except sqlite3.DatabaseError:
        return False


def _healing(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` of Store, tried once more after :meth:`Store.heal` if SQLite fails (a
    deleted or replaced directory under open connections: "disk I/O error", "file is not a
    database", "no such table"). A second failure is raised: /health reports it."""

    @functools.wraps(method)
    def healed(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:  # OperationalError too; diskcache's Timeout is not one
            self.heal(exc)
            return method(self, *args, **kwargs)

    return healed


for _name in ("get", "set", "add", "delete", "touch", "incr", "pop", "__contains__", "__len__", "expire", "cull"):
    setattr(Store, _name, _healing(getattr(Store, _name)))


def results(directory: Path, size_mb: int) -> Store:
    """This process's handle on the results cache in ``directory``, opened on first use.

    Kept open because opening costs ~7 ms (diskcache rewrites its settings table each
    time; a whole cached replay takes ~0.16 s). One handle per process id: a handle is never
    used across a fork (background jobs start from a fork server, not from this process,
    but a process forked some other way still opens its own).
    """
    return _opened(str(directory), size_mb, os.getpid())


@functools.cache
def _opened(directory: str, size_mb: int, pid: int) -> Store:
    # cull_limit: each write evicts at most two least-recently-used entries while the cache is
    # over its size. diskcache's default (10) evicts up to ten at once however little room is
    # needed, so in a cache of fewer than ten entries a record was evicted by its own write
    # (WSD_CACHE_MB=5: the fifth run's record was gone before its views read it). Two keep the
    # newest entry and still shrink an over-full cache by one entry per write.
    return Store(directory, size_limit=size_mb * 1024**2, eviction_policy="least-recently-used", cull_limit=2)


def jobs_store(directory: Path) -> Store:
    """The store Dash's DiskcacheManager keeps job state and progress in."""
    return Store(directory)


def pickled_size(record: object) -> int:
    """About how many bytes ``record`` takes pickled: its arrays plus the small rest."""
    if isinstance(record, np.ndarray):
        return record.nbytes
    if isinstance(record, dict):
        return sum(pickled_size(v) for v in record.values()) + 64 * len(record)
    if isinstance(record, (list, tuple)):
        return sum(pickled_size(v) for v in record) + 16 * len(record)
    return len(pickle.dumps(record))
