"""Shared by the fork-server tests (core.engine.forkserver, for sweeps' workers and the app's
jobs): a script whose fork server waits while it loads the script, and Ctrl-C sent to it then."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def waiting_while_loaded(folder: Path) -> str:
    """Top-level code for a test script: the fork server that loads it (as ``__mp_main__``)
    writes its pid to ``folder/loading``, then waits for ``folder/go``."""
    return (
        'if __name__ == "__mp_main__":  # a fork server loading this script\n'
        "    import os as _os, pathlib as _pathlib, time as _time\n"
        f"    _folder = _pathlib.Path({str(folder)!r})\n"
        '    (_folder / "loading.tmp").write_text(str(_os.getpid()))\n'
        '    (_folder / "loading.tmp").rename(_folder / "loading")  # whole, as the test reads it\n'
        '    while not (_folder / "go").exists():\n'
        "        _time.sleep(0.02)\n"
    )


def ctrl_c_while_loading(script: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (with :func:`waiting_while_loaded` in it); once its fork server is loading
    it, send that process SIGINT, as a terminal's Ctrl-C reaches the whole process group, then let
    it go on. The command's outcome."""
    command = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (folder / "loading").exists():
            assert time.monotonic() < deadline and command.poll() is None, "no fork server loaded the script"
            time.sleep(0.02)
        os.kill(int((folder / "loading").read_text()), signal.SIGINT)
        (folder / "go").touch()
        out, err = command.communicate(timeout=300)
    finally:
        command.kill()
    return subprocess.CompletedProcess(command.args, command.returncode, out, err)


ROOT = Path(__file__).resolve().parents[1]


def runs_of(script: str, folder: Path, done: str) -> int:
    """Run the test script ``script`` (a template: ``{path}``, its own file) from ``folder``; how
    many processes ran it, as each notes at its top (the command must print ``done``)."""
    path, log = folder / "script.py", folder / "ran.txt"
    header = (
        f"import os, sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        f"with open({str(log)!r}, 'a') as _log:  # each process that runs this script, once\n"
        "    _log.write(f'{os.getpid()}\\n')\n"
    )
    path.write_text(header + script.replace("{path}", repr(str(path))))
    finished = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0 and done in finished.stdout, finished.stderr
    return len(log.read_text().split())
