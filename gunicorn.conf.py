"""gunicorn's settings for the dashboard, read from the working directory: ``gunicorn app:server``.

Workers: WEB_CONCURRENCY (gunicorn's own variable; 2 here). Every worker builds its own app,
with its own fork server for jobs; they share WSD_CACHE_DIR (results, job state, admission
slots and, unless WSD_SECRET_KEY is set, the key that signs job handles).
"""

import os

bind = [f"{os.environ.get('WSD_HOST', '127.0.0.1')}:{os.environ.get('PORT', '8050')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads, so that a page's polls are answered while another request of the same worker
# waits (a view recomputing a record the cache lost can take up to WSD_MAX_RUN_SECONDS).
worker_class = "gthread"
threads = 4
timeout = int(2 * float(os.environ.get("WSD_MAX_RUN_SECONDS", "60")) + 30)
preload_app = False  # each worker starts its own job fork server after it is forked
