"""A results cache, admission and limits of their own for each test."""

import pytest

from dashboard.jobs.runner import Jobs
from dashboard.server.admission import Admission
from dashboard.state.rules import Limits

RATE = 200_000.0  # trajectory-steps/s assumed by the tests' limits (the app measures its own)


@pytest.fixture
def admission(tmp_path):
    return Admission(tmp_path / "admission", slots=2, max_queued=3, abandon_seconds=30.0)


@pytest.fixture
def store(tmp_path, admission):
    return Jobs(tmp_path / "results", 64, admission, Limits(rate=RATE), b"test key")


class DashClient:
    """Talks to an app's callbacks over HTTP as the page does (or as a hand-made request could)."""

    def __init__(self, app):
        import json
        import re

        self.app, self.http = app, app.server.test_client()
        page = self.http.get("/").get_data(as_text=True)
        config = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S)
        self.end_id = json.loads(config.group(1))["end_id"]

    def callback_key(self, *input_ids: str) -> str:
        return next(  # server callbacks only: a clientside one (e.g. the scroll on a run's start) has no function
            k
            for k, v in self.app.callback_map.items()
            if "callback" in v and [i["id"] for i in v["inputs"]] == list(input_ids)
        )

    def body(self, key: str, inputs: dict, state: dict | None = None) -> dict:
        spec = self.app.callback_map[key]
        names = [] if spec["no_output"] else key.strip(".").split("...")
        outputs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True)) for o in names]
        return {
            "output": key,
            "outputs": outputs if key.startswith("..") or not outputs else outputs[0],
            "inputs": [{**i, "value": inputs[f"{i['id']}.{i['property']}"]} for i in spec["inputs"]],
            "changedPropIds": [next(iter(inputs))],
            "state": [{**s, "value": (state or {}).get(f"{s['id']}.{s['property']}")} for s in spec["state"]],
        }

    def post(self, body: dict, **params):
        query = "&".join(f"{k}={v}" for k, v in {"endId": self.end_id, **params}.items())
        return self.http.post(f"/_dash-update-component?{query}", json=body)

    def start_job(self, body: dict) -> dict:
        """Start a background callback: its signed handles."""
        answer = self.post(body)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()

    def poll(self, body: dict, handles: dict):
        return self.post(body, cacheKey=handles["cacheKey"], job=handles["job"])

    def finish_job(self, body: dict, handles: dict, timeout: float = 60.0) -> tuple[dict, list[dict]]:
        """Poll until the job answers: (its outputs, the progress seen on the way)."""
        import time

        progress, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.poll(body, handles)
            assert answer.status_code in (200, 204), answer.get_data(as_text=True)
            data = answer.get_json(silent=True) or {}
            if "progress" in data:
                progress.append(data["progress"])
            if "response" in data:
                return data["response"], progress
            time.sleep(0.1)
        raise AssertionError(f"the job did not answer in {timeout} s")


@pytest.fixture
def make_client():
    """``make_client(app)`` -> a :class:`DashClient` of that app."""
    return DashClient
