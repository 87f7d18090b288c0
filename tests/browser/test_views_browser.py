"""The other views in a real browser: Compare ε, the FTLE sweep and the run's exports (the
downloaded files are read back), the curvature panel and the Chaos view."""

import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _open(dash_duo, app, query: str):
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/" + query)
    dash_duo.wait_for_element("#run", timeout=20)


def _whole(folder: Path) -> bool:
    """Whether the browser has finished every download: Chromium writes ``name.crdownload``
    and renames it when the file is whole."""
    return not any(p.suffix == ".crdownload" for p in folder.iterdir())


def _downloaded(dash_duo, name: str, timeout: float = 60) -> Path:
    path = Path(dash_duo.download_path) / name
    deadline = time.time() + timeout
    while not (path.exists() and _whole(path.parent)):
        assert time.time() < deadline, f"{name} was not downloaded (have {list(path.parent.iterdir())})"
        time.sleep(0.2)
    return path


def _tab(dash_duo, label: str):
    next(t for t in dash_duo.find_elements("#view .tab") if t.text == label).click()


def test_compare_eps_draws_and_exports_its_curves(dash_duo, fresh_app, plotly_data):
    _open(dash_duo, fresh_app, "?steps=300&perturbations=3")
    dash_duo.wait_for_contains_text("#progress-label", "300 iterations ·", timeout=60)
    dash_duo.find_element("#sweep-run").click()
    dash_duo.wait_for_contains_text("#sweep-progress", "done in", timeout=60)
    title = plotly_data("collapse-graph")["layout"]["title"]["text"]
    assert "one curve for every ε" in title or "decades apart" in title
    dash_duo.find_element("#sweep-export").click()
    frame = pd.read_csv(_downloaded(dash_duo, "weightspace-eps-comparison.csv"))
    assert len(frame) == 301 and "normalized_mean_eps_1e-08" in frame and "d_eps_1e-08_3" in frame
    assert dash_duo.get_logs() == []


def test_the_ftle_sweep_draws_its_table_and_exports_every_fit(dash_duo, fresh_app, plotly_data):
    _open(dash_duo, fresh_app, "?eta=1&steps=200&perturbations=3&view=lyapunov")
    dash_duo.wait_for_contains_text("#progress-label", "200 iterations ·", timeout=60)
    inits = dash_duo.find_element("#ftle-inits")
    inits.clear()
    inits.send_keys("6\t")
    dash_duo.find_element("#ftle-run").click()
    dash_duo.wait_for_contains_text("#ftle-progress", "done in", timeout=90)
    dash_duo.wait_for_contains_text("#ftle-table", "95% CI", timeout=60)
    assert plotly_data("ftle-eps-graph")["layout"]["xaxis"]["type"] == "log"
    dash_duo.find_element("#ftle-export").click()
    frame = pd.read_csv(_downloaded(dash_duo, "weightspace-ftle.csv"))
    assert len(frame) == 6 * 14 and list(frame.columns) == ["network", "eps", "ftle", "kept"]
    assert frame["kept"].any()


def test_the_runs_exports_are_downloaded_whole(dash_duo, fresh_app):
    _open(dash_duo, fresh_app, "?steps=200&perturbations=3&seed=2")
    dash_duo.wait_for_contains_text("#progress-label", "200 iterations ·", timeout=60)
    folder = Path(dash_duo.download_path)
    for count, button in enumerate(("#export-csv", "#export-npz", "#export-json"), start=1):
        dash_duo.find_element(button).click()  # one at a time: the three share one Download
        deadline = time.time() + 60
        while len([p for p in folder.iterdir() if p.suffix in (".csv", ".npz", ".json")]) < count or not _whole(folder):
            assert time.time() < deadline, (
                f"downloads after {button}: {list(folder.iterdir())}; "
                f"message beside Run: {dash_duo.find_element('#run-message').text!r}"
            )
            time.sleep(0.2)
    csv_file = next(folder.glob("*.csv"))
    assert csv_file.name.startswith("weightspace-iris-eta0.01-eps1e-08-seed2-200it-"), csv_file.name
    csv = pd.read_csv(csv_file)
    assert len(csv) == 201 and {"train_loss_reference", "train_accuracy_reference", "d_1", "d_3"} <= set(csv)
    with np.load(io.BytesIO(next(folder.glob("*.npz")).read_bytes())) as arrays:
        assert arrays["theta"].shape[1:] == (4, 83) and arrays["distance"].shape == (201, 3)
    config = json.loads(next(folder.glob("*-config.json")).read_text())
    assert config["seed"] == 2 and config["n_steps"] == 200


def test_the_curvature_panel_shows_the_two_over_eta_line(dash_duo, fresh_app, plotly_data):
    _open(dash_duo, fresh_app, "?eta=1&steps=400&perturbations=3")
    dash_duo.wait_for_contains_text("#progress-label", "400 iterations ·", timeout=60)
    deadline = time.time() + 60
    while not (plotly_data("curvature-graph") or {}).get("data"):
        assert time.time() < deadline, "no curvature figure"
        time.sleep(0.2)
    shapes = plotly_data("curvature-graph")["layout"].get("shapes", [])
    assert any(s.get("y0") == s.get("y1") == 2.0 for s in shapes), shapes


def test_the_chaos_view_diagnoses_a_long_run(dash_duo, fresh_app, plotly_data):
    _open(dash_duo, fresh_app, "?view=chaos&steps=300&perturbations=2")
    steps = dash_duo.find_element("#chaos-steps")
    steps.clear()
    steps.send_keys("3000\t")
    dash_duo.find_element("#chaos-run").click()
    dash_duo.wait_for_contains_text("#chaos-progress", "done in", timeout=90)
    dash_duo.wait_for_contains_text("#chaos-summary", "The loss rises on", timeout=60)
    assert "lags" in plotly_data("chaos-acf-graph")["layout"]["title"]["text"]
    assert plotly_data("chaos-weights-graph")["data"]
