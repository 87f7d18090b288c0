"""A deeper network in a real browser: "10 10" typed in the hidden-layers box runs 4-10-10-3,
whose Weights view has three ablation maps shaped like its matrices and whose link says
hidden=10,10 (and opens with the box reading "10 10"); "10 0" gets the rule in red."""

from tests.browser.page_actions import type_over, wait_until

RULE = "Hidden units must be 1 to 4 hidden layers of 1 to 1024 units each (an integer, or one per layer)"
MAPS = ("ablation-w1-graph", "ablation-w2-graph", "ablation-w3-graph", "ablation-w4-graph", "ablation-w5-graph")


def _heatmaps(plotly_data, dash_duo) -> list[tuple[str, tuple[int, int]]]:
    """(graph, z shape) of every heatmap the page shows among the ablation maps."""
    found = []
    for graph in MAPS:
        if not dash_duo.find_element(f"#{graph}").is_displayed():
            continue
        for trace in (plotly_data(graph) or {}).get("data", []):
            if trace["type"] == "heatmap" and trace["z"]:
                found.append((graph, (len(trace["z"]), len(trace["z"][0]))))
    return found


def test_two_hidden_layers_typed_run_and_show_three_ablation_maps(dash_duo, fresh_app, plotly_data):
    dash_duo.start_server(fresh_app)
    dash_duo.driver.get(dash_duo.server_url + "/?steps=300&perturbations=3&view=weights")
    dash_duo.wait_for_element("#run", timeout=20)
    dash_duo.wait_for_contains_text("#progress-label", "300 iterations ·", timeout=60)
    wait_until(lambda: len(_heatmaps(plotly_data, dash_duo)) == 2, 30, "the one-layer run's two maps")
    assert _heatmaps(plotly_data, dash_duo) == [("ablation-w1-graph", (4, 10)), ("ablation-w2-graph", (10, 3))]
    assert not dash_duo.find_element("#ablation-deeper").is_displayed()

    type_over(dash_duo, "hidden", "10 10")
    dash_duo.wait_for_text_to_equal("#hidden-error", "", timeout=10)
    dash_duo.find_element("#run").click()
    wait_until(lambda: len(_heatmaps(plotly_data, dash_duo)) == 3, 90, "the deeper run's three maps")
    assert _heatmaps(plotly_data, dash_duo) == [
        ("ablation-w1-graph", (4, 10)),
        ("ablation-w2-graph", (10, 10)),
        ("ablation-w3-graph", (10, 3)),
    ]
    keys = {plotly_data(g)["layout"]["meta"]["record"] for g in MAPS[:3]}
    assert len(keys) == 1  # all three drawn from the one record of the settings on screen
    wait_until(lambda: "hidden=10,10&" in dash_duo.driver.current_url, 10, "the deeper run's link")
    assert " --hidden 10 10 " in dash_duo.find_element("#cli-command").text

    type_over(dash_duo, "hidden", "10 0")
    dash_duo.wait_for_contains_text("#hidden-error", f"{RULE}, got '10 0'; keeping '10 10'", timeout=10)

    dash_duo.driver.get(dash_duo.driver.current_url)  # the link opens the deeper run, the box as typed
    dash_duo.wait_for_element("#run", timeout=20)
    wait_until(lambda: dash_duo.find_element("#hidden").get_attribute("value") == "10 10", 20, "the box's widths")
    wait_until(lambda: len(_heatmaps(plotly_data, dash_duo)) == 3, 90, "the linked run's three maps")
    assert dash_duo.get_logs() == []
