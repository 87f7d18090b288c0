"""--backend: where the cells of a sweep, map or orbit diagram are computed.

``local`` (default): processes on this machine (--workers). ``celery``: the Celery workers
of a lab server (``celery -A app:celery_app worker`` on any number of hosts), reached
through the Redis server in REDIS_URL and signed with the workers' SECRET_KEY (or
WSD_SECRET_KEY); the results are the same numbers as a local run.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from commands.common import count_arg
from core.engine.parallel import default_workers

if TYPE_CHECKING:
    from celery import Celery

BACKENDS = ("local", "celery")


@dataclass(frozen=True)
class Backend:
    executor: Executor | None  # None: local processes
    cores: int  # processes computing at once, for the cost estimate
    where: str  # for the summary line


def backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=count_arg, default=None, help="local processes (default: all cores)")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="local processes, or the Celery workers of REDIS_URL (with their SECRET_KEY)",
    )


def backend_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Backend:
    """The backend the arguments ask for; ValueError names what is missing."""
    if args.backend == "local":
        cores = min(args.workers or default_workers(), default_workers())
        return Backend(None, cores, f"{cores} local process(es)")
    env = os.environ if environ is None else environ
    url, secret = env.get("REDIS_URL"), env.get("WSD_SECRET_KEY") or env.get("SECRET_KEY")
    if not url or not secret:
        raise ValueError("--backend celery needs REDIS_URL and SECRET_KEY (the workers' key) in the environment")
    if args.workers is not None:
        raise ValueError("--workers counts local processes; with --backend celery the workers' own count is used")
    from cluster import CeleryExecutor, make_celery
    from cluster.celery_app import check_reachable

    app = make_celery(url, secret)
    check_reachable(app)
    cores = _worker_processes(app)
    if not cores:
        raise ValueError(
            f"no Celery worker answered on {url}: start one with `celery -A app:celery_app worker` "
            "(same REDIS_URL and SECRET_KEY)"
        )
    return Backend(CeleryExecutor(app), cores, f"{cores} Celery worker process(es)")


def _worker_processes(app: Celery) -> int:
    """Worker processes of the workers that answer within a second (0 if none)."""
    stats = app.control.inspect(timeout=1.0).stats() or {}
    return sum(int(s.get("pool", {}).get("max-concurrency", 1)) for s in stats.values())
