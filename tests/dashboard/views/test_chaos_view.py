"""The Chaos view's long run as a plain function: its figures, its refusals."""

import pytest
from dash import no_update

from dashboard import state
from dashboard.jobflow import side_job
from dashboard.views import chaos

VALUES = state.run_values(state.default_values())
JOB = chaos.SIDE_JOBS[0]


def _request(extra):
    return {"kind": "chaos", "values": VALUES, "extra": extra, "token": "ef" * 16}


def test_a_long_run_at_eta_5_draws_its_diagnostics(store):
    updates = []
    *figures, summary, label, message = side_job(store, JOB, _request({"eta": 5, "steps": 3000}), updates.append)
    assert message == "" and label.startswith("done in ")
    loss_norm, acf, rates, weights = figures
    assert len(loss_norm.data) >= 2 and "lags" in acf.layout.title.text
    assert weights.data and all(t.name.startswith("p") for t in weights.data)
    assert "The loss rises on" in summary and "%" in summary
    assert any("of 3,000" in text for (text,) in updates)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"eta": 0, "steps": 3000}, "η of the long run must be a number in (0, 1000]"),
        ({"eta": 5, "steps": 10}, "iterations of the long run must be a whole number from 1000 to 50000"),
        ({"eta": "x", "steps": 3000}, "got 'x'"),
    ],
)
def test_bad_long_runs_are_refused(store, extra, message):
    *figures, label, text = side_job(store, JOB, _request(extra), lambda _: None)
    assert all(f is no_update for f in figures) and text.startswith("Refused: ") and message in text, text
