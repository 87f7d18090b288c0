"""An Adam run's curvature panel in a real browser: its preconditioned sharpness (the core's
series for that config) against the dashed (2 + 2β1)/((1 − β1)η) = 38/η (docs/method.md §14)."""

import numpy as np
import pytest

from core.analysis.hessian import sharpness_series
from core.config import RunConfig
from tests.browser.page_actions import wait_until


def test_an_adam_run_draws_its_preconditioned_sharpness_against_its_threshold(dash_duo, fresh_app, plotly_data):
    config = RunConfig(optimizer="adam", learning_rate=0.05, n_steps=300, n_perturbations=2)
    expected = sharpness_series(config, config.save_every)

    dash_duo.start_server(fresh_app)
    dash_duo.driver.get(dash_duo.server_url + "/?eta=0.05&steps=300&perturbations=2&optimizer=adam&momentum=0.9")
    dash_duo.wait_for_element("#run", timeout=20)

    def drawn() -> dict | None:
        figure = plotly_data("curvature-graph") or {}
        top = (figure.get("data") or [{}])[0]
        return figure if top.get("name") == "preconditioned sharpness λ_max(P⁻¹H)" else None

    wait_until(lambda: drawn() is not None, 60, "the Adam run's curvature panel")
    figure = drawn()
    top = figure["data"][0]
    np.testing.assert_array_equal(top["x"], expected.steps)
    np.testing.assert_allclose(top["y"], expected.preconditioned, rtol=1e-6)
    lines = [s["y0"] for s in figure["layout"].get("shapes", []) if s.get("y0") == s.get("y1")]
    assert lines == [pytest.approx(760.0)]  # 38/eta
    assert "(2 + 2β1)/((1 − β1)η) = 760" in [a.get("text") for a in figure["layout"].get("annotations", [])]
    assert dash_duo.get_logs() == []
