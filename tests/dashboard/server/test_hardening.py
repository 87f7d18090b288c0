"""What every response carries and what no request may do (dashboard.server.hardening)."""

import json
import logging
import re

import pytest

from app import create_app
from core.config import RunConfig
from dashboard.server import hardening
from dashboard.server.settings import Settings


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    app = create_app(Settings(cache_dir=tmp_path_factory.mktemp("cache"), engine_rate=100_000.0))
    return app.server.test_client()


def test_every_response_carries_the_security_headers(http):
    for path in ("/", "/health", "/_dash-layout", "/no/such/page"):
        headers = http.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_a_request_larger_than_the_bound_is_refused_unread(http):
    """The defect: a 100 MB JSON body was read and parsed (a 24 MB job request: +300 MB RSS)."""
    body = b'{"output": "x", "inputs": [' + b"0," * (hardening.MAX_REQUEST_BYTES // 2) + b"0]}"
    answer = http.post("/_dash-update-component", data=body, content_type="application/json")
    assert answer.status_code == 413


def test_the_page_does_not_name_the_servers_python_build(http):
    page = http.get("/").get_data(as_text=True)
    config = json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S)[1])
    assert "python_version" not in config and "dash_version_url" not in config and config["end_id"]


def test_the_visitor_cookie_is_secure_behind_tls(http):
    server = http.application  # a new browser each: no cookie yet

    plain = server.test_client().get("/", base_url="http://lab.example").headers.get_all("Set-Cookie")
    tls = server.test_client().get("/", base_url="https://lab.example").headers.get_all("Set-Cookie")
    assert plain and "Secure" not in plain[0]
    assert tls and "Secure" in tls[0] and "HttpOnly" in tls[0]


def test_job_handles_are_kept_out_of_the_access_log():
    line = '"GET /_dash-update-component?cacheKey=ab12&job=4711&endId=x HTTP/1.1" 200'
    assert hardening.redact(line) == '"GET /_dash-update-component?cacheKey=…&job=…&endId=x HTTP/1.1" 200'
    record = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, "%(r)s", None, None)
    record.args = {"r": line, "s": "200"}
    assert hardening.RedactHandles().filter(record) and "4711" not in record.getMessage()


@pytest.mark.parametrize(("field", "value"), [("learning_rate", 1000.5), ("eps", 1.5)])
def test_the_cli_and_api_take_the_pages_limits(field, value):
    """The defect: the CLI took eta up to 1e6 and eps up to 10 where the page took 1000 and 1."""
    with pytest.raises(ValueError, match=field):
        RunConfig(**{field: value})
    RunConfig(learning_rate=1000.0, eps=1.0)


def _new_browser_cookie(server, address: str, forwarded: str | None = None) -> list[str]:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    answer = server.test_client().get("/", environ_base={"REMOTE_ADDR": address}, headers=headers)
    assert answer.status_code == 200
    return [c for c in answer.headers.get_all("Set-Cookie") if c.startswith("wsd_visitor=")]


def test_a_new_visitor_id_costs_something(tmp_path):
    """The defect: dropping the cookie gave a new visitor each time, each with its own share of
    the server (rotating cookies sidestepped WSD_MAX_JOBS_PER_VISITOR). Now an address gets a
    few new ids an hour; its further new browsers get none and count as the one anonymous
    visitor. Only the page sets the cookie, so a page load spends one id, not one per request."""
    settings = Settings(cache_dir=tmp_path, engine_rate=100_000.0, new_visitors_per_hour=3)
    server = create_app(settings).server
    assert not [c for c in server.test_client().get("/_dash-layout").headers.get_all("Set-Cookie")]
    assert [len(_new_browser_cookie(server, "10.0.0.7")) for _ in range(5)] == [1, 1, 1, 0, 0]
    assert _new_browser_cookie(server, "10.0.0.8")  # another address has its own budget
    # X-Forwarded-For is the client's own word unless a trusted proxy sets it (WSD_PROXIES)
    assert not _new_browser_cookie(server, "10.0.0.7", forwarded="192.0.2.1")
    proxied = create_app(Settings(cache_dir=tmp_path / "p", engine_rate=1e5, new_visitors_per_hour=1, proxies=1))
    assert _new_browser_cookie(proxied.server, "10.0.0.1", forwarded="192.0.2.1")
    assert _new_browser_cookie(proxied.server, "10.0.0.1", forwarded="192.0.2.2")
    assert not _new_browser_cookie(proxied.server, "10.0.0.1", forwarded="192.0.2.2")
