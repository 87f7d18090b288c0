"""The views drawn from a finished run (Weights, Data), the exports, the control round trip and
the app factory."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from core.config import RunConfig
from dashboard import figures
from dashboard.jobs import compute, flow
from dashboard.page import exports
from dashboard.state import rules
from dashboard.views import data, divergence, weights

IRIS = compute.data_for(RunConfig())
SMALL = {**rules.default_values(), "steps": 300, "perturbations": 4}


@pytest.fixture(scope="module")
def record():
    return compute.stability(RunConfig(n_steps=300, n_perturbations=4))


def test_props_round_trip():
    values = {**rules.default_values(), "normalized": True}
    props = flow.props_from_values(values)
    assert props[rules.CONTROLS.index("normalized")] == ["on"]
    assert flow.raw_from_props(props) == values


def test_views_draw_from_a_record(record):
    fig = figures.distance.distance_view(record, normalized=True)
    assert fig.layout.yaxis.title.text == "d(t) / (ε N_w)"
    normalized = record.distance / (1e-8 * 70)  # eps N_w: 70 weights of 4-10-3
    np.testing.assert_allclose(fig.data[1].y, normalized.mean(axis=1), rtol=1e-6)  # float32 on the wire
    np.testing.assert_allclose(fig.data[1].y, record.normalized_distance, rtol=1e-6)
    w1, w2, displacement, norm = figures.weights.weights_views(record, IRIS)
    assert list(w1.data[0].y) == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    np.testing.assert_array_equal(w1.data[0].z, record.ablation_w1)
    np.testing.assert_array_equal(w2.data[0].z, record.ablation_w2)
    weights = np.r_[0:40, 50:80]  # W1 and W2 in the flat order (docs/method.md §1); no bias
    start, end = record.theta_start[weights], record.theta_final[weights]
    moved = np.abs(end - start) / np.abs(start)
    ok = moved > 0  # a log axis: all 70 here
    assert ok.sum() == 70
    np.testing.assert_allclose(displacement.data[0].x, moved, rtol=1e-12)
    np.testing.assert_array_equal(displacement.data[0].y, record.path_length[weights])
    # ||theta(T)||_1, recorded as a sum in order; NumPy's sum adds in pairs: equal to rounding
    np.testing.assert_allclose(norm.data[0].y[-1], np.abs(record.theta_final).sum(), rtol=1e-15)
    data_fig, text = data.data_view(record, IRIS, "2", "3")
    train = np.mean(record.predictions[:120] == IRIS.y_train)
    test = np.mean(record.predictions[120:] == IRIS.y_test)
    assert text == (
        f"Trained network: {train:.1%} of the 120 training flowers and {test:.1%} of the 30 test flowers right."
    )
    assert data_fig.layout.xaxis.title.text == "petal length (cm)"
    assert data_fig.layout.yaxis.title.text == "petal width (cm)"


@pytest.mark.parametrize("axis", ["99", "-1", "x", None, 2.5])
def test_a_crafted_data_axis_gets_a_message(record, axis):
    fig, text = data.data_view(record, IRIS, axis, "3")
    assert text.startswith("The feature on an axis must be a whole number from 0 to 3, got")
    assert fig.layout.annotations[0].text == text


def test_exports(record):
    frame = pd.read_csv(io.StringIO(exports.export_csv(record)))
    assert list(frame) == [
        "iteration",
        "train_loss_reference",
        "train_accuracy_reference",
        "mean_distance",
        "normalized_mean_distance",
        "theta_norm_l1",
        "d_1",
        "d_2",
        "d_3",
        "d_4",
    ]
    np.testing.assert_array_equal(frame["iteration"], np.arange(301))
    np.testing.assert_allclose(frame["train_loss_reference"], record.loss[:, 0], rtol=1e-15)
    np.testing.assert_allclose(frame["train_accuracy_reference"], record.accuracy, rtol=1e-15)
    np.testing.assert_allclose(frame[[f"d_{m}" for m in range(1, 5)]], record.distance, rtol=1e-15)
    np.testing.assert_allclose(frame["mean_distance"], record.distance.mean(axis=1), rtol=1e-15)
    np.testing.assert_allclose(frame["normalized_mean_distance"], record.normalized_distance, rtol=1e-15)
    np.testing.assert_allclose(frame["theta_norm_l1"], record.theta_norm, rtol=1e-15)
    with np.load(io.BytesIO(exports.export_npz(record))) as f:
        np.testing.assert_array_equal(f["distance"], record.distance)
        np.testing.assert_array_equal(f["loss"], record.loss)
        assert json.loads(str(f["config"]))["n_steps"] == 300


def test_the_app_factory_builds_a_wired_app(tmp_path):
    from app import create_app
    from dashboard.server.settings import Settings

    app = create_app(Settings(cache_dir=tmp_path, engine_rate=150_000.0))
    assert app.server is not None and app.layout is not None and app.server.secret_key
    outputs = " ".join(app.callback_map)
    for needed in ("result.data", "orbital-graph.figure", "download.data", "written-query.data"):
        assert needed in outputs
    assert "url.search" not in outputs  # no loop controls -> URL -> controls (it holds callbacks back)


def test_the_cli_command_trains_the_same_run(tmp_path):
    """The command the page shows, run by cli.py, reports the run the page trains."""
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    values = {**rules.run_values(rules.default_values()), "eta": 0.3, "steps": 200, "perturbations": 3, "seed": 4}
    command = exports.cli_command(values)
    assert command.startswith("python cli.py run --eta 0.3 --eps 1e-08 --seed 4 --dataset iris")
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    record = compute.stability(rules.to_config(values))
    assert json.loads(out.stdout)["final_loss"] == record.loss[-1, 0]


def test_the_weights_sentence_states_what_the_weights_did(record, movement_summary):
    text = weights.movement_text(record)
    mask = record.weight_mask
    ratio = record.path_length[mask] / np.abs(record.theta_final - record.theta_start)[mask]
    assert text == movement_summary(record)
    assert f"the median weight travels {np.median(ratio):.3g} times its net displacement" in text
    assert np.all(ratio >= 1.0 - 1e-12)  # a path is never shorter than the displacement


def test_the_normalised_distance_divides_by_the_runs_own_weight_count():
    """On digits (64-12-10: 888 weights) <d(0)>/(eps N_w) starts near 0.5 as on Iris; it showed
    5.3 when the view divided by an Iris-shaped network's 120 weights."""
    digits = compute.stability(RunConfig(dataset="digits", hidden=12, n_steps=2, n_perturbations=3))
    assert digits.n_weights == 12 * (64 + 10)
    fig = figures.distance.distance_view(digits, normalized=True)
    assert float(fig.data[1].y[0]) == pytest.approx(digits.normalized_distance[0], rel=1e-6)  # float32 on the wire
    assert 0.4 < float(fig.data[1].y[0]) < 0.6
    assert divergence.weight_count(digits.config) == digits.n_weights  # the live plot's count
    live = divergence.LivePlot(digits.config, normalized=True)(digits.distance, digits.loss[:, 0])
    assert 0.4 < float(live.data[1].y[0]) < 0.6


def test_a_distance_figure_names_the_run_it_shows(record):
    shown = figures.distance.distance_view(record, normalized=False).layout.meta["run"]
    config = record.config
    assert shown == {
        "eta": config.learning_rate,
        "eps": config.eps,
        "seed": config.seed,
        "steps": config.n_steps,
        "dataset": "iris",
        "normalized": False,
        "live": False,
    }


def test_the_data_view_explains_the_runs_own_data_set():
    """The defect: on digits the Data view kept the Iris text and the Iris feature dropdowns."""
    digits_text, digits_axes = data.intro(compute.data_for(RunConfig(dataset="digits")))
    assert digits_text.startswith("Digits: 1,797 handwritten digits of 8x8 pixels (64 inputs, 10 classes)")
    assert "1,438 train the network, 359 test it" in digits_text and digits_axes == {"display": "none"}
    iris_text, iris_axes = data.intro(IRIS)
    assert iris_text.startswith("Iris: 150 flowers") and iris_axes == {}


def test_an_exported_files_name_says_which_run_it_holds():
    name = exports.export_name(RunConfig(learning_rate=0.5, seed=3, n_steps=300, dataset="digits"))
    assert name.startswith("weightspace-digits-eta0.5-eps1e-08-seed3-300it-") and name.isascii()
    other = exports.export_name(RunConfig(learning_rate=0.5, seed=3, n_steps=300, dataset="digits", hidden=64))
    assert other != name  # the config's hash tells runs apart that differ elsewhere


def test_a_figure_carries_the_key_of_its_record_beside_its_meta():
    figure = figures.base.empty_figure("x")
    figure.update_layout(meta={"run": {"eta": 1.0}})
    assert flow.with_record_key(figure, "run:k").layout.meta == {"run": {"eta": 1.0}, "record": "run:k"}
    plain = flow.with_record_key({"data": []}, "map:k")
    assert plain["layout"]["meta"] == {"record": "map:k"}


def test_the_controls_are_read_and_written_by_name():
    values = {**rules.default_values(), "normalized": True, "eta": 0.5}
    props = flow.control_props(values)
    assert list(props) == list(rules.CONTROLS) and props["normalized"] == ["on"] and props["eta"] == 0.5
    assert flow.control_props({"seed": 3}) == {"seed": 3}  # a released slider sets one control
    assert flow.checked(props, rules.default_values())[0] == rules.check_values(values, {})[0]


def test_a_preset_a_click_and_a_release_write_the_controls_through_one_callback():
    from dash import no_update

    from dashboard.page import sync
    from dashboard.state.presets import PRESETS

    preset = sync.applied_outputs(sync.chosen_preset({"type": "preset", "name": "chaotic"}, [1]))
    assert preset["controls"]["eta"] == PRESETS["chaotic"].values["eta"] and preset["view"] == PRESETS["chaotic"].view
    assert preset["message"] is no_update and preset["autorun"]["view"] == PRESETS["chaotic"].view
    released = {"slider": "seed-slider", "position": 7}
    change = sync.hand_applied(sync.ids.RELEASED, released, ["on"], None, None)
    outputs = sync.applied_outputs(change)
    assert outputs["controls"]["seed"] == 7 and outputs["controls"]["eta"] is no_update
    assert outputs["view"] is no_update and outputs["autorun"]["view"] == "controls"
