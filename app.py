"""The dashboard. ``python app.py`` serves it on http://127.0.0.1:8050; ``app:server`` is for gunicorn.

Environment:
  WSD_HOST, WSD_PORT   where ``python app.py`` listens (127.0.0.1, 8050)
  WSD_DEBUG            1 to turn on Dash's debug mode (off by default)
  WSD_CACHE_DIR        results cache and background-job state (./.cache); every gunicorn
                       worker must share it
  WSD_CACHE_MB         size bound of the results cache (1024)
  WSD_SECRET_KEY       Flask secret key (a random one per process if unset)
"""

from __future__ import annotations

import os
import secrets

from dash import Dash, DiskcacheManager

from dashboard import cache, callbacks
from dashboard.layout import build_layout


def create_app() -> Dash:
    """A new, fully wired app (tests build one per test)."""
    manager = DiskcacheManager(cache.jobs_cache())
    app = Dash(
        __name__,
        title="Weight-space dynamics",
        background_callback_manager=manager,
        suppress_callback_exceptions=False,
    )
    app.server.secret_key = os.environ.get("WSD_SECRET_KEY") or secrets.token_hex(32)
    app.layout = build_layout()
    callbacks.register(app)
    return app


app = create_app()
server = app.server

if __name__ == "__main__":
    debug = os.environ.get("WSD_DEBUG", "").lower() in ("1", "true", "yes")
    app.run(host=os.environ.get("WSD_HOST", "127.0.0.1"), port=int(os.environ.get("WSD_PORT", "8050")), debug=debug)
