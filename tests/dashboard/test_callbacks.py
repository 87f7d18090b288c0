"""Callback logic as plain functions, and the app factory."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from core.config import RunConfig
from dashboard import cache, callbacks, jobs, state


@pytest.fixture(scope="module")
def record():
    return jobs.stability(RunConfig(n_steps=300, n_perturbations=4))


def test_props_round_trip():
    values = {**state.default_values(), "normalized": True}
    props = callbacks.props_from_values(values)
    assert props[state.CONTROLS.index("normalized")] == ["on"]
    assert callbacks.raw_from_props(props) == values


def test_run_config_uses_last_valid_values_and_refuses_huge_runs():
    props = callbacks.props_from_values({**state.default_values(), "eta": "oops"})
    assert callbacks.run_config(props, {**state.default_values(), "eta": 2.0}).learning_rate == 2.0
    big = callbacks.props_from_values({**state.default_values(), "steps": 50_000, "perturbations": 200})
    with pytest.raises(ValueError, match="trajectory-steps"):
        callbacks.run_config(big, state.default_values())


def test_record_has_what_the_views_need(record):
    assert record["distance"].shape == (301, 4) and record["loss"].shape == (301, 5)
    assert record["ablation_w1"].shape == (4, 10) and record["ablation_w2"].shape == (10, 3)
    assert record["predictions"].shape == (150,) and not record["cancelled"]
    text = callbacks.summary_text(record)
    assert "final loss" in text and "FTLE" in text


def test_views_draw_from_a_record(record):
    fig = callbacks.distance_view(record, normalized=True)
    assert fig.layout.yaxis.title.text == "d(t) / (ε N_w)"
    assert float(fig.data[1].y[0]) == pytest.approx(record["normalized_distance"][0], rel=1e-6)
    w1, w2, displacement, norm = callbacks.weights_views(record, ["a", "b", "c", "d"], ["p", "q", "r"])
    assert list(w1.data[0].y) == ["a", "b", "c", "d"] and len(displacement.data[0].x) <= 70
    data_fig, text, _ = callbacks.data_view(record, 2, 3)
    assert "120 training flowers" in text


def test_finished_view_is_built_once_and_needs_its_record(record, tmp_path, monkeypatch):
    key = "run:abc:"
    assert callbacks.finished_view(tmp_path, key, False) is None  # nothing stored yet
    with cache.results(tmp_path) as results:
        results.set(key, record)
    summary, figure = callbacks.finished_view(tmp_path, key, False)
    assert summary == callbacks.summary_text(record)
    assert figure["layout"]["yaxis"]["type"] == "log" and len(figure["data"]) == 3
    monkeypatch.setattr(callbacks, "distance_view", lambda *_: pytest.fail("the stored view should be used"))
    assert callbacks.finished_view(tmp_path, key, False)[1] == figure
    with cache.results(tmp_path) as results:
        del results[key]  # the record evicted: its view alone must not answer
    assert callbacks.finished_view(tmp_path, key, False) is None


def test_diverged_rows_are_named():
    rec = {
        "ftle": {"slope": float("nan")},
        "loss": np.ones((2, 3)),
        "train_accuracy": 0.3,
        "test_accuracy": 0.3,
        "diverged_rows": [0, 2],
    }
    assert "Diverged (non-finite loss or weights): the reference, copy 2." in callbacks.summary_text(rec)


def test_exports(record):
    frame = pd.read_csv(io.StringIO(callbacks.export_csv(record)))
    assert len(frame) == 301 and {"iteration", "loss_reference", "mean_distance", "d_1", "d_4"} <= set(frame)
    with np.load(io.BytesIO(callbacks.export_npz(record))) as f:
        assert f["distance"].shape == (301, 4) and json.loads(str(f["config"]))["n_steps"] == 300


def test_cached_computes_once_and_skips_cancelled(tmp_path):
    calls = []
    first = jobs.cached(tmp_path, "k", lambda: calls.append(1) or {"x": 1})
    again = jobs.cached(tmp_path, "k", lambda: calls.append(1) or {"x": 2})
    assert first == again == {"x": 1} and calls == [1]
    jobs.cached(tmp_path, "c", lambda: {"cancelled": True})
    with cache.results(tmp_path) as results:
        assert results.get("c") is None and results.get("k") == {"x": 1}


def test_a_record_written_by_another_process_is_read_by_the_server(tmp_path):
    """Background jobs run in other processes; the server must see what they store."""
    import os

    with cache.results(tmp_path) as results:
        assert results.get("k") is None
    pid = os.fork()
    if pid == 0:  # the child stores a record and leaves at once
        jobs.cached(tmp_path, "k", lambda: {"x": np.zeros(100_000)})
        os._exit(0)
    os.waitpid(pid, 0)
    with cache.results(tmp_path) as results:
        assert results.get("k")["x"].shape == (100_000,)


def test_throttle_reports_at_most_every_interval_and_always_the_end():
    seen = []
    throttle = jobs.Throttle(lambda done, total, elapsed: seen.append(done), seconds=3600)
    for done in range(1, 11):
        throttle(done, 10)
    assert seen == [1, 10]


def test_app_factory_builds_a_wired_app():
    from app import create_app

    app = create_app()
    assert app.server is not None and app.layout is not None
    outputs = " ".join(app.callback_map)
    for needed in ("result-key.data", "orbital-graph.figure", "download.data", "url.search"):
        assert needed in outputs
