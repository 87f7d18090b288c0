"""dashboard.server.compat: for each entry, the stock library (dash 4.4.1, diskcache 5.6.3)
still needs it. When one of these fails after an upgrade, the library has changed or mended
what the entry is for: drop or rewrite that entry. (tests/dashboard/server/test_manager.py holds the
same for the managers' NoSuchProcess and process-id mends.)"""

import inspect
import os
from pathlib import Path
from types import SimpleNamespace

import dash
import diskcache
import pytest
from dash import CeleryManager, Dash, DiskcacheManager
from dash._callback import _handle_rest_background_callback
from dash._utils import AttributeDict

from dashboard.server.compat.dash_parts import (
    PUSHSTATE_EVENT,
    MendedCeleryManager,
    MendedDiskcacheManager,
    PageConfigDash,
    background_error,
)
from dashboard.server.compat.diskcache_parts import FileFollowingCache


class _Poll:
    """What Dash's poll asks of a manager, answering as a job that has ended."""

    UNDEFINED = object()

    def __init__(self) -> None:
        self.terminated = []

    def job_running(self, job):
        return False

    def terminate_job(self, job):
        self.terminated.append(job)

    def get_updated_props(self, key):
        return {}


def _poll(output_value, on_error=None):
    manager = _Poll()
    ctx = AttributeDict({"updated_props": {}})
    value = output_value if output_value != "undefined" else manager.UNDEFINED
    return _handle_rest_background_callback(value, manager, {}, on_error, ctx, False, cache_key="k", job_id="7")


def test_dash_still_hands_the_error_payload_to_on_error():
    seen = []
    _poll(background_error("The job ended without a result."), on_error=seen.append)
    assert [type(exc).__name__ for exc in seen] == ["BackgroundCallbackError"]
    assert "The job ended without a result." in str(seen[0])


def test_dash_still_answers_nothing_for_a_job_that_ended_without_a_read_result():
    """Why ReadsResultAgain: a poll whose result read came just before the job stored it
    (and ended) is answered as a cancelled job, with no update: the page stops polling."""
    output, has_update, _ = _poll("undefined")
    assert type(output).__name__ == "NoUpdate" and not has_update


def test_dcc_location_still_listens_to_the_private_pushstate_event():
    bundle = Path(dash.dcc.__file__).with_name("dash_core_components.js").read_text()
    assert f'addEventListener("{PUSHSTATE_EVENT}"' in bundle or f"addEventListener('{PUSHSTATE_EVENT}'" in bundle


def test_stock_dash_puts_the_python_build_in_the_page_config():
    assert "python_version" in Dash(__name__)._config()

    class Filtered(PageConfigDash):
        def filter_page_config(self, config):
            return {k: v for k, v in config.items() if k != "python_version"}

    assert "python_version" not in Filtered(__name__)._config()


class _Recorder:
    def __init__(self, *args, **kwargs) -> None:
        self.target, self.args, self.pid = kwargs["target"], kwargs["args"], 4242

    def start(self) -> None:
        pass


def test_stock_diskcache_manager_takes_no_process_context(tmp_path, monkeypatch):
    """dash 4.4.1 starts jobs with multiprocess.Process (the default start method): the lab's
    manager starts them from the context it is given, with the same arguments."""
    import multiprocess

    started = []
    monkeypatch.setattr(multiprocess, "Process", lambda **kw: started.append(_Recorder(**kw)) or started[-1])
    assert "context" not in inspect.signature(DiskcacheManager.__init__).parameters
    assert DiskcacheManager(diskcache.Cache(str(tmp_path / "a"))).call_job_fn("key", print, (1,), {}) == 4242
    processes = SimpleNamespace(Process=lambda **kw: started.append(_Recorder(**kw)) or started[-1])
    mended = MendedDiskcacheManager(diskcache.Cache(str(tmp_path / "b")), processes)
    assert mended.call_job_fn("key", print, (1,), {}) == 4242
    assert started[0].args == started[1].args == ("key", "key-progress", (1,), {})


def test_stock_celery_manager_kills_the_task_whose_result_it_has_read():
    from cluster import make_celery

    app = make_celery("redis://127.0.0.1:9/0", "a key")  # never connected to
    calls = []
    app.control = SimpleNamespace(
        terminate=lambda job: calls.append(("terminate", job)), revoke=lambda job: calls.append(("revoke", job))
    )
    CeleryManager(app).terminate_job("task")
    MendedCeleryManager(app).terminate_job("task")
    assert calls == [("terminate", "task"), ("revoke", "task")]


@pytest.mark.parametrize("method", ["call_job_fn", "get_result", "job_running", "terminate_job", "get_progress"])
def test_the_manager_methods_the_lab_overrides_keep_their_signatures(method):
    """dashboard.server.manager overrides these (Dash documents no manager interface)."""
    expected = {
        "call_job_fn": ["self", "key", "job_fn", "args", "context"],
        "get_result": ["self", "key", "job"],
        "job_running": ["self", "job"],
        "terminate_job": ["self", "job"],
        "get_progress": ["self", "key"],
    }[method]
    for manager in (DiskcacheManager, CeleryManager):
        assert list(inspect.signature(getattr(manager, method)).parameters) == expected, manager


def test_stock_diskcache_keeps_writing_to_a_deleted_database(tmp_path):
    """diskcache 5.6.3: a thread's connection outlives its file; what it writes is lost."""
    stock = diskcache.Cache(str(tmp_path / "stock"))
    stock.set("before", 1)
    os.remove(tmp_path / "stock" / diskcache.core.DBNAME)
    stock.set("after", 2)  # no error: written to the deleted file
    assert not (tmp_path / "stock" / diskcache.core.DBNAME).exists()

    class Made(FileFollowingCache):
        def _database_missing(self):
            self.reinitialize()

    followed = Made(str(tmp_path / "followed"))
    followed.set("before", 1)
    os.remove(followed.database)
    followed.set("after", 2)
    assert diskcache.Cache(str(tmp_path / "followed")).get("after") == 2  # in the file others read
