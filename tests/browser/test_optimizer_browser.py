"""The optimizer controls in a real browser: choose momentum, give a bad β (a red message), a
good one, run; the link, the curvature panel's title and its (2 + 2β)/η line follow."""

import re

from tests.browser.page_actions import type_over, wait_until


def _curvature(plotly_data) -> dict:
    return plotly_data("curvature-graph") or {}


def _title(figure: dict) -> str:
    return ((figure.get("layout") or {}).get("title") or {}).get("text", "").replace("<br>", " ")


def test_a_momentum_run_is_in_its_link_and_its_curvature_threshold(dash_duo, fresh_app, plotly_data):
    dash_duo.start_server(fresh_app)
    dash_duo.driver.get(dash_duo.server_url + "/?eta=0.5&steps=300&perturbations=3")
    dash_duo.wait_for_element("#run", timeout=20)
    dash_duo.wait_for_contains_text("#progress-label", "300 iterations ·", timeout=60)
    wait_until(lambda: "optimizer=gd" in dash_duo.driver.current_url, 10, "the gd run's link")
    assert "momentum=" not in dash_duo.driver.current_url  # gd reads none: the link leaves it out

    next(o for o in dash_duo.find_elements("#optimizer label") if o.text.strip() == "momentum").click()
    type_over(dash_duo, "momentum", "1")
    dash_duo.wait_for_contains_text("#momentum-error", "Momentum β must be a number in [0, 1), got '1'", timeout=10)
    type_over(dash_duo, "momentum", "0.5")
    dash_duo.wait_for_text_to_equal("#momentum-error", "", timeout=10)
    dash_duo.find_element("#run").click()

    # the curvature panel of the momentum run: its title names it, its line is (2 + 2 beta)/eta = 6
    wait_until(lambda: "momentum β = 0.5" in _title(_curvature(plotly_data)), 60, "the momentum run's curvature")
    figure = _curvature(plotly_data)
    lines = [s for s in figure["layout"].get("shapes", []) if s.get("y0") == s.get("y1")]
    assert [s["y0"] for s in lines] == [6.0], lines
    assert re.search(r"× \(2 \+ 2β\)/η", _title(figure))
    assert any(a.get("text") == "(2 + 2β)/η = 6" for a in figure["layout"].get("annotations", []))
    wait_until(lambda: "optimizer=momentum&momentum=0.5" in dash_duo.driver.current_url, 10, "the link")
    command = dash_duo.find_element("#cli-command").text
    assert command.endswith("--optimizer momentum --momentum 0.5 --json")
    assert dash_duo.get_logs() == []
