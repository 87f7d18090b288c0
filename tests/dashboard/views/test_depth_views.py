"""Every view's job on a deeper network (4-10-10-3), as plain functions: each computes and draws
its record (the Weights view one ablation map per weight matrix), none fails."""

import numpy as np
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
def finished_run(store, run_summary):
    """The Divergence view's run of 4-10-10-3: its result store, as the page holds it."""
    result, summary, message, progress, label, _ = divergence.run_job(store, _request("run"), _ignore)
    assert message == "" and progress == 100 and label.startswith("300 iterations · ")
    assert summary == run_summary(flow.record_for(store, "run", result))
    return result


def _shown(store, figure):
    """The record a figure was drawn from: the cache key it carries."""
    return store.load(figure.layout.meta["record"])


def test_divergence_draws_a_deeper_run(store, finished_run, plotted):
    figure = divergence.finished_figure(store, finished_run, False)
    assert figure["layout"]["title"]["text"] == "η = 0.01, ε = 1e-08, seed 0"
    record = flow.record_for(store, "run", finished_run)
    assert record.config.hidden == (10, 10) and record.sharpness.size == 4  # exact Hessian: P = 193
    np.testing.assert_array_equal(record.sharpness_steps, [0, 100, 200, 300])
    assert divergence.weight_count(record.config) == 4 * 10 + 10 * 10 + 10 * 3  # N_w of the normalised distance
    mean = figure["data"][1]
    np.testing.assert_array_equal(plotted(mean["y"]), record.distance.mean(axis=1).astype(np.float32))
    normalized = go.Figure(divergence.finished_figure(store, finished_run, True))
    np.testing.assert_allclose(plotted(normalized.data[1].y), record.distance.mean(axis=1) / (1e-8 * 170), rtol=1e-6)


def test_weights_shows_one_map_per_matrix_of_a_deeper_run(store, finished_run, movement_summary):
    from core.analysis.weights import ablation_ratio
    from dashboard.state.rules import mlp_of

    record, key = flow.keyed_record(store, "run", finished_run)
    view = weights.drawn(record)
    shown = dict(zip(weights.GRAPHS, view["figures"], strict=True))
    maps = [shown[g] for g in (ids.ABLATION_W1_GRAPH, ids.ABLATION_W2_GRAPH, ids.ABLATION_DEEPER_GRAPHS[0])]
    assert [m.data[0].type for m in maps] == ["heatmap"] * 3
    data = compute.data_for(record.config)
    objective = mlp_of(record.config).objective(data.x_train, data.y_train)
    for layer, m in zip(("W1", "W2", "W3"), maps, strict=True):  # L_w / L of the final reference, recomputed
        np.testing.assert_array_equal(m.data[0].z, ablation_ratio(objective, record.theta_final, layer))
        assert m.layout.title.text == f"Ablation of {layer}: L_w / L"
    assert [m.data[0].z.shape for m in maps] == [(4, 10), (10, 10), (10, 3)]
    assert view["deeper_hidden"] is False and view["slots_hidden"] == [False, True, True]  # W3 shown, W4 W5 not
    assert all(not shown[g].data for g in ids.ABLATION_DEEPER_GRAPHS[1:])
    assert view["summary"] == movement_summary(record)


def test_weights_of_a_one_layer_run_hide_the_deeper_maps(store):
    values = {**VALUES, "hidden": 10}
    result, *_ = divergence.run_job(store, _request("run", values=values), _ignore)
    record = flow.record_for(store, "run", result)
    view = weights.drawn(record)
    assert view["deeper_hidden"] is True and view["slots_hidden"] == [True, True, True]
    w1, w2 = view["figures"][:2]
    np.testing.assert_array_equal(w1.data[0].z, record.ablation_w1)
    np.testing.assert_array_equal(w2.data[0].z, record.ablation_w2)
    assert [f.data[0].z.shape for f in view["figures"][:2]] == [(4, 10), (10, 3)]
    assert len(weights.MAPS) == 5  # W1 .. W5: core.config.MAX_DEPTH = 4 hidden layers


def test_data_draws_a_deeper_run(store, finished_run):
    record = flow.record_for(store, "run", finished_run)
    iris = compute.data_for(record.config)
    figure, text = data.data_view(record, iris, "2", "3")
    train = np.mean(record.predictions[:120] == iris.y_train)
    test = np.mean(record.predictions[120:] == iris.y_test)
    assert text == (
        f"Trained network: {train:.1%} of the 120 training flowers and {test:.1%} of the 30 test flowers right."
    )
    y = np.concatenate([iris.y_train, iris.y_test])
    wrong = record.predictions != y
    crosses = figure.data[-1]
    assert crosses.name == f"misclassified ({wrong.sum()})"
    x = np.vstack([iris.x_train, iris.x_test])
    np.testing.assert_array_equal(crosses.x, x[wrong, 2])
    np.testing.assert_array_equal(crosses.y, x[wrong, 3])


def test_the_eps_comparison_of_a_deeper_network(store):
    job = divergence.SIDE_JOBS[0]
    panels, collapse, finished, label, message = flow.side_job(store, job, _request("sweep"), _ignore)
    assert message == "" and label.startswith("done in ") and finished["values"]["hidden"] == [10, 10]
    record = flow.record_for(store, "sweep", finished)
    assert _shown(store, panels) is not None and record.distance.shape[1] == 301
    for j, eps in enumerate(compute.PANEL_EPS):  # one panel per eps of the sweep nearest each
        nearest = int(np.argmin(np.abs(record.eps - eps)))
        mean = panels.data[3 * j + 1]
        np.testing.assert_array_equal(mean.y, record.distance[nearest].mean(axis=1).astype(np.float32))
    curves = collapse.data[:-1]  # the last: the colour bar's marker
    assert len(curves) == record.eps.size
    for curve, normalized in zip(curves, record.normalized_distance, strict=True):
        np.testing.assert_array_equal(curve.y, normalized.astype(np.float32))


def test_lyapunov_of_a_deeper_network(store, finished_run):
    run = flow.record_for(store, "run", finished_run)
    fit = lyapunov.figures.lyapunov.fit_view(run)
    np.testing.assert_allclose(fit.data[0].y, np.log(run.mean_distance), rtol=1e-6)  # ln <d>, float32
    if run.ftle.found:
        a, w = int(run.ftle.start), int(run.ftle.length)
        np.testing.assert_array_equal(fit.data[1].x, np.arange(a, a + w))
        np.testing.assert_allclose(fit.data[1].y, run.ftle.intercept + run.ftle.slope * np.arange(a, a + w))
    job = lyapunov.SIDE_JOBS[0]
    finished, label, message = flow.side_job(store, job, _request("ftle", {"inits": 2, "steps": 100}), _ignore)
    assert message == "" and label.startswith("done in ")
    record = flow.record_for(store, "ftle", finished)
    assert record.slopes.shape == (2, 14) and record.total == 2
    by_eps, histogram = lyapunov.figures.lyapunov.ftle_views(record, -8)
    if record.n_kept.any():
        np.testing.assert_array_equal(by_eps.data[0].y, record.mean)
        np.testing.assert_array_equal(by_eps.data[1].y, record.n_kept / 2)
        j = int(np.argmin(np.abs(np.log10(record.eps) + 8)))
        np.testing.assert_array_equal(histogram.data[0].x, record.slopes[:, j][record.kept[:, j]])
    else:
        assert by_eps.layout.annotations[0].text.startswith("No initial network shows an exponential phase")
    assert len(lyapunov.ftle_table(record).children) == 1 + record.eps.size  # a header, a row per eps


def test_orbital_of_a_deeper_network(store):
    figure, label, message = flow.side_job(store, orbital.SIDE_JOBS[0], _request("orbital", {"t0": 200}), _ignore)
    assert message == "" and label.startswith("done in ")
    record = _shown(store, figure)
    assert record.t0 == 200 and figure.layout.title.text == "Perturbed at iteration 200"
    np.testing.assert_array_equal(record.iterations, np.arange(200, 301))
    np.testing.assert_array_equal(figure.data[0].x, record.iterations)
    np.testing.assert_array_equal(figure.data[0].y, record.normalized_distance.astype(np.float32))
    np.testing.assert_array_equal(figure.data[1].y, record.loss.astype(np.float32))


def test_chaos_long_run_and_spectrum_of_a_deeper_network(store):
    long_run, spectrum = chaos.SIDE_JOBS
    extra = {"eta": 5, "steps": 1500}
    *drawn, label, message = flow.side_job(store, long_run, _request("chaos", extra), _ignore)
    *figures, summary = drawn
    assert message == "" and label.startswith("done in ")
    diagnostics = _shown(store, figures[0])
    assert summary == chaos.summary_text(diagnostics) and len(diagnostics.loss) == 1501
    np.testing.assert_array_equal(figures[0].data[0].y, diagnostics.loss.astype(np.float32))  # 1,501 dots: all
    np.testing.assert_array_equal(figures[1].data[2].y, diagnostics.acf)
    figure, text, label, message = flow.side_job(store, spectrum, _request("spectrum", extra), _ignore)
    assert message == "" and label.startswith("done in ")
    record = _shown(store, figure)
    assert record.dim == 4 * 10 + 10 + 10 * 10 + 10 + 10 * 3 + 3  # P = 193
    np.testing.assert_array_equal(figure.data[0].y, record.exponents)
    assert text == chaos.spectrum_text(record) and f"{record.n_positive} of {record.k} are positive" in text


def test_a_map_of_a_deeper_network_and_its_click(store, plotted):
    maps = {"map": "eta", "eta_min": 0.01, "eta_max": 5.0, "eta_points": 3, "inits": 2, "map_steps": 100}
    figure, finished, label, message = regimes.map_job(store, _request("map", maps, token="cd" * 16), _ignore)
    assert message == "" and label.startswith("3 learning rates · done in ")
    record = flow.record_for(store, "map", finished)
    assert record.config.hidden == (10, 10)
    np.testing.assert_allclose(record.etas, np.geomspace(0.01, 5.0, 3), rtol=1e-2)  # 3 digits (plans.readable)
    loss = next(t for t in figure["data"] if t.get("name") == "final loss")
    np.testing.assert_array_equal(plotted(loss["x"]), record.etas)
    np.testing.assert_array_equal(plotted(loss["y"]), record.table["final_loss"])
    x = float(record.etas[1])
    opened = map_zoom.clicked_run({"points": [{"x": x, "y": 0.0}]}, finished)
    assert rules.check_values(opened, {})[0]["hidden"] == [10, 10]  # the point opens as that deeper run
