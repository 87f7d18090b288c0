"""The on-disk stores: one open handle per process, and a cache that survives faults."""

import logging
import multiprocessing
import pickle
import shutil
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from dashboard.server import cache

MB = 64


def _child_reads(directory, key, queue):
    opened_before = cache._opened.cache_info().misses
    results = cache.results(directory, MB)
    value = results.get(key)
    results.set("from the child", 2)
    queue.put((cache._opened.cache_info().misses - opened_before, value))


def test_one_handle_per_process_and_a_new_one_after_a_fork(tmp_path):
    first, second = cache.results(tmp_path, MB), cache.results(tmp_path, MB)
    assert first is second  # opened once: each open rewrites diskcache's settings (~7 ms)
    first.set("from the parent", 1)
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    child = fork.Process(target=_child_reads, args=(tmp_path, "from the parent", queue))
    child.start()
    opened_in_child, seen = queue.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert opened_in_child == 1  # the child did not use the handle it inherited
    assert seen == 1
    assert cache.results(tmp_path, MB).get("from the child") == 2  # the parent's handle sees the child's write


def _in_thread(fn):
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn()))
    thread.start()
    thread.join(30)
    return out["value"]


def test_a_deleted_directory_is_made_again_for_every_thread(tmp_path, caplog):
    directory = tmp_path / "store"
    store = cache.Store(directory)
    store.set("a", 1)
    assert _in_thread(lambda: store.get("a")) == 1  # a second thread with its own connection
    shutil.rmtree(directory)
    with caplog.at_level(logging.WARNING):
        assert store.get("a") is None  # gone with its directory, and no "unable to open database file"
    assert "making it again" in caplog.text
    store.set("b", np.arange(100_000))  # a value large enough to live in its own file
    assert _in_thread(lambda: store.get("b").sum()) == np.arange(100_000).sum()  # no "no such table: Cache"
    assert (directory / "cache.db").exists()


def test_a_replaced_database_is_not_used_through_a_stale_connection(tmp_path):
    directory = tmp_path / "store"
    store, other = cache.Store(directory), cache.Store(directory)
    store.set("old", 1)
    (directory / "cache.db").unlink()  # another worker sees it missing and makes it again
    other.set("new", 2)
    assert store.get("new") == 2 and store.get("old") is None


def _corrupt_value_files(directory: Path) -> int:
    files = [p for p in directory.rglob("*.val")]
    for path in files:
        path.write_bytes(b"not a pickle")
    return len(files)


def test_an_unreadable_entry_is_dropped_and_read_as_missing(tmp_path, caplog):
    store = cache.Store(tmp_path)
    store.set("big", {"x": np.zeros(100_000)})  # pickled into a file
    store.set("small", {"x": 1})  # pickled into the database
    assert _corrupt_value_files(tmp_path) == 1
    with sqlite3.connect(tmp_path / "cache.db") as db:
        db.execute("UPDATE Cache SET value = ? WHERE key = ?", (b"\x80garbage", "small"))
    with caplog.at_level(logging.WARNING):
        assert store.get("big") is None and store.get("small", "default") == "default"
    assert "big" not in store and "small" not in store  # dropped, so the next store writes afresh
    assert caplog.text.count("dropping the unreadable cache entry") == 2


def test_a_store_crosses_into_another_process_with_its_settings(tmp_path):
    store = cache.Store(tmp_path, size_limit=5 * 1024**2)
    again = pickle.loads(pickle.dumps(store))
    assert isinstance(again, cache.Store) and again.size_limit == 5 * 1024**2


@pytest.mark.parametrize(
    "record, low, high",
    [
        ({"a": np.zeros(1000), "b": [np.zeros(10)] * 3}, 8240, 9000),
        ({"text": "x" * 100}, 100, 400),
    ],
)
def test_pickled_size_counts_arrays_and_the_rest(record, low, high):
    assert low <= cache.pickled_size(record) <= high
    assert cache.pickled_size(record) >= len(pickle.dumps(record)) * 0.8


def _garble(path: Path) -> None:
    path.write_bytes(b"this is not an SQLite database " * 200)


def test_a_corrupted_database_is_moved_aside_and_the_store_works_again(tmp_path, caplog):
    """The defect: a corrupted cache.db made every Run fail until an operator deleted it."""
    store = cache.Store(tmp_path)
    store.set("a", 1)
    assert _in_thread(lambda: store.get("a")) == 1  # another thread holds a connection too
    store.close()
    _garble(tmp_path / "cache.db")
    with caplog.at_level(logging.WARNING):
        assert store.get("a") is None  # lost with the file, and no "file is not a database"
        store.set("b", 2)
    assert store.get("b") == 2 and _in_thread(lambda: store.get("b")) == 2
    assert list(tmp_path.glob("cache.db.unreadable-*")) and "moved the unreadable cache database" in caplog.text
    store.check()


def test_a_store_opened_on_a_corrupted_database_starts_afresh(tmp_path):
    cache.Store(tmp_path).set("a", 1)
    _garble(tmp_path / "cache.db")
    store = cache.Store(tmp_path)  # a worker started after the damage
    assert store.get("a") is None
    store.set("a", 2)
    assert store.get("a") == 2


def test_a_directory_replaced_under_open_connections_heals_in_every_thread(tmp_path):
    """rm -rf of the cache directory while jobs ran: threads with a connection kept reading the
    deleted files (disk I/O error) or a new file through an old inode."""
    directory = tmp_path / "store"
    store = cache.Store(directory)
    store.set("a", 1)
    readers = [threading.Thread(target=store.get, args=("a",)) for _ in range(4)]
    for reader in readers:
        reader.start()
        reader.join()
    shutil.rmtree(directory)
    directory.mkdir()
    _garble(directory / "cache.db")  # something else wrote there meanwhile
    for _ in range(4):
        assert _in_thread(lambda: (store.set("c", 3), store.get("c"))[1]) == 3
    assert store.get("c") == 3


def test_a_store_it_cannot_use_is_reported(tmp_path):
    store = cache.Store(tmp_path / "store")
    store.check()
    shutil.rmtree(tmp_path / "store")
    (tmp_path / "store").write_text("a file where the directory was")
    with pytest.raises((OSError, sqlite3.Error)):
        store.check()
