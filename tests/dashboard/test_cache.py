"""The results cache: one open handle per process, shared by what that process does."""

import multiprocessing

from dashboard import cache


def _child_reads(directory, key, queue):
    opened_before = cache._opened.cache_info().misses
    with cache.results(directory) as results:
        value = results.get(key)
        results.set("from the child", 2)
    queue.put((cache._opened.cache_info().misses - opened_before, value))


def test_one_handle_per_process_and_a_new_one_after_a_fork(tmp_path):
    with cache.results(tmp_path) as first, cache.results(tmp_path) as second:
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
    with cache.results(tmp_path) as results:
        assert results.get("from the child") == 2  # the parent's handle sees the child's write
