"""Visitors: a random id in a cookie, so that admission can bound the jobs of one visitor.

The first response to a browser sets ``wsd_visitor`` (32 hex digits, HttpOnly, SameSite=Lax,
a year). A job's request carries its visitor's id; admission lets each visitor compute at
most ``WSD_MAX_JOBS_PER_VISITOR`` jobs at once (the others wait, and say so), so one
visitor's tabs cannot take every slot of a shared server. The id is signed into the job's
request by the server; a request without a cookie, or made by hand, counts as the one
visitor ``anonymous``.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from typing import Any

COOKIE = "wsd_visitor"
VISITOR = re.compile(r"[0-9a-f]{32}")
YEAR_SECONDS = 365 * 24 * 3600
ANONYMOUS = "anonymous"  # the visitor of every job whose request names none it can prove


def install(server) -> None:
    """Give every browser that has none a visitor cookie (on any response of ``server``)."""
    from flask import request

    @server.after_request
    def _visitor_cookie(response):
        if not VISITOR.fullmatch(request.cookies.get(COOKIE, "")):
            # Secure behind TLS (a proxy's X-Forwarded-Proto counts where gunicorn trusts it)
            response.set_cookie(
                COOKIE,
                secrets.token_hex(16),
                max_age=YEAR_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure,
            )
        return response


def current() -> str | None:
    """The visitor of the request being answered (None outside a request or without a cookie)."""
    from flask import has_request_context, request

    if not has_request_context():
        return None
    value = request.cookies.get(COOKIE, "")
    return value if VISITOR.fullmatch(value) else None


def _claim(token: str, visitor: str) -> str:
    """What is signed: read one way only, the visitor being 32 hex digits at the end (and
    never a record key, which starts with its kind)."""
    return f"visitor {token} {visitor}"


def signed(sign: Callable[[str], str], token: str) -> dict[str, str]:
    """What a new job's request carries for admission: the visitor of this request, signed
    with the job's ``token`` by the server's ``sign``, so that a hand-made request cannot name
    another visitor or none (empty without a visitor cookie)."""
    visitor = current()
    return {} if visitor is None else {"visitor": visitor, "visitor_signature": sign(_claim(token, visitor))}


def of(pending: Any, sign: Callable[[str], str]) -> str:
    """The visitor whose jobs a job's request counts among: the signed visitor, else
    ANONYMOUS, one bucket shared by every request without a cookie or a valid signature."""
    if not isinstance(pending, dict):
        return ANONYMOUS
    visitor, token, signature = pending.get("visitor"), pending.get("token"), pending.get("visitor_signature")
    if not all(isinstance(v, str) for v in (visitor, token, signature)) or not VISITOR.fullmatch(visitor):
        return ANONYMOUS
    expected = sign(_claim(token, visitor))
    return visitor if hmac.compare_digest(signature.encode(), expected.encode()) else ANONYMOUS  # str: ASCII only
