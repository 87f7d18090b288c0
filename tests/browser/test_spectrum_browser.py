"""The Chaos view's Lyapunov spectrum in a real browser: it shows the spectrum of the long run
whose settings are on screen, and a new eta gives a new spectrum drawn from the new record."""

from selenium.webdriver.support.ui import WebDriverWait

from dashboard.jobs import plans
from dashboard.state.rules import default_values


def _set(dash_duo, selector: str, text: str) -> None:
    box = dash_duo.find_element(selector)
    box.clear()
    box.send_keys(text + "\t")


def _spectrum_key(eta: float) -> str:
    """The record key the page's settings name (the link's steps and copies are replaced)."""
    config = plans.spectrum_config(default_values(), {"eta": eta, "steps": 1200})
    return plans.record_key("spectrum", config, f"k{plans.spectrum_k(config)}")


def test_the_chaos_view_shows_the_spectrum_of_the_run_on_screen(dash_duo, fresh_app, plotly_data):
    dash_duo.start_server(fresh_app)
    dash_duo.driver.get(dash_duo.server_url + "/?view=chaos&steps=300&perturbations=2")
    dash_duo.wait_for_element("#spectrum-run", timeout=60)
    _set(dash_duo, "#chaos-steps", "1200")
    _set(dash_duo, "#chaos-eta", "1")
    dash_duo.find_element("#spectrum-run").click()

    def drawn_for(key: str):
        def ready(_driver):
            figure = plotly_data("spectrum-graph")
            meta = (figure or {}).get("layout", {}).get("meta") or {}
            return figure if meta.get("record") == key else False

        return ready

    first_key = _spectrum_key(1.0)
    first = WebDriverWait(dash_duo.driver, 120).until(drawn_for(first_key))
    exponents = first["data"][0]["y"]
    assert len(exponents) == 83 and exponents == sorted(exponents, reverse=True)
    assert first["layout"]["meta"]["spectrum"] == {"eta": 1.0, "seed": 0, "k": 83}
    assert "η = 1," in first["layout"]["title"]["text"]
    dash_duo.wait_for_contains_text("#spectrum-summary", "of 83 are positive", timeout=60)
    assert "η = 1 (seed 0), over 1,200 iterations" in dash_duo.find_element("#spectrum-summary").text

    _set(dash_duo, "#chaos-eta", "2")
    dash_duo.find_element("#spectrum-run").click()
    second_key = _spectrum_key(2.0)
    assert second_key != first_key
    second = WebDriverWait(dash_duo.driver, 120).until(drawn_for(second_key))
    assert second["layout"]["meta"]["spectrum"]["eta"] == 2.0
    assert second["data"][0]["y"] != exponents  # a new spectrum, not the old one redrawn
    dash_duo.wait_for_contains_text("#spectrum-summary", "η = 2 (seed 0), over 1,200 iterations", timeout=60)
