"""Redis gone in the middle of a run: the page's next poll says the result is lost, rather
than failing with HTTP 500 (after which the page stopped and waited in silence)."""

import psutil
from dash.exceptions import BackgroundCallbackError

from cluster import make_celery
from cluster.local import redis_server
from dashboard.admission import Admission
from dashboard.jobflow import error_message
from dashboard.manager import REDIS_LOST, CeleryJobManager

TASK = "0123abcd-0123-4567-89ab-0123456789ab"


def _kill_server_on(url: str) -> None:
    port = url.rsplit(":", 1)[1].split("/")[0]
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "redis-server" and f":{port}" in " ".join(process.info["cmdline"] or []):
            process.kill()
            process.wait(5)
            return
    raise AssertionError(f"no redis-server on port {port}")


def test_a_poll_after_redis_died_reports_the_result_lost(tmp_path):
    with redis_server() as url:
        manager = CeleryJobManager(make_celery(url, "0" * 64), Admission(tmp_path, 2, 8, 30.0, redis_url=url))
        assert manager.get_result("key", TASK) is manager.UNDEFINED  # Redis is there: no result yet
        _kill_server_on(url)
        assert manager.get_progress("key") is None
        lost = manager.get_result("key", TASK)
        assert not manager.job_running(TASK) and manager.get_updated_props("key") == {}
    message = lost["background_callback_error"]["msg"]
    assert message.startswith(REDIS_LOST) and message.endswith("Press Run again once Redis is back.")
    # what the page shows: Dash wraps the message, the app's error handler unwraps it
    shown = error_message(BackgroundCallbackError(f"An error occurred inside a background callback: {message}\n"))
    assert shown == message
