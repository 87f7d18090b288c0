"""A map over eta and the depth in a real browser: a link draws the value it asks for (final
loss), the URL keeps the value and the axis, the selector offers what each kind can show, a bad
depth is refused in red, and a click opens the run of that depth."""

import pytest

from tests.browser.page_actions import CLICK_CELL, type_over, wait_until

LINK = (
    "?view=regimes&map=eta-depth&map_value=loss&map_axis=1+2&eta_min=0.1&eta_max=3&eta_points=3&inits=1"
    "&map_steps=60&seed=2&dataset=iris"
)
OPTIONS = """
return Array.from(document.querySelectorAll('.dash-dropdown-option, [role="option"]'),
                  (o) => [o.textContent.trim(), o.getAttribute('aria-disabled') === 'true' || o.disabled === true]);
"""


def _main_heatmap(figure):
    return next(t for t in figure["data"] if t["type"] == "heatmap" and t["name"] != "computed")


def test_a_depth_map_of_final_losses_from_a_link(dash_duo, fresh_app, plotly_data):
    dash_duo.start_server(fresh_app)
    dash_duo.driver.get(dash_duo.server_url + "/" + LINK)
    dash_duo.wait_for_element("#run", timeout=20)
    dash_duo.wait_for_text_to_equal("#view .tab--selected", "Regimes", timeout=10)
    dash_duo.wait_for_contains_text("#map-progress", "done in", timeout=120)
    figure = plotly_data("map-graph")
    heatmap = _main_heatmap(figure)
    assert heatmap["name"] == "final loss" and len(heatmap["z"]) == 2 and len(heatmap["z"][0]) == 3  # 2 depths x 3 eta
    assert figure["layout"]["title"]["text"].startswith("η × depth map · iris, 60 iterations")
    assert figure["layout"]["yaxis"]["title"]["text"] == "depth (hidden layers)"
    assert all(v is not None for row in heatmap["z"] for v in row)  # every cell computed, none diverged
    assert dash_duo.find_element("#map_axis").get_attribute("value") == "1 2"
    wait_until(lambda: "map_value=loss" in dash_duo.driver.current_url, 10, "the value in the URL")
    assert "map_axis=1+2" in dash_duo.driver.current_url and "map=eta-depth" in dash_duo.driver.current_url

    # the selector offers eta x depth every value; a depth of 9 is refused in red, one line
    dash_duo.find_element("#map_value").click()
    options = dict(dash_duo.driver.execute_script(OPTIONS))
    assert options.get("final loss") is False and options.get("leading tangent exponent") is False, options
    dash_duo.find_element("#map_value").click()
    type_over(dash_duo, "map_axis", "1 9")
    dash_duo.find_element("#map-run").click()
    dash_duo.wait_for_contains_text(
        "#map-message", "depth 9 is not a whole number of hidden layers from 1 to 4", timeout=20
    )
    colour = dash_duo.find_element("#map-message").value_of_css_property("color")
    red, green, blue = (int(v) for v in colour[colour.index("(") + 1 :].split(",")[:3])
    assert red > 150 and green < 100 and blue < 100, colour
    assert _main_heatmap(plotly_data("map-graph"))["name"] == "final loss"  # the map on screen stays

    # a click on the cell (eta 0.548, depth 2) opens that network's run: two hidden layers of 10
    dash_duo.driver.execute_script(CLICK_CELL, 0.548, 2)
    dash_duo.wait_for_text_to_equal("#view .tab--selected", "Divergence", timeout=10)
    hidden = lambda: dash_duo.find_element("#hidden").get_attribute("value")  # noqa: E731
    wait_until(lambda: hidden() == "10 10", 10, f"the clicked depth (hidden {hidden()!r})")
    assert float(dash_duo.find_element("#eta").get_attribute("value")) == pytest.approx(0.548)
    dash_duo.wait_for_contains_text("#progress-label", "60 iterations ·", timeout=60)
    assert dash_duo.get_logs() == []
