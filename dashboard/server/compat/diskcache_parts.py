"""diskcache's private parts, in one place (written against diskcache 5.6.3).

tests/dashboard/server/test_compat.py shows that a stock ``diskcache.Cache`` still needs this.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

import diskcache


class FileFollowingCache(diskcache.Cache):
    """diskcache.Cache whose per-thread SQLite connection follows its database file.

    diskcache 5.6.3 keeps one connection per thread (the private property ``Cache._con``,
    over the thread-local ``Cache._local``) and has no public way to drop the connections
    of other threads (``close()`` closes the calling thread's). A thread whose database file
    was deleted or replaced keeps writing to the old file, which no other process reads;
    new threads fail ("unable to open database file", then "no such table: Cache"). Here
    every use of ``_con`` compares the file's inode with the one this thread connected to,
    and connects again if it changed; a missing file is handed to ``_database_missing``
    (which must make it, e.g. by ``reinitialize``). ``_checks_off`` (per thread) turns the
    comparison off while the database is being made.
    """

    def __init__(self, directory: str, **settings: Any) -> None:
        self._checks_off = threading.local()
        self._checks_off.active = True  # the database is being made: no checks from _con
        try:
            super().__init__(directory, **settings)
        finally:
            self._checks_off.active = False

    @property
    def database(self) -> str:
        return os.path.join(self.directory, diskcache.core.DBNAME)

    def reinitialize(self, **settings: Any) -> None:
        """Make the database again in this directory (diskcache's ``__init__`` does that)."""
        self._checks_off.active = True
        try:
            diskcache.Cache.__init__(self, self.directory, **settings)
        finally:
            self._checks_off.active = False

    def ensure_local(self) -> None:
        """diskcache's thread-local of connections, made if ``__init__`` failed before it did."""
        if not hasattr(self, "_local"):
            self._local = threading.local()

    def forget_connection(self) -> None:
        """Close this thread's connection; its next use checks the file again."""
        self.close()
        self._local.inode = None

    def _database_missing(self) -> None:
        raise sqlite3.OperationalError(f"the cache database {self.database} is missing")

    @property
    def _con(self) -> sqlite3.Connection:
        if getattr(self._checks_off, "active", False):
            return super()._con
        try:
            inode: int | None = os.stat(self.database).st_ino
        except FileNotFoundError:
            inode = None
        known = getattr(self._local, "inode", None)
        if inode is None or inode != known:
            if known is not None:
                self._connection_stale()
            self.close()  # this thread's first check, or a stale connection
            if inode is None:
                self._database_missing()
                inode = os.stat(self.database).st_ino
            self._local.inode = inode
        return super()._con

    def _connection_stale(self) -> None:
        """Called when this thread's connection is to a deleted or replaced file."""
