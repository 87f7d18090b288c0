"""With Celery, a job still waiting in Redis for a free worker tells its page how many jobs
are ahead of it (dashboard.server.manager.CeleryJobManager), through its first progress output."""

import subprocess
import time

from dash import no_update

from cluster import make_celery
from cluster.celery_app import CHUNK_TASK, seal
from dashboard.server.admission import Admission
from dashboard.server.manager import PROGRESS_WIDTH, QUEUED, CeleryJobManager

# a task that computes until the test opens its gate (a file appears; at most 120 s): the
# workers stay busy, and the jobs behind them queued, for as long as the test reads their
# places (two tasks of 2 s could end between its reads on a loaded machine, the first started
# up to 2 s before the second). A command, so that the workers need nothing of the tests.
_GATED = 'i=0; while [ ! -e "$0" ] && [ "$i" -lt 2400 ]; do sleep 0.05; i=$((i + 1)); done'


def test_a_queued_job_says_how_many_are_ahead(cluster, tmp_path):
    app = make_celery(cluster.url, cluster.secret)
    manager = CeleryJobManager(app, Admission(tmp_path, 2, 8, 30.0, redis_url=cluster.url))
    gate = tmp_path / "gate"
    held = seal((subprocess.call, (["sh", "-c", _GATED, str(gate)],)), app.chunk_key)
    busy = [app.send_task(CHUNK_TASK, args=(held,)) for _ in range(2)]  # one per worker
    waiting = []
    try:
        deadline = time.monotonic() + 60
        while any(t.state == "PENDING" for t in busy):  # both workers have started theirs
            assert time.monotonic() < deadline
            time.sleep(0.02)
        waiting = [app.send_task(CHUNK_TASK, args=(held,)) for _ in range(3)]
        assert [manager.jobs_ahead(t.id) for t in waiting] == [0, 1, 2]
        manager._redis.set(f"{QUEUED}somekey", f"{waiting[2].id} {time.time() - 3.0!r}")
        news = manager.get_progress("somekey")
        assert len(news) == PROGRESS_WIDTH and news[1:] == [no_update] * (PROGRESS_WIDTH - 1)
        assert news[0] == "queued: 2 jobs ahead of you · waiting 3 s"
    finally:
        gate.touch()  # the workers are free again, whatever happened
    for task in busy + waiting:
        task.get(timeout=60)
    assert manager.jobs_ahead(waiting[2].id) is None and manager.get_progress("somekey") is None
    assert manager._redis.get(f"{QUEUED}somekey") is None  # forgotten once a worker took it


def test_every_job_reports_its_label_first(tmp_path):
    """The convention the queued news relies on: in every background callback the first
    progress output is a label, and none has more than PROGRESS_WIDTH."""
    from app import create_app
    from dashboard.server.settings import Settings

    dash_app = create_app(Settings(cache_dir=tmp_path, engine_rate=1e5))
    progress = [cb["background"]["progress"] for cb in dash_app.callback_map.values() if cb.get("background")]
    assert len(progress) >= 3
    for outputs in progress:
        first = outputs[0]
        assert (first.component_property, "label" in first.component_id or "progress" in first.component_id) == (
            "children",
            True,
        ), outputs
        assert len(outputs) <= PROGRESS_WIDTH


def test_a_job_first_in_line_for_long_says_no_worker_has_taken_it():
    from dashboard.server.manager import NO_WORKER_SECONDS, celery_queued_label

    assert celery_queued_label(0, 5.0) == "queued · waiting 5 s"
    assert celery_queued_label(3, NO_WORKER_SECONDS + 10) == "queued: 3 jobs ahead of you · waiting 40 s"
    assert celery_queued_label(0, NO_WORKER_SECONDS + 1) == (
        "queued · waiting 31 s · no worker has taken it: every worker is busy, or none is running"
    )
