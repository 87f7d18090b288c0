"""The lab server's backend: Celery workers, fed through Redis, on this host or many.

``make_celery(redis_url, secret)`` is the one Celery application of the project: Dash's
CeleryManager runs the dashboard's background jobs on it, and :class:`CeleryExecutor`
sends the chunks of a regime map to it (``core.engine.parallel.map_chunks(..., executor=...)``).
Workers are ``celery -A app:celery_app worker``. Nothing here imports dash.
"""

from cluster.celery_app import LabCelery, make_celery
from cluster.executor import CeleryExecutor

__all__ = ["CeleryExecutor", "LabCelery", "make_celery"]
