"""Visitors: a random id in a cookie, so that admission can bound the jobs of one visitor.

The first response to a browser sets ``wsd_visitor`` (32 hex digits, HttpOnly, SameSite=Lax,
a year). A job's request carries its visitor's id; admission lets each visitor compute at
most ``WSD_MAX_JOBS_PER_VISITOR`` jobs at once (the others wait, and say so), so one
visitor's tabs cannot take every slot of a shared server. A client that drops its cookies
is one visitor per request: the bound per server still holds.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

COOKIE = "wsd_visitor"
VISITOR = re.compile(r"[0-9a-f]{32}")
YEAR_SECONDS = 365 * 24 * 3600


def install(server) -> None:
    """Give every browser that has none a visitor cookie (on any response of ``server``)."""
    from flask import request

    @server.after_request
    def _visitor_cookie(response):
        if not VISITOR.fullmatch(request.cookies.get(COOKIE, "")):
            response.set_cookie(COOKIE, secrets.token_hex(16), max_age=YEAR_SECONDS, httponly=True, samesite="Lax")
        return response


def current() -> str | None:
    """The visitor of the request being answered (None outside a request or without a cookie)."""
    from flask import has_request_context, request

    if not has_request_context():
        return None
    value = request.cookies.get(COOKIE, "")
    return value if VISITOR.fullmatch(value) else None


def of(pending: Any) -> str | None:
    """The visitor a job's pending request names, if it is a well-formed one."""
    value = pending.get("visitor") if isinstance(pending, dict) else None
    return value if isinstance(value, str) and VISITOR.fullmatch(value) else None
