"""Where the project reads kombu's and Celery's internals, in one place (written against
kombu 5.7.0 and celery 5.7.0, requirements.txt). tests/cluster/test_compat.py runs them on a
real Redis server, so an upgrade that changes a format fails there, naming the entry.

- Task messages as kombu's Redis transport keeps them. A queue is a Redis list of JSON
  messages (``{"headers": {"id": <task id>, ...}, ...}``) that ``LPUSH`` adds on the left
  and workers take from the right; a message a worker has taken but not acknowledged
  waits in the hash ``unacked`` (``broker_transport_options["unacked_key"]``) as
  ``[message, exchange, routing key]``. Neither kombu nor Celery has a public call that
  says where a task waits or whether a worker holds it (``app.control.inspect`` asks the
  workers, and only those that answer), and the lab needs both: the page of a queued job
  says how many jobs are ahead of it (dashboard.server.manager), and a map whose Redis
  restarted looks for each of its tasks (cluster.executor).
- Many results in one round trip. ``AsyncResult`` reads one task per round trip and
  subscribes to its channel; the Redis result backend's ``get_key_for_task``, ``mget`` and
  ``decode_result`` (methods of its key-value base class, not documented for users) read
  every pending task's state with one MGET (cluster.executor polls them every 50 ms).
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_UNACKED_KEY = "unacked"  # kombu.transport.redis.Channel.unacked_key


def task_id(raw: bytes | str) -> str | None:
    """The task id of a Celery message as queued by kombu in Redis; None for anything else."""
    try:
        return json.loads(raw)["headers"]["id"]
    except (ValueError, TypeError, LookupError):
        return None


def unacked_task_id(raw: bytes | str) -> str | None:
    """The task id of a message in kombu's ``unacked`` hash; None for anything else."""
    try:
        return json.loads(raw)[0]["headers"]["id"]
    except (ValueError, TypeError, LookupError):
        return None


def unacked_key(app: Any) -> str:
    """The Redis hash where ``app``'s workers keep the messages they hold unacknowledged."""
    return (app.conf.broker_transport_options or {}).get("unacked_key", DEFAULT_UNACKED_KEY)


def tasks_ahead(client: Any, queue: str, task: str) -> int | None:
    """How many tasks a worker takes from ``queue`` before ``task``; None if it is not there."""
    messages = client.lrange(queue, 0, -1)
    for i, raw in enumerate(messages):
        if task_id(raw) == task:
            return len(messages) - 1 - i  # pushed on the left, taken from the right
    return None


def queued_and_held(app: Any) -> set[str | None]:
    """The ids of the tasks waiting in ``app``'s default queue or held by a worker."""
    client = app.backend.client
    known = {task_id(raw) for raw in client.lrange(app.conf.task_default_queue, 0, -1)}
    return known | {unacked_task_id(raw) for raw in client.hvals(unacked_key(app))}


def result_metas(app: Any, task_ids: list[str]) -> list[dict[str, Any] | None]:
    """The stored state of each of ``task_ids`` (``{"status": ..., "result": ...}``, or None
    if Redis has none: not started, or forgotten), read in one round trip."""
    backend = app.backend
    raws = backend.mget([backend.get_key_for_task(task) for task in task_ids])
    return [None if raw is None else backend.decode_result(raw) for raw in raws]
