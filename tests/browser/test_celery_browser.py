"""The dashboard on the Celery backend (REDIS_URL set), in a real browser: a run is a Celery
task on a worker process, a regime map sends its cells to the workers, and Cancel stops a
map and frees them."""

import time

import pytest


@pytest.fixture
def celery_app(cluster, monkeypatch):
    monkeypatch.setenv("REDIS_URL", cluster.url)
    monkeypatch.setenv("WSD_SECRET_KEY", cluster.secret)
    monkeypatch.setenv("WSD_CACHE_DIR", str(cluster.cache_dir))  # the workers' cache: one results store
    from app import create_app

    return create_app()


def _inspect(cluster):
    """The workers' inspect, answered as soon as every worker has replied (``limit``) or after
    a generous timeout: with a timeout of 2 s alone, a worker slow to reply on a loaded
    machine was left out of the answer (its tasks not counted, its busy process not seen)."""
    return cluster.workers.app.control.inspect(timeout=30.0, limit=len(cluster.workers.processes))


def _tasks_done(cluster) -> dict[str, int]:
    """Tasks each kind the workers started so far (summed over workers, every worker replying)."""
    totals: dict[str, int] = {}
    replies = _inspect(cluster).stats() or {}
    assert len(replies) == len(cluster.workers.processes), replies
    for stats in replies.values():
        for name, count in stats.get("total", {}).items():
            kind = "run" if name.startswith("background_callback_") else name
            totals[kind] = totals.get(kind, 0) + count
    return totals


def test_a_run_and_a_map_go_through_the_celery_workers(dash_duo, cluster, celery_app, plotly_data):
    before = _tasks_done(cluster)
    dash_duo.start_server(celery_app)
    dash_duo.driver.get(dash_duo.server_url + "/?eta=0.37&steps=700&seed=5")
    dash_duo.wait_for_element("#run", timeout=20)  # a link runs its settings: no click
    dash_duo.wait_for_contains_text("#progress-label", "700 iterations ·", timeout=60)
    assert len(plotly_data("distance-graph")["data"][0]["y"]) > 0
    after_run = _tasks_done(cluster)
    assert after_run.get("run", 0) > before.get("run", 0), (before, after_run)
    # a map: the coordinator waits on the web server, its cells are Celery tasks
    dash_duo.driver.get(
        dash_duo.server_url
        + "/?view=regimes&map=eta-seed&eta_min=0.1&eta_max=5&eta_points=4&inits=2&map_steps=150&seed=7"
    )
    dash_duo.wait_for_contains_text("#map-progress", "done in", timeout=60)
    after_map = _tasks_done(cluster)
    assert after_map.get("wsd.train_chunk", 0) > after_run.get("wsd.train_chunk", 0), (after_run, after_map)
    # a long map, cancelled once its first cells are in: it stops, and the workers are free.
    # 32 cells of 20,000 steps (~15 s here, estimated 15 s at the tests' engine rate, within
    # the 60 s limit): it cannot end between its first cells and the click on Cancel (at
    # 4,000 steps, ~3 s, a fast machine could)
    long_map = "/?view=regimes&map=eta-seed&eta_min=0.1&eta_max=5&eta_points=16&inits=2&map_steps=20000&seed=9"
    dash_duo.driver.get(dash_duo.server_url + long_map)
    dash_duo.wait_for_contains_text("#map-progress", "cells ·", timeout=60)
    dash_duo.find_element("#map-cancel").click()
    dash_duo.wait_for_contains_text("#map-progress", "Cancelled at cell", timeout=60)

    def free() -> dict:
        replies = _inspect(cluster).active() or {}
        assert len(replies) == len(cluster.workers.processes), replies  # every worker replied
        return replies

    deadline = time.time() + 60
    while any((busy := free()).values()) and time.time() < deadline:  # the revoked cells end at once or never start
        time.sleep(0.5)
    assert not any(busy.values()), busy
    assert dash_duo.get_logs() == []
