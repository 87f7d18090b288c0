"""The Celery application: broker and results on one Redis server, and the task that trains
one chunk of cells.

Delivery: a chunk is acknowledged when it has finished, not when it was received (late
acks), and a chunk whose worker process died is put back in the queue
(``task_reject_on_worker_lost``); each worker process takes one task at a time (prefetch
1), so queued chunks wait in Redis for whichever worker frees up first, on any host. A
worker host that vanishes altogether leaves its chunk unacknowledged: Redis hands it out
again after ``visibility_timeout`` seconds (WSD_CELERY_VISIBILITY_SECONDS, 300). A map's
chunks do not wait for that: ``cluster.executor`` sends an overdue chunk whose worker does
not answer again itself. The timeout stays long because it must exceed the longest task:
Redis hands out again a message unacknowledged that long even if its worker is alive and
computing (a run, acknowledged only at its end, would then be computed twice), and a run's
length is bounded only by its estimate (WSD_MAX_RUN_SECONDS) until a hard time limit stops it.

Chunks travel as pickles (they hold the network, the data and NumPy arrays), so each is
signed with the server's secret key (HMAC-SHA256) and a worker unpickles only what it can
verify; its answer is signed the same way. Anyone who can write to the Redis server can
still queue Dash's own jobs: keep Redis on a private network.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pickle
from typing import Any

from celery import Celery

CHUNK_TASK = "wsd.train_chunk"
VISIBILITY_SECONDS = 300


def check_redis_url(url: str) -> str:
    """``url`` if it names a Redis server (redis://, rediss:// or unix://), else ValueError."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {url!r}")
    return url


def check_reachable(app: Celery) -> None:
    """ValueError if the Redis server of ``app`` does not answer (a ping, ~1 ms)."""
    try:
        app.backend.client.ping()
    except Exception as exc:  # redis.ConnectionError, TimeoutError, authentication, ...
        raise ValueError(f"cannot reach the Redis server of REDIS_URL ({exc})") from None


class LabCelery(Celery):
    """The project's Celery application, which knows the key its chunks are signed with
    (``chunk_key``): :class:`cluster.CeleryExecutor` seals what it sends with it, and the
    chunk task opens only what it can verify."""

    def __init__(self, redis_url: str, secret: str) -> None:
        super().__init__("wsd", broker=check_redis_url(redis_url), backend=redis_url)
        self.chunk_key = secret.encode()


def make_celery(redis_url: str, secret: str) -> LabCelery:
    """The project's Celery application on ``redis_url``, its chunks signed with ``secret``."""
    app = LabCelery(redis_url, secret)
    visibility = int(os.environ.get("WSD_CELERY_VISIBILITY_SECONDS") or VISIBILITY_SECONDS)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        # an unacknowledged task of a vanished host goes back to the queue after `visibility`
        # seconds; the surviving workers look for such tasks every tenth of that
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, visibility // 10),
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"visibility_timeout": visibility},
        worker_hijack_root_logger=False,
    )
    key = app.chunk_key

    @app.task(name=CHUNK_TASK)
    def train_chunk(payload: str) -> str:
        """``fn(*args)`` of a signed ``(fn, args)``: (True, result) or (False, the exception)."""
        fn, args = unseal(payload, key)
        try:
            answer = (True, fn(*args))
        except Exception as exc:  # bad input found on the worker: the caller raises it
            answer = (False, exc)
        return seal(answer, key)

    return app


def seal(value: Any, key: bytes) -> str:
    """``value`` pickled and signed, as text (the task messages are JSON)."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return base64.b64encode(hmac.new(key, data, hashlib.sha256).digest() + data).decode("ascii")


def unseal(text: str, key: bytes) -> Any:
    """What :func:`seal` made with ``key``; ValueError for anything else (never unpickled)."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    mac, data = raw[:32], raw[32:]
    if not hmac.compare_digest(mac, hmac.new(key, data, hashlib.sha256).digest()):
        raise ValueError("a chunk or its answer was not signed with this server's key (SECRET_KEY differs?)")
    return pickle.loads(data)  # noqa: S301 - signed by a holder of the key
