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
from tests.forkservers import ctrl_c_while_loading, runs_of, waiting_while_loaded

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
def chunk(i):
    return os.getpid(), sys.modules["__main__"].__file__, "core.experiments.cells" in sys.modules

if __name__ == "__main__":
    from core.engine.parallel import map_chunks

    results, cancelled = map_chunks(chunk, list(range(6)), workers=2)
    assert not cancelled
    workers = [r for r in results if r[0] != os.getpid()]
    assert workers, "no chunk ran on a worker"
    assert all(main == {path} for _, main, _ in results)  # the script, as the workers inherited it
    assert all(engine for _, _, engine in workers)  # loaded before the fork: the preload's
    print("chunks done")
"""


def test_workers_run_neither_the_main_script_nor_the_engines_imports_again(tmp_path):
    # the script itself and the workers' fork server; before, each worker ran it again too
    assert runs_of(SCRIPT, tmp_path, "chunks done") == 2


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


def test_while_the_first_submit_waits_this_process_takes_the_next_chunks():
    """A new pool's workers start ~1 s late (their fork server loads first): meanwhile the
    calling process computes the chunks not yet sent, each chunk once, here or on the pool."""
    here, sent, two_here = [], [], threading.Event()

    class LatePool:
        def submit(self, fn, chunk):
            if not sent:
                assert two_here.wait(60), "the caller did not go on while the first submit waited"
            sent.append(chunk)
            future = Future()
            future.set_result(chunk)
            return future

    def fn(chunk):
        here.append(chunk)
        if len(here) == 2:
            two_here.set()
        return chunk

    got = []
    cancelled = _on_pool(LatePool(), fn, list(range(6)), lambda i, r: got.append(i) or True, lambda: True,
                         stop=lambda: None)  # fmt: skip
    assert cancelled is False and sorted(got) == list(range(6))
    assert here[:2] == [0, 2] and sent[0] == 1  # chunk 1 went out first; this process took 0, then 2
    assert sorted(here + sent) == list(range(6))  # each chunk once


def test_a_submit_that_fails_is_raised_and_the_pool_ended():
    class Broken:
        def submit(self, fn, chunk):
            raise RuntimeError("the pool broke")

    ended = []
    with pytest.raises(RuntimeError, match="the pool broke"):
        _on_pool(Broken(), lambda c: c, [0, 1], lambda i, r: True, lambda: True, stop=lambda: ended.append(1))
    assert ended == [1]


INTERRUPTED = """
import os, sys
sys.path.insert(0, {root!r})
{waiting}
def chunk(i):
    return os.getpid()

if __name__ == "__main__":
    from core.engine.parallel import map_chunks

    results, cancelled = map_chunks(chunk, list(range(4)), workers=2)
    assert not cancelled and any(pid != os.getpid() for pid in results)
    print("chunks done")
"""


def test_a_ctrl_c_during_the_preload_does_not_kill_the_fork_server(tmp_path):
    """A terminal sends Ctrl-C to the whole process group: the command decides what to do with
    it. The workers' fork server, still loading, used to die with a KeyboardInterrupt traceback."""
    path = tmp_path / "sweep.py"
    path.write_text(INTERRUPTED.format(root=str(ROOT), waiting=waiting_while_loaded(tmp_path)))
    done = ctrl_c_while_loading(path, tmp_path)
    assert done.returncode == 0 and "chunks done" in done.stdout, done.stderr
    assert "KeyboardInterrupt" not in done.stderr


ARGUMENTS = """
import os, sys
sys.path.insert(0, {root!r})
SCALE = int(sys.argv[1])  # read at the top level, as a script's argparse does

def chunk(i):
    return os.getpid(), i * SCALE

if __name__ == "__main__":
    from core.engine.parallel import map_chunks

    results, _ = map_chunks(chunk, list(range(6)), workers=2)
    assert any(pid != os.getpid() for pid, _ in results), "no chunk ran on a worker"
    print([value for _, value in results])
"""


def test_the_script_loads_in_the_fork_server_with_the_commands_arguments(tmp_path):
    """The fork server loads the script with the command's argv (and import path, directory):
    a top-level setting read from the command line is the command's in every worker."""
    path = tmp_path / "scaled.py"
    path.write_text(textwrap.dedent(ARGUMENTS.format(root=str(ROOT))))
    done = subprocess.run([sys.executable, str(path), "3"], capture_output=True, text=True, timeout=300, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "[0, 3, 6, 9, 12, 15]"
    assert "could not load the main script" not in done.stderr
