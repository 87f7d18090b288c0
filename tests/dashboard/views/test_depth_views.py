"""Every view's job on a deeper network (4-10-10-3), as plain functions: each computes and draws
its record (the Weights view one ablation map per weight matrix), none fails."""

import plotly.graph_objects as go
import pytest

from dashboard.jobs import compute, flow
from dashboard.jobs.runner import Jobs
from dashboard.page import ids
from dashboard.server.admission import Admission
from dashboard.state import rules
from dashboard.views import chaos, data, divergence, lyapunov, map_zoom, orbital, regimes, weights

VALUES = {**rules.run_values(rules.default_values()), "hidden": [10, 10], "steps": 300, "perturbations": 4}


def _request(kind, extra=None, values=VALUES, token="ab" * 16):
    return {"kind": kind, "values": values, "extra": extra, "token": token}


def _ignore(_update):
    pass


@pytest.fixture
def store(tmp_path):
    """Jobs whose page is never taken for gone: the test reads no news while a job computes
    (a busy machine made the spectrum of 4-10-10-3 outlast the 30 s of the shared fixture)."""
    admission = Admission(tmp_path / "admission", slots=2, max_queued=3, abandon_seconds=3600.0)
    # the hard time limit too: what these tests check is that each view serves the network,
    # not how fast (the spectrum of 193 exponents over 1,500 steps reached 60 s on a busy machine)
    limits = rules.Limits(rate=200_000.0, max_seconds=600.0)
    return Jobs(tmp_path / "results", 64, admission, limits, b"test key")


@pytest.fixture
def finished_run(store):
    """The Divergence view's run of 4-10-10-3: its result store, as the page holds it."""
    result, summary, message, progress, label, _ = divergence.run_job(store, _request("run"), _ignore)
    assert message == "" and progress == 100 and label.startswith("300 iterations · ")
    assert summary.startswith("final loss") and "FTLE" in summary
    return result


def test_divergence_draws_a_deeper_run(store, finished_run):
    figure = divergence.finished_figure(store, finished_run, False)
    assert figure["layout"]["title"]["text"] == "η = 0.01, ε = 1e-08, seed 0"
    record = flow.record_for(store, "run", finished_run)
    assert record.config.hidden == (10, 10) and record.sharpness.size == 4  # exact Hessian: P = 193
    assert divergence.weight_count(record.config) == 170  # N_w of the normalised distance


def test_weights_shows_one_map_per_matrix_of_a_deeper_run(store, finished_run):
    record, key = flow.keyed_record(store, "run", finished_run)
    view = weights.drawn(record)
    shown = dict(zip(weights.GRAPHS, view["figures"], strict=True))
    maps = [shown[g] for g in (ids.ABLATION_W1_GRAPH, ids.ABLATION_W2_GRAPH, ids.ABLATION_DEEPER_GRAPHS[0])]
    assert [m.data[0].type for m in maps] == ["heatmap"] * 3
    assert [m.data[0].z.shape for m in maps] == [(4, 10), (10, 10), (10, 3)]
    assert view["deeper_hidden"] is False and view["slots_hidden"] == [False, True, True]  # W3 shown, W4 W5 not
    assert all(not shown[g].data for g in ids.ABLATION_DEEPER_GRAPHS[1:])
    assert "of the weights end within 10%" in view["summary"]


def test_weights_of_a_one_layer_run_hide_the_deeper_maps(store):
    values = {**VALUES, "hidden": 10}
    result, *_ = divergence.run_job(store, _request("run", values=values), _ignore)
    view = weights.drawn(flow.record_for(store, "run", result))
    assert view["deeper_hidden"] is True and view["slots_hidden"] == [True, True, True]
    assert [f.data[0].z.shape for f in view["figures"][:2]] == [(4, 10), (10, 3)]
    assert len(weights.MAPS) == 5  # W1 .. W5: core.config.MAX_DEPTH = 4 hidden layers


def test_data_draws_a_deeper_run(store, finished_run):
    record = flow.record_for(store, "run", finished_run)
    figure, text = data.data_view(record, compute.data_for(record.config), "2", "3")
    assert "120 training flowers" in text and figure.data


def test_the_eps_comparison_of_a_deeper_network(store):
    job = divergence.SIDE_JOBS[0]
    panels, collapse, finished, label, message = flow.side_job(store, job, _request("sweep"), _ignore)
    assert message == "" and label.startswith("done in ") and finished["values"]["hidden"] == [10, 10]
    assert panels.data and collapse.data


def test_lyapunov_of_a_deeper_network(store, finished_run):
    run = flow.record_for(store, "run", finished_run)
    fit = lyapunov.figures.lyapunov.fit_view(run)
    assert fit.data
    job = lyapunov.SIDE_JOBS[0]
    finished, label, message = flow.side_job(store, job, _request("ftle", {"inits": 2, "steps": 100}), _ignore)
    assert message == "" and label.startswith("done in ")
    record = flow.record_for(store, "ftle", finished)
    by_eps, histogram = lyapunov.figures.lyapunov.ftle_views(record, -8)
    assert record.slopes.shape == (2, 14) and record.total == 2 and by_eps.layout and histogram.layout
    assert lyapunov.ftle_table(record).children


def test_orbital_of_a_deeper_network(store):
    figure, label, message = flow.side_job(store, orbital.SIDE_JOBS[0], _request("orbital", {"t0": 200}), _ignore)
    assert message == "" and label.startswith("done in ") and figure.data


def test_chaos_long_run_and_spectrum_of_a_deeper_network(store):
    long_run, spectrum = chaos.SIDE_JOBS
    extra = {"eta": 5, "steps": 1500}
    *drawn, label, message = flow.side_job(store, long_run, _request("chaos", extra), _ignore)
    *figures, summary = drawn
    assert message == "" and label.startswith("done in ") and all(f.data for f in figures)
    assert "The loss" in summary
    figure, text, label, message = flow.side_job(store, spectrum, _request("spectrum", extra), _ignore)
    assert message == "" and label.startswith("done in ") and figure.data and "exponent" in text


def test_a_map_of_a_deeper_network_and_its_click(store):
    maps = {"map": "eta", "eta_min": 0.01, "eta_max": 5.0, "eta_points": 3, "inits": 2, "map_steps": 100}
    figure, finished, label, message = regimes.map_job(store, _request("map", maps, token="cd" * 16), _ignore)
    assert message == "" and label.startswith("3 learning rates · done in ")
    assert go.Figure(figure).data and flow.record_for(store, "map", finished).config.hidden == (10, 10)
    x = float(flow.record_for(store, "map", finished).etas[1])
    opened = map_zoom.clicked_run({"points": [{"x": x, "y": 0.0}]}, finished)
    assert rules.check_values(opened, {})[0]["hidden"] == [10, 10]  # the point opens as that deeper run
