"""cluster.compat reads kombu's and Celery's internals: each read, on a real Redis server with
the pinned kombu and Celery. A failure here after an upgrade names the entry to rewrite."""

import pytest

from cluster import compat, make_celery
from cluster.celery_app import CHUNK_TASK
from cluster.local import redis_server


@pytest.fixture(scope="module")
def app():
    with redis_server() as url:
        celery = make_celery(url, "a key")
        yield celery
        celery.close()


def test_a_queued_task_is_found_by_its_id_and_its_place(app):
    """No worker: two tasks wait in the queue, the first sent is the first a worker takes."""
    app.backend.client.delete(app.conf.task_default_queue)
    first, second = (app.send_task(CHUNK_TASK, args=("x",)).id for _ in range(2))
    client = app.backend.client
    assert compat.tasks_ahead(client, app.conf.task_default_queue, first) == 0
    assert compat.tasks_ahead(client, app.conf.task_default_queue, second) == 1
    assert compat.tasks_ahead(client, app.conf.task_default_queue, "no such task") is None
    assert {first, second} <= compat.queued_and_held(app)


def test_a_task_taken_but_not_acknowledged_is_found_in_the_unacked_hash(app):
    """What a worker does when it takes a task (late acks): kombu files the message as unacked."""
    app.backend.client.delete(app.conf.task_default_queue)
    task = app.send_task(CHUNK_TASK, args=("x",)).id
    with app.connection_for_read() as connection:
        message = connection.default_channel.basic_get(app.conf.task_default_queue, no_ack=False)
        assert message is not None and message.headers["id"] == task
        held = app.backend.client.hvals(compat.unacked_key(app))
        assert task in {compat.unacked_task_id(raw) for raw in held}
        assert compat.tasks_ahead(app.backend.client, app.conf.task_default_queue, task) is None  # taken
        assert task in compat.queued_and_held(app)
        message.ack()


def test_the_results_of_many_tasks_are_read_at_once(app):
    app.backend.store_result("done", "an answer", "SUCCESS")
    metas = compat.result_metas(app, ["done", "never sent"])
    assert metas[0]["status"] == "SUCCESS" and metas[0]["result"] == "an answer"
    assert metas[1] is None


def test_garbage_is_no_task():
    assert compat.task_id(b"not json") is None and compat.unacked_task_id(b'{"headers": {}}') is None
