"""Visitors: a random id in a cookie, so that admission can bound the jobs of one visitor.

The page sent to a browser without one sets ``wsd_visitor`` (32 hex digits, HttpOnly,
SameSite=Lax, a year). A job's request carries its visitor's id; admission lets each visitor
compute at most ``WSD_MAX_JOBS_PER_VISITOR`` jobs at once (the others wait, and say so), so
one visitor's tabs cannot take every slot of a shared server. The id is signed into the
job's request by the server; a request without a cookie, or made by hand, counts as the one
visitor ``anonymous``.

A new id costs something: each client address gets at most ``WSD_NEW_VISITORS_PER_HOUR``
new ids an hour (60: a class behind one school address, each pupil in a browser or two).
Beyond that its new browsers get no id until the hour turns, and count as ``anonymous``, one
visitor with one visitor's share, so dropping the cookie to sidestep the per-visitor bound
stops paying after a few dozen tries. Behind a reverse proxy the client address is the one
it forwards (``WSD_PROXIES``, dashboard.server.hardening).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask, Response

log = logging.getLogger(__name__)

COOKIE = "wsd_visitor"
VISITOR = re.compile(r"[0-9a-f]{32}")
YEAR_SECONDS = 365 * 24 * 3600
ANONYMOUS = "anonymous"  # the visitor of every job whose request names none it can prove


HOUR = 3600


class NewIdBudget:
    """At most ``per_hour`` new visitor ids per client address and clock hour, counted in a
    store every worker of the server shares (a diskcache in the cache directory)."""

    def __init__(self, directory: Path, per_hour: int) -> None:
        from dashboard.server.cache import Store

        self.per_hour = per_hour
        self._counts = Store(directory)

    def spend(self, address: str | None) -> bool:
        """Whether ``address`` may have one more new id this hour (and count it if so)."""
        key = f"new-ids:{address or 'unknown'}:{int(time.time() // HOUR)}"
        self._counts.add(key, 0, expire=2 * HOUR)
        spent = self._counts.incr(key)
        if spent == self.per_hour + 1:  # once per address and hour
            log.warning(
                "%s asked for more than %d new visitor ids this hour: its new browsers count as "
                "the anonymous visitor until the hour turns",
                address,
                self.per_hour,
            )
        return spent <= self.per_hour


def install(server: Flask, budget: NewIdBudget) -> None:
    """Give a browser that has no visitor cookie one with the page (the HTML response, the
    first a browser asks for; the page's other requests carry it), within ``budget``."""
    from flask import request

    @server.after_request
    def _visitor_cookie(response: Response) -> Response:
        page = response.status_code == 200 and response.mimetype == "text/html"
        if not page or VISITOR.fullmatch(request.cookies.get(COOKIE, "")):
            return response
        if budget.spend(request.remote_addr):
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
    if not (isinstance(visitor, str) and isinstance(token, str) and isinstance(signature, str)):
        return ANONYMOUS
    if not VISITOR.fullmatch(visitor):
        return ANONYMOUS
    expected = sign(_claim(token, visitor))
    return visitor if hmac.compare_digest(signature.encode(), expected.encode()) else ANONYMOUS  # str: ASCII only
