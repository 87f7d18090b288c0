"""The job processes' fork server (dashboard.server.worker): it loads the server's main script
once, so that no job runs that script again before it computes."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
with open({log!r}, "a") as log:  # each process that runs this script, once
    log.write(f"{{os.getpid()}}\\n")

def job():
    import sys
    assert sys.modules["__main__"].__file__ == {path!r}  # the script, as the job inherited it

if __name__ == "__main__":
    from dashboard.server.worker import job_processes

    context = job_processes()
    for _ in range(3):
        process = context.Process(target=job)
        process.start()
        process.join()
        assert process.exitcode == 0, process.exitcode
    print("jobs done")
"""


def test_jobs_do_not_run_the_main_script_again(tmp_path):
    log, path = tmp_path / "ran.txt", tmp_path / "server.py"
    path.write_text(textwrap.dedent(SCRIPT.format(root=str(ROOT), log=str(log), path=str(path))))
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "jobs done" in done.stdout, done.stderr
    # the script itself and the fork server; before, each of the 3 jobs ran it again too
    assert len(log.read_text().split()) == 2


def test_a_ctrl_c_while_the_fork_server_loads_leaves_it_serving(tmp_path):
    """Ctrl-C in a terminal reaches the whole process group; the server decides. The job fork
    server, still loading (the script, the engine, a figure), used to die of it."""
    import os
    import signal
    import time

    script = SCRIPT.replace(
        "def job():",
        'if __name__ == "__mp_main__":  # the fork server loading this script\n'
        "    import time, pathlib\n"
        f"    pathlib.Path({str(tmp_path / 'loading.tmp')!r}).write_text(str(os.getpid()))\n"
        f"    pathlib.Path({str(tmp_path / 'loading.tmp')!r}).rename({str(tmp_path / 'loading')!r})\n"
        f"    while not pathlib.Path({str(tmp_path / 'go')!r}).exists():\n"
        "        time.sleep(0.02)\n\n"
        "def job():",
    )
    log, path = tmp_path / "ran.txt", tmp_path / "server.py"
    path.write_text(textwrap.dedent(script.format(root=str(ROOT), log=str(log), path=str(path))))
    server = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "loading").exists():
            assert time.monotonic() < deadline and server.poll() is None, "the fork server never loaded the script"
            time.sleep(0.02)
        os.kill(int((tmp_path / "loading").read_text()), signal.SIGINT)
        (tmp_path / "go").touch()
        out, err = server.communicate(timeout=300)
    finally:
        server.kill()
    assert server.returncode == 0 and "jobs done" in out, err
    assert "KeyboardInterrupt" not in err
