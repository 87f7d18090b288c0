"""Fork servers that load the main script once, for every process they start.

A process started by a "forkserver" context runs its parent's main script again, as
``__mp_main__``, before it computes (``spawn.prepare``: to find what it may unpickle), unless the
main module it inherits from its fork server is that script already. A fork server is meant to
load the script once when its preload names ``"__main__"``, but Python 3.11's (and
``multiprocess``'s copy of it) hands the script's path to the fork server under a key the fork
server does not read (``main_path``, where the preparation data say ``init_main_from_path``), so
the script was never loaded there and every process ran it again: 0.42-0.77 s of each dashboard
job (app.py's imports: Celery, the cluster module), and the same again in each worker of a
sweep, beside the engine's own imports.

:func:`start_with_main` starts a fork server with the script's place in its environment;
:func:`load_main`, in the fork server's preload, loads the script from there. The preload
modules (core.experiments.worker_preload, dashboard.server.preload) ignore SIGINT while they
load, before their first import: a terminal sends Ctrl-C to the whole process group, and the
fork server, which ignores it only once its preload is done, died mid-import and printed its
traceback after the command's own line (a Ctrl-C in a sweep's first second); the command hears
it and ends its processes, the fork server included. ``spawn`` is the
``spawn`` module of the multiprocessing package the fork server belongs to (the standard
library's, or ``multiprocess``'s, which Dash's job manager uses).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

log = logging.getLogger(__name__)

MAIN_ENV = "WSD_FORKSERVER_MAIN"  # the main script and its setting, for a fork server's start only
# of spawn.get_preparation_data: what each process set up before it ran the script (its argv, its
# import path, its working directory: a script's top level may read them), then the script
PREPARED_KEYS = ("sys_argv", "sys_path", "dir", "orig_dir", "init_main_from_name", "init_main_from_path")


def start_with_main(spawn: ModuleType, ensure_running: Callable[[], None]) -> None:
    """``ensure_running()`` (a fork server's start; nothing if it runs already) with this
    process's main script and its setting handed over to the fork server, whose preload calls
    :func:`load_main`."""
    data = spawn.get_preparation_data("main")
    with _environment(MAIN_ENV, json.dumps({key: data[key] for key in PREPARED_KEYS if key in data})):
        ensure_running()


def load_main(spawn: ModuleType) -> None:
    """In a fork server's preload: load the parent's main script as each process started from
    here would (with the parent's argv, import path and working directory, and no stdin), so
    that they find it loaded and do not run it again. A script that fails to load here is only
    logged: the processes then load it themselves, as before, and fail or not as they did."""
    prepared = json.loads(os.environ.pop(MAIN_ENV, "{}"))
    if not any(key in prepared for key in PREPARED_KEYS[-2:]):
        return  # an interactive session, python -c: no script to load
    _no_stdin()
    current = spawn.process.current_process()
    current._inheriting = True  # as the standard library's own preload of "__main__" sets it
    try:
        spawn.prepare({key: prepared[key] for key in PREPARED_KEYS if key in prepared})
    except KeyboardInterrupt:
        raise
    except BaseException:  # SystemExit too (a script's argparse): the fork server must live on
        log.exception("the fork server could not load the main script %s", prepared.get("init_main_from_path"))
    finally:
        del current._inheriting


def _no_stdin() -> None:
    """stdin at the null device, as a process started from a fork server has it (and the fork
    server itself once its preload is done): a script reading stdin as it loads gets nothing."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdin.close()
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 (the process's stdin, open for its life)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``name=value`` in this process's environment inside the block (a fork server started
    inside it inherits it), as it was after."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
