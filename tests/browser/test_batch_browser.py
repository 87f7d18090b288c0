"""The batch size in a real browser: a batch of 16 runs mini-batch SGD (the drawn loss is the
core's mini-batch run, not the full batch's), the link, the CLI line and the summary say so; a
batch larger than the data set is a red message and starts nothing."""

import numpy as np

from core.config import RunConfig
from core.experiments.stability import run_stability
from tests.browser.page_actions import type_over, wait_until

RULE = "Batch size must be a whole number from 1 to 120 (the training rows of iris), or empty for the full batch"


def _loss(plotly_data) -> tuple[np.ndarray, np.ndarray] | None:
    """(x, y) of the distance graph's loss trace, or None before it is drawn."""
    figure = plotly_data("distance-graph") or {}
    traces = [t for t in figure.get("data", []) if t.get("name") == "training loss" and t.get("x")]
    return (np.array(traces[0]["x"], dtype=int), np.array(traces[0]["y"], dtype=np.float64)) if traces else None


def _is_run(plotly_data, loss: np.ndarray) -> bool:
    """Whether the drawn loss is ``loss`` (T + 1,) at the drawn iterations (float32 on the page)."""
    drawn = _loss(plotly_data)
    return drawn is not None and drawn[0][-1] == len(loss) - 1 and np.allclose(drawn[1], loss[drawn[0]], rtol=1e-6)


def _record_key(dash_duo) -> str | None:
    script = (
        "const el = document.querySelector('#distance-graph .js-plotly-plot');"
        "return el && el.layout && el.layout.meta ? el.layout.meta.record : null;"
    )
    return dash_duo.driver.execute_script(script)


def test_a_mini_batch_run_is_drawn_and_a_batch_too_large_starts_nothing(dash_duo, fresh_app, plotly_data):
    config = RunConfig(learning_rate=0.5, n_steps=300, n_perturbations=3)
    full = run_stability(config).trajectory.loss[:, 0]
    mini = run_stability(RunConfig(**{**config.to_dict(), "batch_size": 16})).trajectory.loss[:, 0]
    assert np.abs(mini - full).max() > 1e-3  # the two runs can be told apart on the page

    dash_duo.start_server(fresh_app)
    dash_duo.driver.get(dash_duo.server_url + "/?eta=0.5&steps=300&perturbations=3")
    dash_duo.wait_for_element("#run", timeout=20)
    wait_until(lambda: _is_run(plotly_data, full), 60, "the full-batch run")
    assert dash_duo.find_element("#batch_seed").get_attribute("disabled")  # the full batch has no order

    type_over(dash_duo, "batch", "16")
    wait_until(lambda: not dash_duo.find_element("#batch_seed").get_attribute("disabled"), 10, "the seed box on")
    dash_duo.find_element("#run").click()
    wait_until(lambda: _is_run(plotly_data, mini), 60, "the mini-batch run's loss")
    dash_duo.wait_for_contains_text("#summary", "Mini-batch SGD, batch 16 of the 120 training rows", timeout=10)
    wait_until(lambda: "optimizer=gd&batch=16&batch_seed=0&" in dash_duo.driver.current_url, 10, "the link")
    assert dash_duo.find_element("#cli-command").text.endswith("--batch-size 16 --batch-seed 0 --json")
    key = _record_key(dash_duo)

    type_over(dash_duo, "batch", "500")
    dash_duo.wait_for_text_to_equal("#batch-error", f"{RULE}, got 500; keeping 16", timeout=10)
    dash_duo.find_element("#run").click()  # runs the settings that stand: the mini-batch run on screen
    dash_duo.wait_for_contains_text("#progress-label", "from the cache", timeout=30)
    assert _record_key(dash_duo) == key and _is_run(plotly_data, mini)  # no other run was started or drawn
    assert "batch=16&" in dash_duo.driver.current_url and "batch=500" not in dash_duo.driver.current_url
    assert dash_duo.get_logs() == []
