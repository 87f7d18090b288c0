"""The dashboard. ``python app.py`` serves it on http://127.0.0.1:8050; ``app:server`` is for gunicorn.

Settings from the environment: WSD_HOST (127.0.0.1), WSD_PORT (8050), WSD_DEBUG (off).
"""

from __future__ import annotations

import os

from dash import Dash

from dashboard import callbacks
from dashboard.layout import build_layout


def create_app() -> Dash:
    """A new, fully wired app (tests build one per test)."""
    app = Dash(__name__, title="Weight-space dynamics")
    app.layout = build_layout()
    callbacks.register(app)
    return app


app = create_app()
server = app.server

if __name__ == "__main__":
    debug = os.environ.get("WSD_DEBUG", "").lower() in ("1", "true", "yes")
    app.run(host=os.environ.get("WSD_HOST", "127.0.0.1"), port=int(os.environ.get("WSD_PORT", "8050")), debug=debug)
