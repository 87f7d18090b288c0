"""The server's settings: read once from the environment, each checked, then passed down.

Background jobs start from a fork server whose environment is that of the first app built
in the process, so nothing below reads the environment later: the app factory reads a
:class:`Settings` and hands it (or the paths in it) to everything that needs it.

  WSD_CACHE_DIR        results cache, job state, admission files and the key file (./.cache);
                       every gunicorn worker must share it
  WSD_CACHE_MB         size bound of the results cache (1024)
  WSD_SECRET_KEY       signs background-job handles (SECRET_KEY is read too; WSD_SECRET_KEY
                       wins); unset: a key file in WSD_CACHE_DIR
  REDIS_URL            a Redis server for Celery (redis://host:6379/0): background jobs and
                       the cells of regime maps run on Celery workers (``celery -A
                       app:celery_app worker``), on this host or others; unset: jobs run in
                       processes of the web server (Dash's diskcache manager)
  WSD_MAX_JOBS         jobs computing at once on this server (default: the number of cores)
  WSD_MAX_QUEUED       jobs allowed to wait for a free slot (default: 4 x WSD_MAX_JOBS)
  WSD_MAX_JOBS_PER_VISITOR  jobs one visitor (browser) may compute at once (2); the others wait
  WSD_NEW_VISITORS_PER_HOUR new visitor ids one client address gets an hour (60); its other
                       new browsers count as one anonymous visitor (dashboard.server.visitors)
  WSD_PROXIES          reverse proxies in front of the server whose X-Forwarded-For names
                       the client (0: the client is the connection's peer)
  WSD_MAX_RUN_SECONDS  the longest job accepted, by the estimate (60)
  WSD_ABANDON_SECONDS  a job whose page has not asked for news this long is stopped (30)
  WSD_ENGINE_RATE      trajectory-steps/s one job trains here (default: measured at start-up;
                       gunicorn's master measures it once for all its workers)
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cluster.celery_app import check_redis_url
from core.engine.parallel import default_workers
from dashboard.state.rules import number, whole_number

log = logging.getLogger(__name__)

KEY_FILE = "secret_key"
ROOT = Path(__file__).resolve().parents[2]  # the repository

Default = TypeVar("Default", bound=float | None)  # a setting's default: a number, or None (unset)


@dataclass(frozen=True)
class Settings:
    cache_dir: Path = ROOT / ".cache"
    cache_mb: int = 1024
    secret_key: str | None = None
    max_jobs: int = 1
    max_queued: int = 4
    max_jobs_per_visitor: int = 2
    new_visitors_per_hour: int = 60
    proxies: int = 0
    max_run_seconds: float = 60.0
    abandon_seconds: float = 30.0
    engine_rate: float | None = None  # trajectory-steps/s of one job; None: measured at start-up
    redis_url: str | None = None  # set: background jobs and map cells run on Celery workers

    @property
    def results_dir(self) -> Path:
        return self.cache_dir / "results"

    @property
    def jobs_dir(self) -> Path:
        """Dash's background-callback store (job results and progress)."""
        return self.cache_dir / "jobs"

    @property
    def admission_dir(self) -> Path:
        return self.cache_dir / "admission"

    @property
    def visitors_dir(self) -> Path:
        """New visitor ids counted per client address (dashboard.server.visitors.NewIdBudget)."""
        return self.cache_dir / "visitors"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in ``environ`` (default ``os.environ``); ValueError names a bad one."""
        env = os.environ if environ is None else environ
        max_jobs = whole_setting(env, "WSD_MAX_JOBS", default_workers(), 1, 1024)
        return cls(
            cache_dir=Path(env.get("WSD_CACHE_DIR") or cls.cache_dir),
            cache_mb=whole_setting(env, "WSD_CACHE_MB", cls.cache_mb, 1, 10**7),
            secret_key=env.get("WSD_SECRET_KEY") or env.get("SECRET_KEY") or None,
            max_jobs=max_jobs,
            max_queued=whole_setting(env, "WSD_MAX_QUEUED", 4 * max_jobs, 0, 100_000),
            max_jobs_per_visitor=whole_setting(env, "WSD_MAX_JOBS_PER_VISITOR", cls.max_jobs_per_visitor, 1, 1024),
            new_visitors_per_hour=whole_setting(env, "WSD_NEW_VISITORS_PER_HOUR", cls.new_visitors_per_hour, 1, 10**6),
            proxies=whole_setting(env, "WSD_PROXIES", cls.proxies, 0, 10),
            max_run_seconds=_positive(env, "WSD_MAX_RUN_SECONDS", cls.max_run_seconds, 86_400),
            abandon_seconds=_positive(env, "WSD_ABANDON_SECONDS", cls.abandon_seconds, 86_400),
            engine_rate=_positive(env, "WSD_ENGINE_RATE", None, 1e12),
            redis_url=_redis_url(env.get("REDIS_URL")),
        )


def whole_setting(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """The whole number in the variable ``name`` of ``env`` (``default`` if unset), or ValueError."""
    raw = env.get(name)
    return default if raw in (None, "") else whole_number(name, raw, low, high)


def _positive(env: Mapping[str, str], name: str, default: Default, high: float) -> float | Default:
    raw = env.get(name)
    return default if raw in (None, "") else number(name, raw, 0.0, high)


def _redis_url(raw: str | None) -> str | None:
    """REDIS_URL if set, checked for its scheme (a typo would otherwise surface at the first job)."""
    return None if raw in (None, "") else check_redis_url(raw)


def secret_key(settings: Settings) -> str:
    """The key that signs background-job handles, the same in every worker.

    Dash signs each job handle it gives a page and refuses a poll whose signature it cannot
    check, so workers with different keys answer each other's polls with nothing and the
    page waits for ever. ``WSD_SECRET_KEY`` if set; otherwise a random key created once,
    readable by its owner only, in the shared cache directory.
    """
    if settings.secret_key:
        return settings.secret_key
    path = settings.cache_dir / KEY_FILE
    key = _read_or_create_key(path)
    log.warning(
        "WSD_SECRET_KEY is not set: background jobs are signed with the key in %s, shared by the "
        "workers that use this cache directory. Set WSD_SECRET_KEY to keep it if the directory is reset.",
        path,
    )
    return key


def _read_or_create_key(path: Path) -> str:
    """The key in ``path``, written there first if absent (atomically: no worker reads half a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(draft, path)  # fails if another worker made it first: theirs wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("the key file %s can be read by other users (mode %o); it should be 600", path, mode)
    key = path.read_text().strip()
    if len(key) < 32:
        raise ValueError(f"the key file {path} holds {len(key)} characters; delete it to make a new one")
    return key
