"""gunicorn's settings for the dashboard, read from the working directory: ``gunicorn app:server``.

Workers: WEB_CONCURRENCY (gunicorn's own variable; 2 here); port: PORT (8050), on WSD_HOST
(127.0.0.1). Every worker builds its own app, with its own fork server for jobs; they share
WSD_CACHE_DIR (results, job state, admission slots). The master, before it starts any
worker, settles what the workers must agree on and passes it to them in the environment:
the key that signs job handles and the engine's speed that job costs are estimated from.
A worker restarted later inherits the same, even if the cache directory was reset.
"""

import os

from dashboard.server.settings import Settings, whole_setting

_settings = Settings.from_env()  # a bad WSD_* value stops gunicorn here, with its message

bind = [f"{os.environ.get('WSD_HOST', '127.0.0.1')}:{whole_setting(os.environ, 'PORT', 8050, 1, 65535)}"]
workers = whole_setting(os.environ, "WEB_CONCURRENCY", 2, 1, 256)
# Threads, so that a page's polls are answered while another request of the same worker
# waits (a view recomputing a record the cache lost can take up to WSD_MAX_RUN_SECONDS).
worker_class = "gthread"
threads = 4
timeout = int(2 * _settings.max_run_seconds) + 30
preload_app = False  # each worker starts its own job fork server after it is forked


def on_starting(server):
    """In the master: one signing key and one engine speed for every worker."""
    from core.engine.speed import measure_rate
    from dashboard.server.settings import secret_key

    os.environ["WSD_SECRET_KEY"] = secret_key(_settings)
    if _settings.engine_rate is None:
        os.environ["WSD_ENGINE_RATE"] = f"{measure_rate():.0f}"
        server.log.info("the engine trains %s trajectory-steps/s per job here", os.environ["WSD_ENGINE_RATE"])


def post_worker_init(worker):
    """In each worker: the app's log records go to gunicorn's error log (not bare stderr), and
    the access log names no job handle (a poll's cacheKey and job are bearer credentials)."""
    import logging

    from dashboard.server.hardening import RedactHandles

    root = logging.getLogger()
    for handler in worker.log.error_log.handlers:
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    worker.log.access_log.addFilter(RedactHandles())
