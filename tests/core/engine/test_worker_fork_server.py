"""The chunk workers' fork server (core.engine.parallel, core.engine.forkserver): it loads the
main script and the engine once, and the workers forked from it run neither again."""

import subprocess
import sys
import textwrap
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from core.engine.parallel import _on_pool

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
with open({log!r}, "a") as log:  # each process that runs this script, once
    log.write(f"{{os.getpid()}}\\n")

def chunk(i):
    return os.getpid(), sys.modules["__main__"].__file__, "core.experiments.cells" in sys.modules

if __name__ == "__main__":
    from core.engine.parallel import map_chunks

    results, cancelled = map_chunks(chunk, list(range(6)), workers=2)
    assert not cancelled
    workers = [r for r in results if r[0] != os.getpid()]
    assert workers, "no chunk ran on a worker"
    assert all(main == {path!r} for _, main, _ in results)  # the script, as the workers inherited it
    assert all(engine for _, _, engine in workers)  # loaded before the fork: the preload's
    print("chunks done")
"""


def test_workers_run_neither_the_main_script_nor_the_engines_imports_again(tmp_path):
    log, path = tmp_path / "ran.txt", tmp_path / "sweep.py"
    path.write_text(textwrap.dedent(SCRIPT.format(root=str(ROOT), log=str(log), path=str(path))))
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "chunks done" in done.stdout, done.stderr
    # the script itself and the workers' fork server; before, each worker ran it again too
    assert len(log.read_text().split()) == 2


class SlowStartPool:
    """A pool whose first submit waits, as a new pool's does while its fork server loads the
    engine, until chunk 0 has been computed (or 60 s)."""

    def __init__(self):
        self.chunk_0_done = threading.Event()
        self.waited_for_chunk_0 = None

    def submit(self, fn, chunk):
        if self.waited_for_chunk_0 is None:
            self.waited_for_chunk_0 = self.chunk_0_done.wait(60)
        future = Future()
        future.set_result(fn(chunk))
        return future


def test_chunk_0_is_computed_here_while_the_first_submit_waits():
    """A new pool's first submit waits ~1 s for its fork server: chunk 0 does not wait for it
    (the first result, a live map's first cells, comes at once)."""
    pool = SlowStartPool()

    def fn(chunk):
        if chunk == 0:
            pool.chunk_0_done.set()
        return chunk

    got = []
    cancelled = _on_pool(pool, fn, [0, 1, 2], lambda i, r: got.append(i) or True, lambda: True, stop=lambda: None)
    assert cancelled is False and pool.waited_for_chunk_0 is True and sorted(got) == [0, 1, 2]


def test_a_submit_that_fails_is_raised_and_the_pool_ended():
    class Broken:
        def submit(self, fn, chunk):
            raise RuntimeError("the pool broke")

    ended = []
    with pytest.raises(RuntimeError, match="the pool broke"):
        _on_pool(Broken(), lambda c: c, [0, 1], lambda i, r: True, lambda: True, stop=lambda: ended.append(1))
    assert ended == [1]
