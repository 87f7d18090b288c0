"""A results cache, admission and limits of their own for each test."""

import base64

import numpy as np
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


def _plotted(a) -> np.ndarray:
    """A trace's array as the page receives it: a figure's plain dict carries numpy arrays as
    Plotly's base64 typed arrays ({"dtype", "bdata", "shape"}); a go.Figure as arrays or tuples."""
    if isinstance(a, dict) and "bdata" in a:
        flat = np.frombuffer(base64.b64decode(a["bdata"]), dtype=np.dtype(a["dtype"]))
        shape = a.get("shape")
        if isinstance(shape, str):
            shape = tuple(int(n) for n in shape.split(","))
        return flat.reshape(shape) if shape else flat
    return np.asarray(a)


@pytest.fixture
def plotted():
    """``plotted(trace_array)`` -> the array a figure (go.Figure or its plain dict) draws."""
    return _plotted


def _run_summary(record) -> str:
    """The Divergence view's summary of a full-batch run that kept every copy finite, written
    out from the record's own numbers."""
    fit, rate, steps = record.ftle, record.leading_exponent, record.leading_steps
    assert steps == record.config.n_steps and not record.diverged_rows  # the sentences below assume it
    loss = (
        f"final loss {record.loss[-1, 0]:.4g}, train accuracy {record.train_accuracy:.1%}, "
        f"test accuracy {record.test_accuracy:.1%}."
    )
    ftle = (
        f"FTLE {fit.slope:.4f} per iteration (R² {fit.r2:.3f}, {'kept' if fit.kept else 'not kept'})."
        if fit.found
        else "No FTLE window fits this run."
    )
    window = f"; the FTLE is the rate of <d> over iterations {fit.start:.0f}-{fit.start + fit.length:.0f}"
    tangent = f"Leading tangent exponent of the reference λ₁ {rate:.4f} per iteration, over all {steps:,} iterations"
    return f"{loss} {ftle} {tangent}{window if fit.found else ''}."


@pytest.fixture
def run_summary():
    """``run_summary(record)`` -> the Divergence view's summary of a finished run, from its numbers."""
    return _run_summary


def _movement_summary(record) -> str:
    """The Weights view's sentence of a finite run, from its weights: Delta_w = |w(T) - w(0)| / |w(0)|
    and the path length D_w over the net displacement |w(T) - w(0)| (docs/method.md §5)."""
    mask = record.weight_mask
    start, moved = record.theta_start[mask], np.abs(record.theta_final - record.theta_start)[mask]
    wander = record.path_length[mask] / moved
    small = np.mean(moved / np.abs(start) < 0.1)
    return (
        f"{small:.0%} of the weights end within 10% of where they started; the median weight travels "
        f"{np.median(wander):.3g} times its net displacement (1 means a straight path), the most "
        f"wandering {wander.max():.3g} times."
    )


@pytest.fixture
def movement_summary():
    """``movement_summary(record)`` -> the Weights view's sentence of a finished run, from its weights."""
    return _movement_summary
