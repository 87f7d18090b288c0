"""The job processes' fork server (dashboard.server.worker): it loads the server's main script
once, so that no job runs that script again before it computes."""

from tests.forkservers import ROOT, ctrl_c_while_loading, runs_of, waiting_while_loaded

SCRIPT = """
def job():
    import sys
    assert sys.modules["__main__"].__file__ == {path}  # the script, as the job inherited it

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
    # the script itself and the fork server; before, each of the 3 jobs ran it again too
    assert runs_of(SCRIPT, tmp_path, "jobs done") == 2


def test_a_ctrl_c_while_the_fork_server_loads_leaves_it_serving(tmp_path):
    """Ctrl-C in a terminal reaches the whole process group; the server decides. The job fork
    server, still loading (the script, the engine, a figure), used to die of it."""
    path = tmp_path / "server.py"
    path.write_text(
        f"import os, sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        + SCRIPT.replace("{path}", repr(str(path))).replace(
            "def job():", waiting_while_loaded(tmp_path) + "\ndef job():"
        )
    )
    done = ctrl_c_while_loading(path, tmp_path)
    assert done.returncode == 0 and "jobs done" in done.stdout, done.stderr
    assert "KeyboardInterrupt" not in done.stderr


WARM = """
import multiprocessing
import multiprocessing.forkserver
import sys
import threading

from dashboard.server.worker import warm_up

warm_up()
# the fork server forks jobs from this state: one thread, no child, no workers' fork server
assert threading.active_count() == 1, threading.enumerate()
assert multiprocessing.active_children() == []
assert multiprocessing.forkserver._forkserver._forkserver_pid is None
loaded = set(sys.modules)
from core.config import RunConfig
from dashboard.figures.map_kinds import map_figure
from dashboard.jobs.compute import regime_map

# a map's first live report, as its job draws it (other learning rates than warm_up's)
map_figure(regime_map(RunConfig(n_steps=3, n_perturbations=2), "eta", [0.05, 0.5, 3.0], [], 2, None, 1), live=True)
print(sorted(name for name in set(sys.modules) - loaded if not name.startswith("numba")))
"""


def test_the_warm_up_loads_what_a_maps_first_report_needs():
    """A job forked from the fork server has what warm_up loaded. A map's first live report
    imported pandas for its table (0.4-0.9 s in every map job) before warm_up drew a map. The
    warm-up itself stays in its process and thread: the fork server must be safe to fork."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", WARM], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
