"""What every response of a lab server carries, and what no request may do: a bound on the
size of a request, the browser's security headers, no Python build in the page, and no job
handle in the access log. Installed on the Flask server by the app factory (app.py).

The Content-Security-Policy allows inline scripts and ``eval``: Dash writes its clientside
callbacks and its config into the page, and the renderer builds the callbacks from strings.
What it still forbids: other origins for anything, framing (clickjacking), plugins and a
changed base URL.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask, Response

MAX_REQUEST_BYTES = 2 * 1024 * 1024  # the largest callback a page sends is a few kB (a map's box and store)
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# a background job's handles in a poll's query string: bearer credentials, kept out of logs
HANDLES = re.compile(r"((?:cacheKey|job)=)[^&\s\"]+")


def install(server: Flask, proxies: int = 0) -> None:
    """Bound the request size and add the security headers to every response of ``server``.
    Behind ``proxies`` trusted reverse proxies (WSD_PROXIES), the client's address is the one
    they forward in X-Forwarded-For (werkzeug's ProxyFix); otherwise that header is ignored, so
    a client cannot choose its own address (dashboard.server.visitors counts new ids per address)."""
    server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Flask's documented way to wrap its WSGI app; its stubs declare wsgi_app a method
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=proxies)  # type: ignore[method-assign]

    @server.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def page_config(config: dict) -> dict:
    """Dash's config as the page receives it, less the server's exact Python build and the
    address Dash's dev tools would ask for a newer version (dev tools are off here)."""
    return {k: v for k, v in config.items() if k not in ("python_version", "dash_version_url")}


def redact(text: str) -> str:
    """A log line with every job handle replaced by "…"."""
    return HANDLES.sub(r"\1…", text)


class RedactHandles(logging.Filter):
    """A logging filter that redacts job handles in a record's message (gunicorn's access log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):  # gunicorn's access log: the atoms are the args
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True
